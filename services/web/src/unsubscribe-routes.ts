import express, { type Request, type Response, Router } from "express";
import {
  type Directory,
  type EventLog,
  HeraldError,
  type Logger,
  type Metrics,
  type ReadModels,
  TooManyRequestsError,
  verifyUnsubscribeToken,
} from "@herald/core";
import { recordPreferences } from "./preference-routes.ts";
import { createRateWindow } from "./rate-limits.ts";

// One-click unsubscribe (RFC 8058), outside /api and without sign-in: the token in the link
// (signed by the notifier, application/unsubscribe-token.ts) is the only credential, and it
// can do one thing: turn one group's mail off for one user.
// - POST /unsubscribe?token=… (what a mail client sends, with the body
//   List-Unsubscribe=One-Click; also the confirm page's form): records the preference "off"
//   for that user and group, and says so.
// - GET /unsubscribe?token=… shows a page with that form and changes nothing: mail scanners
//   and link previews follow GET links, and must not unsubscribe anyone.
// A malformed (400), forged or expired (403) token records nothing. Refused tokens count per
// client address like failed authentications: past the limit, 429 until the minute is out.

export function unsubscribeRoutes({
  log,
  directory,
  readModels,
  metrics,
  logger,
  secret,
  failuresPerMinute,
}: {
  log: EventLog;
  directory: Directory;
  readModels: ReadModels;
  metrics: Metrics;
  logger: Logger;
  /** HERALD_UNSUBSCRIBE_SECRET (or the development one): the notifier signs with the same. */
  secret: string;
  failuresPerMinute: number;
}) {
  const router = Router();
  const failures = createRateWindow(60_000);

  /** The token's user and group, or an error that records the failure against the client. */
  function verify(req: Request) {
    const client = req.ip ?? "unknown"; // the forwarded address behind a trusted proxy, as for sign-in
    const blockedFor = failures.blockedFor(client, failuresPerMinute);
    if (blockedFor > 0)
      throw new TooManyRequestsError(
        "Too many invalid unsubscribe links from this address; wait before trying again.",
        blockedFor,
      );
    const verified = verifyUnsubscribeToken(secret, req.query.token);
    if (verified.ok) return verified;
    failures.add(client);
    logger.warn({ reason: verified.reason, client }, "unsubscribe link refused");
    const status = verified.reason === "malformed" ? 400 : 403;
    throw new HeraldError(status, `unsubscribe-token-${verified.reason}`, "Invalid unsubscribe link", verified.detail);
  }

  const groupName = (groupId: string) => directory.group(groupId)?.name ?? groupId;

  router.get("/unsubscribe", (req, res) => {
    let claims;
    try {
      claims = verify(req);
    } catch (error) {
      if (!(error instanceof HeraldError) || error.status === 429) throw error;
      page(res, error.status, "This unsubscribe link does not work", `<p>${escapeHtml(error.message)}</p>`);
      return;
    }
    const action = `/unsubscribe?token=${encodeURIComponent(String(req.query.token))}`;
    page(
      res,
      200,
      "Stop emails about uploads?",
      `<p>You will get no more emails about uploads to <strong>${escapeHtml(groupName(claims.groupId))}</strong>.
You can turn them on again on Herald's website (your preferences).</p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`,
    );
  });

  router.post("/unsubscribe", express.urlencoded({ extended: false, limit: "1kb" }), async (req, res) => {
    const { userId, groupId } = verify(req);
    const changed = await recordPreferences(
      { log, readModels, metrics, logger },
      { type: "SetPreferences", userId, changes: [{ groupId, preference: "off" }], setBy: "unsubscribe-link" },
      res.locals.traceparent as string,
    );
    logger.info({ userId, groupId, changed: changed > 0 }, "unsubscribed by one-click link");
    page(
      res,
      200,
      "Unsubscribed",
      `<p>You will get no more emails about uploads to <strong>${escapeHtml(groupName(groupId))}</strong>.
You can turn them on again on Herald's website (your preferences).</p>`,
    );
  });

  return router;
}

function page(res: Response, status: number, title: string, body: string) {
  res
    .status(status)
    .type("html")
    .set("Cache-Control", "no-store")
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">` +
        `<title>${escapeHtml(title)}</title></head>\n<body><h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`,
    );
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
