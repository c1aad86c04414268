export type MailMessage = {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Stable per notification, so a receiving system can recognise a resend. */
  messageId: string;
  headers?: Record<string, string>;
  /**
   * The one-click unsubscribe URL (https, RFC 8058): sent as `List-Unsubscribe: <url>` with
   * `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
   */
  unsubscribeUrl?: string;
};

export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
  /**
   * Checks that the mail server would take mail from us, without sending anything: it
   * connects and greets, and with credentials it authenticates.
   */
  verify?(): Promise<void>;
  /** Closes the connections it keeps (a pooled SMTP transport). */
  close?(): Promise<void>;
}

/**
 * Raised by a Mailer. permanent: the server refused this message for good (5xx, bad address);
 * retrying it is useless. outage: the mail server takes no mail from us at all: none answered
 * (refused, timed out, dropped), or it refuses our credentials, or it cannot protect them. The
 * fault is the server's or our configuration's, not the message's: every other message would
 * fail the same way, so the notifier pauses instead of spending their attempts.
 */
export class MailError extends Error {
  readonly outage: boolean;
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown; outage?: boolean },
  ) {
    super(message, options);
    this.name = "MailError";
    this.outage = options?.outage ?? false;
  }
}
