import type { ErrorRequestHandler, Request, RequestHandler } from "express";
import { BadRequestError, HeraldError, type Logger, NotFoundError, TooManyRequestsError } from "@herald/core";

// The one place errors become HTTP answers: application/problem+json (RFC 9457) with a
// stable `type`. Handlers throw; they never format errors themselves.

export const unknownRoute: RequestHandler = (req) => {
  throw new NotFoundError(`No route for ${req.method} ${req.path}.`);
};

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return async (error, req, res, _next) => {
    const known = error instanceof HeraldError ? error : fromExpress(error);
    if (!known) logger.error({ err: error }, "unhandled error");
    const status = known?.status ?? 500;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 401 || status === 403) {
      // Who was refused and why, never the token: a guesser shows up in the logs.
      logger.warn({ status, reason: known?.message, path: req.path, client: req.ip }, "request refused");
    }
    // Answered before its body was read (or cut off): the connection is not kept for it.
    if (!req.complete || status === 408 || status === 503) {
      res.set("Connection", "close");
      await dropUnreadBody(req, status);
      if (res.destroyed) return;
    }
    if (known instanceof TooManyRequestsError) res.set("Retry-After", String(known.retryAfterSeconds));
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

/** How long a refused body is still read (and dropped) before the connection is closed. */
const lingerMs = 5000;

/**
 * A request refused before its body was read (no token, too large, no such group) is answered
 * with Connection: close, so nobody keeps a connection by trickling a body we will not use
 * (Node would otherwise read it until its request timeout). But closing a socket the client is
 * still writing to resets it, and the client sees a reset instead of its answer; so the rest of
 * the body is read and dropped first, for at most lingerMs, then the answer goes. A stalled
 * body (408) has nothing more to read: it is answered at once.
 */
function dropUnreadBody(req: Request, status: number): Promise<void> {
  if (req.complete || status === 408) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => done(), lingerMs);
    const finished = () => {
      clearTimeout(timer);
      done();
    };
    req.once("end", finished);
    req.once("close", finished);
    req.resume();
  });
}

/**
 * Errors raised by express itself: a path whose percent-encoding does not decode (the router
 * throws a URIError while matching a route's parameters), or a client error with a status that
 * may be shown (e.g. a body parser); keep its status. The URIError's own message is not shown:
 * the path is in `instance` already.
 */
export function fromExpress(error: unknown): HeraldError | null {
  if (error instanceof URIError) {
    return new BadRequestError(
      "The path is not valid percent-encoding: each % must be followed by two hex digits of UTF-8.",
    );
  }
  const e = error as { status?: number; message?: string; expose?: boolean };
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500 && e.expose) {
    return new HeraldError(e.status, "bad-request", "Bad request", e.message);
  }
  return null;
}
