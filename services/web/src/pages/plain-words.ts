import type { NotificationStatus, RecordedEvent } from "@herald/core";

// What the pages say about a notification, in words a group admin reads without knowing SMTP.
// The log keeps the mail server's own answer (`lastError`, an event's `error`); the page shows
// these words first and the answer beside them, for whoever needs it.

/** nodemailer's codes for "no conversation with the server" (as the SMTP adapter classifies them). */
const unreachable = /\b(ECONNECTION|ESOCKET|ETIMEDOUT|EDNS|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND)\b/;
/** Replies that refuse Herald's credentials rather than the message. */
const credentialsRefused = /\bEAUTH\b|^\S*\s*(530|534|535|538)\b/;

/** The mail server's answer (or Herald's reason for giving up) in plain words; null for none. */
export function errorInWords(error: string | null | undefined): string | null {
  if (!error) return null;
  // A dead letter's reason: "<why the queue gave up>, N send attempts; last error: <error>".
  const gaveUp = /(\d+) send attempts?(?:; last error: (.*))?$/s.exec(error);
  if (gaveUp) {
    const last = gaveUp[2] ? `; the last answer: ${errorInWords(gaveUp[2])}` : "";
    const attempts = gaveUp[1] === "1" ? "1 attempt" : `${gaveUp[1]} attempts`;
    return `Herald stopped trying after ${attempts}${last}`;
  }
  if (credentialsRefused.test(error))
    return "the mail server refused Herald's credentials; sending resumes when they are fixed";
  if (/\bETLS\b/.test(error))
    return "no secure connection to the mail server could be made; sending resumes when it can";
  const reply = /(?:^|\s)([245])\d\d(?=\s|$)/.exec(error);
  if (!reply && unreachable.test(error)) return "the mail server is unreachable; sending resumes when it answers";
  if (reply?.[1] === "4") return "the mail server asked to try later";
  if (reply?.[1] === "5") {
    return /recipient|no such user|mailbox|user unknown/i.test(error)
      ? "the mail server refused it: it does not accept mail for this address"
      : "the mail server refused it";
  }
  return error;
}

const statusWords: Record<NotificationStatus, string> = {
  requested: "waiting to be sent",
  sending: "being sent now",
  sent: "the mail server took it",
  retrying: "it did not get through yet; it will be tried again",
  failed: "the mail server refused it; redrive it once the cause is fixed",
  "dead-lettered": "Herald gave up on it; redrive it once the cause is fixed",
};

/** What a notification's status means, as a sentence fragment ("the mail server took it"). */
export const statusInWords = (status: NotificationStatus) => statusWords[status];

/** The trace id of a W3C traceparent (00-<trace id>-<span id>-<flags>), or null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent ?? "")?.[1] ?? null;
}

/** One step of a notification's story as the timeline shows it. */
export type TimelineStep = {
  at: string;
  /** The attempt this step belongs to, when it belongs to one. */
  attempt: number | null;
  what: string;
  /** What went wrong, in plain words, and the server's own answer. */
  error: { words: string; detail: string } | null;
  traceId: string | null;
};

/** An event of a notification's stream (or its request, from the upload's) as a timeline step. */
export function timelineStep(event: RecordedEvent, names: { userName: (id: string) => string }): TimelineStep {
  const step = (what: string, attempt: number | null = null, error: string | null = null): TimelineStep => ({
    at: event.metadata.occurredAt,
    attempt,
    what,
    error: error ? { words: errorInWords(error)!, detail: error } : null,
    traceId: traceIdOf(event.metadata.traceparent),
  });
  switch (event.type) {
    case "NotificationRequested":
      return step(`Requested: an email to ${event.data.recipient}`);
    case "NotificationQueued":
      return step(event.data.reason ? `Queued again: ${event.data.reason}` : "Queued for sending");
    case "NotificationStarted":
      return step(`Attempt ${event.data.attempt} started`, event.data.attempt);
    case "NotificationSent":
      return step(`Attempt ${event.data.attempt}: sent; the mail server took it`, event.data.attempt);
    case "NotificationRetryScheduled":
      return step(
        `Attempt ${event.data.attempt} did not get through; it will be tried again`,
        event.data.attempt,
        event.data.error,
      );
    case "NotificationFailed":
      return step(`Attempt ${event.data.attempt} failed for good`, event.data.attempt, event.data.error);
    case "NotificationDeadLettered":
      return step("Dead-lettered: Herald gave up on it", null, event.data.reason);
    case "NotificationRedriven":
      return step(`Redriven by ${names.userName(event.data.by)}: it will be sent again`);
    default:
      return step(event.type);
  }
}
