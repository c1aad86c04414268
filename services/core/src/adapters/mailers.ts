import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { MailError, type MailMessage, type Mailer } from "../ports.ts";

// Two Mailers: a real SMTP server (SMTP_URL), or a local outbox folder that the web lists at
// /outbox, for running Herald with no mail server at all. Both build the message with
// nodemailer, so headers are encoded the same way.

export function createSmtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(
    {
      url: smtpUrl,
      // Bounded, so one send never outlives the notifier's lease on it (HERALD_SEND_LEASE_MS)
      // nor the broker's processing timeout: a hung server is an error to retry, not a hang.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    },
    { from },
  );
  return {
    async send(message) {
      try {
        const info = await transport.sendMail(toNodemailer(message));
        return { messageId: info.messageId };
      } catch (error) {
        throw classifySmtpError(error);
      }
    },
    async verify() {
      try {
        await transport.verify();
      } catch (error) {
        throw classifySmtpError(error);
      }
    },
  };
}

/** nodemailer's codes for "no conversation with a server": refused, dropped, timed out, no DNS. */
const unreachableCodes = new Set(["ECONNECTION", "ESOCKET", "ETIMEDOUT", "EDNS"]);

/**
 * 5xx answers and refused recipients are permanent: the same message will be refused again.
 * Everything else (connection refused or dropped, timeouts, 4xx) is worth retrying; of those,
 * the ones where no server answered at all are marked unreachable.
 */
export function classifySmtpError(error: unknown): MailError {
  const e = error as { message?: string; responseCode?: number; code?: string };
  const answered = typeof e.responseCode === "number";
  const permanent = answered && e.responseCode! >= 500 && e.responseCode! < 600;
  const unreachable = !answered && unreachableCodes.has(e.code ?? "");
  const detail = [e.code, e.responseCode, e.message].filter(Boolean).join(" ");
  return new MailError(detail || "unknown SMTP error", permanent, { cause: error, unreachable });
}

export type OutboxEntry = { messageId: string; to: string; subject: string; date: string; file: string };

export function createOutboxMailer(dir: string, from: string) {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send(message: MailMessage) {
      const info = await transport.sendMail({ ...toNodemailer(message), from });
      await mkdir(dir, { recursive: true });
      const entry: OutboxEntry = {
        messageId: info.messageId,
        to: message.to,
        subject: message.subject,
        date: new Date().toISOString(),
        file: `${Date.now()}-${safeName(info.messageId)}.eml`,
      };
      await writeFile(join(dir, entry.file), info.message as Buffer);
      await writeFile(join(dir, `${entry.file}.json`), JSON.stringify(entry));
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
  } satisfies Mailer & Record<string, unknown>;
}

export type OutboxMailer = ReturnType<typeof createOutboxMailer>;

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._@-]/g, "_");

function toNodemailer(message: MailMessage) {
  return {
    to: message.to,
    subject: message.subject,
    html: message.html,
    text: message.text,
    messageId: message.messageId,
    headers: message.headers,
  };
}
