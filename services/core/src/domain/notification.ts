import { ConflictError, NotFoundError } from "./errors.ts";
import type { EventMetadata, NotificationEvent } from "./events.ts";

// A notification as a decider: its state is a fold of its events (evolve), and every change
// to it is a command that decide() turns into events, or refuses with an error. Both are
// pure; the command handler (application/notification-commands.ts) reads the stream, folds,
// decides and appends at the revision it read. The request itself is decided with the upload
// (domain/upload.ts): it is in the upload's stream, in the same append as FileUploaded. A
// digest's request is decided by domain/digest.ts, in the digest's own stream; from there on a
// digest is a notification like any other.

export type NotificationStatus = "requested" | "sending" | "sent" | "retrying" | "failed" | "dead-lettered";

export type Notification = {
  notificationId: string;
  /** The upload it is about; "" for a digest, which is about the uploads its request lists. */
  uploadId: string;
  /** A digest's: its request is in digest-{digestId}. Absent for an upload's notification. */
  digestId?: string;
  groupId: string;
  recipientId: string;
  recipient: string;
  status: NotificationStatus;
  /** Number of send attempts started. */
  attempts: number;
  requestedAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  lastError: string | null;
};

/** Statuses nothing more happens in, unless an admin redrives the notification. */
const terminalStatuses: ReadonlySet<NotificationStatus> = new Set(["sent", "failed", "dead-lettered"]);
/** Statuses an admin may redrive from. */
export const redrivableStatuses: ReadonlySet<NotificationStatus> = new Set(["failed", "dead-lettered"]);

export const isFinal = (state: Notification) => terminalStatuses.has(state.status);

/**
 * Send attempts started since the notification was last redriven (or ever, if it never was):
 * what its retry budget is counted against. A queue counts deliveries instead, and a delivery
 * also fails for reasons that are not the email's (the notifier killed mid-send, its sidecar
 * unable to reach it), so a queue's giving up is not reason enough to give up on the email.
 */
export function attemptsSinceRedrive(events: Iterable<NotificationEvent>): number {
  let attempts = 0;
  for (const event of events) {
    if (event.type === "NotificationRedriven") attempts = 0;
    else if (event.type === "NotificationStarted") attempts += 1;
  }
  return attempts;
}

/** Any notification event that says when it happened: a RecordedEvent, or one built in a test. */
export type DatedNotificationEvent = NotificationEvent & { metadata: EventMetadata };

export function evolve(state: Notification | null, event: DatedNotificationEvent): Notification | null {
  const { occurredAt } = event.metadata;
  if (event.type === "NotificationRequested" || event.type === "DigestRequested") {
    const { notificationId, groupId, recipientId, recipient } = event.data;
    const about =
      event.type === "NotificationRequested"
        ? { uploadId: event.data.uploadId }
        : { uploadId: "", digestId: event.data.digestId };
    return {
      notificationId,
      ...about,
      groupId,
      recipientId,
      recipient,
      status: "requested",
      attempts: 0,
      requestedAt: occurredAt,
      queuedAt: null,
      startedAt: null,
      completedAt: null,
      lastError: null,
    };
  }
  // Lifecycle events without a request are ignored: there is nothing to attach them to.
  if (!state) return null;
  switch (event.type) {
    case "NotificationQueued":
      return { ...state, queuedAt: state.queuedAt ?? occurredAt };
    case "NotificationStarted":
      return {
        ...state,
        status: "sending",
        attempts: Math.max(state.attempts + 1, event.data.attempt),
        startedAt: state.startedAt ?? occurredAt,
      };
    case "NotificationSent":
      return { ...state, status: "sent", completedAt: occurredAt, lastError: null };
    case "NotificationRetryScheduled":
      return { ...state, status: "retrying", lastError: event.data.error };
    case "NotificationFailed":
      return { ...state, status: "failed", completedAt: occurredAt, lastError: event.data.error };
    case "NotificationDeadLettered":
      return { ...state, status: "dead-lettered", completedAt: occurredAt, lastError: event.data.reason };
    case "NotificationRedriven":
      return { ...state, status: "requested", completedAt: null };
  }
}

export function foldNotification(events: Iterable<DatedNotificationEvent>): Notification | null {
  let state: Notification | null = null;
  for (const event of events) state = evolve(state, event);
  return state;
}

// ---- commands ---------------------------------------------------------------------------

export type NotificationCommand =
  /** The relay handed it to the queue (or the stall watch again, saying why). */
  | { type: "Queue"; reason?: string }
  /** A delivery takes the next attempt. */
  | { type: "StartAttempt" }
  /** The mail server took the email. */
  | { type: "RecordSent"; attempt: number; messageId: string }
  /** The attempt failed in a way worth retrying (4xx, no answer). */
  | { type: "RecordRetry"; attempt: number; error: string }
  /** The mail server refused for good (5xx): no retry. */
  | { type: "RecordFailure"; attempt: number; error: string }
  /** The queue gave up on it (retries used up). */
  | { type: "DeadLetter"; reason: string }
  /** An admin asks for it to be sent again. */
  | { type: "Redrive"; by: string };

/** The notification is unknown: no NotificationRequested for it. */
export class NotificationNotFound extends NotFoundError {
  constructor(readonly notificationId: string) {
    super(`No notification ${notificationId}.`);
  }
}

/** An attempt was asked of a notification that is already sent, failed or dead-lettered. */
export class NotificationAlreadyFinal extends ConflictError {
  constructor(readonly state: Notification) {
    super(`Notification ${state.notificationId} is already ${state.status}.`);
  }
}

/** What a command makes of a known notification (an unknown one is the handler's NotificationNotFound). */
export function decide(command: NotificationCommand, state: Notification): NotificationEvent[] {
  const { notificationId } = state;
  switch (command.type) {
    case "Queue":
      return [
        { type: "NotificationQueued", data: { notificationId, ...(command.reason ? { reason: command.reason } : {}) } },
      ];
    case "StartAttempt":
      if (isFinal(state)) throw new NotificationAlreadyFinal(state);
      return [{ type: "NotificationStarted", data: { notificationId, attempt: state.attempts + 1 } }];
    // An outcome is a fact about an email that was (or was not) handed over: it is recorded
    // whatever happened meanwhile, so the audit trail never hides a send.
    case "RecordSent":
      return [
        { type: "NotificationSent", data: { notificationId, attempt: command.attempt, messageId: command.messageId } },
      ];
    case "RecordRetry":
      return [
        {
          type: "NotificationRetryScheduled",
          data: { notificationId, attempt: command.attempt, error: command.error },
        },
      ];
    case "RecordFailure":
      return [{ type: "NotificationFailed", data: { notificationId, attempt: command.attempt, error: command.error } }];
    case "DeadLetter":
      // It got there after all (a late success): nothing to give up on.
      if (isFinal(state)) return [];
      return [{ type: "NotificationDeadLettered", data: { notificationId, reason: command.reason } }];
    case "Redrive":
      if (!redrivableStatuses.has(state.status)) {
        throw new ConflictError(
          `Notification ${notificationId} is ${state.status}; only failed or dead-lettered ones can be redriven.`,
        );
      }
      return [
        {
          type: "NotificationRedriven",
          data: {
            notificationId,
            uploadId: state.uploadId,
            by: command.by,
            ...(state.digestId ? { digestId: state.digestId } : {}),
          },
        },
      ];
  }
}
