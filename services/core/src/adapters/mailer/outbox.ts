import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import nodemailer from "nodemailer";
import type { MailMessage, Mailer } from "../../ports/index.ts";
import { toNodemailer } from "./smtp.ts";

// The Mailer for running Herald with no mail server at all: each email is built by nodemailer
// exactly as for SMTP and written to a folder, which the web lists at /outbox. Emails name
// their recipients and files: only the user Herald runs as may read them (files 0600,
// the folder 0700).

export type OutboxEntry = { messageId: string; to: string; subject: string; date: string; file: string };

export function createOutboxMailer(dir: string, from: string) {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send(message: MailMessage) {
      const info = await transport.sendMail({ ...toNodemailer(message), from });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const entry: OutboxEntry = {
        messageId: info.messageId,
        to: message.to,
        subject: message.subject,
        date: new Date().toISOString(),
        file: `${Date.now()}-${safeName(info.messageId)}.eml`,
      };
      await writeFile(join(dir, entry.file), info.message as Buffer, { mode: 0o600 });
      // The HTML and text as composed, beside the message: the web's outbox page shows them
      // rendered, without a MIME parser of its own.
      const parts = JSON.stringify({ html: message.html, text: message.text });
      await writeFile(join(dir, `${entry.file}.parts.json`), parts, { mode: 0o600 });
      await writeFile(join(dir, `${entry.file}.json`), JSON.stringify(entry), { mode: 0o600 });
      return { messageId: info.messageId };
    },
    /** Newest first. */
    async list(): Promise<OutboxEntry[]> {
      const names = await readdir(dir).catch(() => [] as string[]);
      const entries = await Promise.all(
        names.filter((n) => n.endsWith(".eml.json")).map(async (n) => JSON.parse(await readFile(join(dir, n), "utf8"))),
      );
      return entries.sort((a, b) => b.file.localeCompare(a.file));
    },
    async read(file: string): Promise<Buffer> {
      return readFile(join(dir, safeName(file)));
    },
    /** The email's HTML and text, as composed; null for one written before they were kept. */
    async parts(file: string): Promise<{ html: string; text: string } | null> {
      const raw = await readFile(join(dir, `${safeName(file)}.parts.json`), "utf8").catch(() => null);
      return raw === null ? null : (JSON.parse(raw) as { html: string; text: string });
    },
  } satisfies Mailer & Record<string, unknown>;
}

export type OutboxMailer = ReturnType<typeof createOutboxMailer>;

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._@-]/g, "_");
