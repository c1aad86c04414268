import type { ErrorRequestHandler, RequestHandler } from "express";
import { HeraldError, NotFoundError, type Logger } from "@herald/core";

// The one place errors become HTTP answers: application/problem+json (RFC 9457) with a
// stable `type`. Handlers throw; they never format errors themselves.

export const unknownRoute: RequestHandler = (req) => {
  throw new NotFoundError(`No route for ${req.method} ${req.path}.`);
};

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const known = error instanceof HeraldError ? error : fromExpress(error);
    if (!known) logger.error({ err: error }, "unhandled error");
    const status = known?.status ?? 500;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // The rest of a cut-off body is not read: close rather than leave it in the connection.
    if (status === 408 || status === 413 || status === 503) res.set("Connection", "close");
    res
      .status(status)
      .type("application/problem+json")
      .json({
        type: known?.type ?? "urn:herald:problem:internal",
        title: known?.title ?? "Internal server error",
        status,
        detail: known?.message ?? "Something went wrong on our side; it has been logged.",
        instance: req.originalUrl,
      });
  };
}

/** Errors raised by express itself (e.g. a body parser) carry a status; keep it. */
function fromExpress(error: unknown): HeraldError | null {
  const e = error as { status?: number; message?: string; expose?: boolean };
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500 && e.expose) {
    return new HeraldError(e.status, "bad-request", "Bad request", e.message);
  }
  return null;
}
