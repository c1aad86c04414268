import { Router } from "express";
import type { OutboxMailer } from "@herald/core";

// The small web UI: static files (the page calls the same JSON API as any client, with the
// bearer token the user pastes) and, when mail goes to the local outbox, a page listing it.

const publicDir = new URL("../public/", import.meta.url).pathname;

export function uiRoutes({ outbox }: { outbox?: Pick<OutboxMailer, "list" | "read"> }) {
  const router = Router();
  const page = (_req: unknown, res: { sendFile: (p: string) => void }) => res.sendFile(`${publicDir}index.html`);
  router.get("/", page);
  router.get("/groups/:groupId/uploads/:uploadId", page);
  router.get("/ui.js", (_req, res) => res.sendFile(`${publicDir}ui.js`));

  if (outbox) {
    router.get("/outbox", async (_req, res) => {
      const rows = (await outbox.list())
        .map(
          (m) =>
            `<tr><td>${escapeHtml(m.date)}</td><td>${escapeHtml(m.to)}</td>` +
            `<td><a href="/outbox/${encodeURIComponent(m.file)}">${escapeHtml(m.subject)}</a></td></tr>`,
        )
        .join("\n");
      res
        .type("html")
        .send(
          `<!doctype html><meta charset="utf-8"><title>Herald outbox</title>` +
            `<h1>Outbox</h1><p>Mail Herald would have sent (no SMTP_URL is set).</p>` +
            `<table border="1" cellpadding="4"><tr><th>When</th><th>To</th><th>Subject</th></tr>${rows}</table>`,
        );
    });
    router.get("/outbox/:file", async (req, res) => {
      res.type("text/plain; charset=utf-8").send(await outbox.read(req.params.file));
    });
  }
  return router;
}

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
