import nodemailer from "nodemailer";
import { MailError, type MailMessage, type Mailer } from "../../ports/index.ts";

// The Mailer for a real SMTP server (SMTP_URL), through nodemailer.

export type SmtpMailerOptions = {
  /** SMTP connections kept open and sent over (HERALD_SMTP_MAX_CONNECTIONS). */
  maxConnections?: number;
  /**
   * Lets the credentials of an smtp:// URL go in clear to a server that offers no STARTTLS
   * (HERALD_SMTP_ALLOW_PLAINTEXT_AUTH): for a local relay on a trusted network only.
   */
  allowPlaintextAuth?: boolean;
};

export function createSmtpMailer(
  smtpUrl: string,
  from: string,
  { maxConnections = 10, allowPlaintextAuth = false }: SmtpMailerOptions = {},
): Mailer {
  // Credentials over smtp:// go only inside STARTTLS: a server that does not offer it (or
  // someone on the path who strips it from the server's greeting) gets no password, and the
  // send fails instead. smtps:// is TLS from the first byte; without credentials there is no
  // password to leak, and STARTTLS stays opportunistic.
  const url = new URL(smtpUrl);
  const carriesCredentials = url.username !== "" || url.password !== "";
  const requireTLS = carriesCredentials && url.protocol === "smtp:" && !allowPlaintextAuth;
  const transport = nodemailer.createTransport(
    {
      url: smtpUrl,
      requireTLS,
      // Connections are kept and reused: a new one per email (TCP, greeting, STARTTLS, AUTH)
      // costs more than the email itself. Sends beyond maxConnections wait for a free one.
      pool: true,
      maxConnections,
      maxMessages: 1000,
      // Bounded, so one send never outlives the notifier's lease on it (HERALD_SEND_LEASE_MS)
      // nor the broker's processing timeout: a hung server is an error to retry, not a hang.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    },
    { from },
  );
  const classify = (error: unknown) => classifySmtpError(error, { requireTLS });
  return {
    async send(message) {
      try {
        const info = await transport.sendMail(toNodemailer(message));
        return { messageId: info.messageId };
      } catch (error) {
        throw classify(error);
      }
    },
    async close() {
      transport.close();
    },
    // nodemailer's verify() connects, greets, upgrades to TLS as a send would, and logs in
    // when the URL carries credentials: the probe that brings the mail server back after a
    // refusal of our credentials checks them too. It sends no mail.
    async verify() {
      try {
        await transport.verify();
      } catch (error) {
        throw classify(error);
      }
    },
  };
}

/** nodemailer's codes for "no conversation with a server": refused, dropped, timed out, no DNS. */
const unreachableCodes = new Set(["ECONNECTION", "ESOCKET", "ETIMEDOUT", "EDNS"]);

/**
 * Replies that refuse us, not the message, whatever command they answer: authentication
 * required (530), mechanism too weak (534), credentials invalid (535), encryption required
 * for the mechanism (538).
 */
const credentialRefusals = new Set([530, 534, 535, 538]);

const plaintextAuthRefused =
  "the SMTP server offers no STARTTLS; refusing to send credentials in clear " +
  "(set HERALD_SMTP_ALLOW_PLAINTEXT_AUTH=true for a trusted local relay)";

/**
 * An outage is a server that takes no mail from us at all, so that every other message would
 * fail the same way: no server answered (refused, dropped, timed out, no DNS), it refused our
 * credentials (nodemailer's EAUTH, or one of the replies above), or no TLS could be set up
 * with it (ETLS: STARTTLS refused, or a failed handshake). Of the rest, 5xx answers and
 * refused recipients are permanent: the same message will be refused again. Everything else
 * (4xx) is worth retrying.
 */
function classifySmtpError(error: unknown, { requireTLS }: { requireTLS: boolean }): MailError {
  const e = error as { message?: string; responseCode?: number; code?: string };
  const answered = typeof e.responseCode === "number";
  const unreachable = !answered && unreachableCodes.has(e.code ?? "");
  const credentialsRefused = e.code === "EAUTH" || (answered && credentialRefusals.has(e.responseCode!));
  const noTls = e.code === "ETLS";
  const outage = unreachable || credentialsRefused || noTls;
  const permanent = !outage && answered && e.responseCode! >= 500 && e.responseCode! < 600;
  const detail = [e.code, e.responseCode, e.message].filter(Boolean).join(" ") || "unknown SMTP error";
  // The server answered our STARTTLS with a refusal: say why we asked, and what allows going on without it.
  const message = requireTLS && noTls && answered ? `${plaintextAuthRefused}: ${detail}` : detail;
  return new MailError(message, permanent, { cause: error, outage });
}

/** One way to turn a MailMessage into nodemailer's, for both mailers. */
export function toNodemailer(message: MailMessage) {
  return {
    to: message.to,
    subject: message.subject,
    html: message.html,
    text: message.text,
    messageId: message.messageId,
    // nodemailer's `list` writes List-Unsubscribe as `<url>` and never breaks the URL across
    // lines; it has no option for RFC 8058's List-Unsubscribe-Post, which is a plain header.
    ...(message.unsubscribeUrl
      ? {
          list: { unsubscribe: message.unsubscribeUrl },
          headers: { ...message.headers, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
        }
      : { headers: message.headers }),
  };
}
