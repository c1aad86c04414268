import { type Response, Router } from "express";
import { NotFoundError } from "@herald/core";
import type { OutboxMailer } from "@herald/core/adapters";
import { currentUser } from "./auth/index.ts";

/**
 * The local outbox (no SMTP_URL: development only, production refuses to start without one),
 * behind the API's authentication: each user reads the mail addressed to them, as they would
 * in their own mailbox. A file that is not theirs, or not there, is 404.
 */
export function outboxRoutes(outbox: Pick<OutboxMailer, "list" | "read">) {
  const router = Router();
  const mine = async (res: Response) => {
    const { email } = currentUser(res);
    return (await outbox.list()).filter((m) => m.to === email);
  };
  router.get("/outbox", async (_req, res) => {
    res.json({ items: await mine(res) });
  });
  router.get("/outbox/:file", async (req, res) => {
    const entry = (await mine(res)).find((m) => m.file === req.params.file);
    if (!entry) throw new NotFoundError("No such email in your outbox.");
    res.type("message/rfc822").send(await outbox.read(entry.file));
  });
  return router;
}
