// The audit vocabulary. Events are plain typed data: ids and facts, never file contents.
// Streams:
//   upload-{uploadId}              FileUploaded + one NotificationRequested per admin, in ONE append
//   notification-{notificationId}  everything after the request (queued, started, sent, ...)
//   user-{userId}                  TokenRevoked
//   preferences-{userId}           NotificationPreferenceSet (how a user hears about uploads)
//   digest-{digestId}              DigestRequested: one admin's digest of one group's uploads for one
//                                  window; digestId names (admin, group, window end), and the append
//                                  expects no stream, so a window is requested once whoever asks
//   dead-letters                   MessageDeadLettered (queue messages naming no notification)
// A notification's lifecycle gets its own stream so that each notification has its own
// expected revision: two deliveries of the same message race on that revision and only one
// wins, and the admins of one upload never contend with each other.

export type FileUploaded = {
  type: "FileUploaded";
  data: {
    uploadId: string;
    groupId: string;
    uploaderId: string;
    filename: string;
    contentType: string;
    size: number;
    sha256: string;
    blobKey: string;
  };
};

export type NotificationRequested = {
  type: "NotificationRequested";
  data: { notificationId: string; uploadId: string; groupId: string; recipientId: string; recipient: string };
};

export type NotificationQueued = {
  type: "NotificationQueued";
  /** reason: why it was queued again, when it was (see application/stall-watch.ts). */
  data: { notificationId: string; reason?: string };
};

export type NotificationStarted = {
  type: "NotificationStarted";
  data: { notificationId: string; attempt: number };
};

export type NotificationSent = {
  type: "NotificationSent";
  data: { notificationId: string; attempt: number; messageId: string };
};

export type NotificationRetryScheduled = {
  type: "NotificationRetryScheduled";
  data: { notificationId: string; attempt: number; error: string };
};

export type NotificationFailed = {
  type: "NotificationFailed";
  data: { notificationId: string; attempt: number; error: string };
};

export type NotificationDeadLettered = {
  type: "NotificationDeadLettered";
  data: { notificationId: string; reason: string };
};

export type NotificationRedriven = {
  type: "NotificationRedriven";
  /** A digest's: uploadId "" and digestId (absent from upload notifications' and older events). */
  data: { notificationId: string; uploadId: string; by: string; digestId?: string };
};

/**
 * A digest: one email to one admin listing the group's uploads recorded in the window
 * (windowStart, windowEnd] (ISO instants), those that did not notify them one by one. It is a
 * notification of its own kind: its lifecycle (queued, started, sent, ...) is in
 * notification-{notificationId} like any other, so the relay, the notifier, retries, dead
 * letters and redrive carry it as they carry an upload's. Recorded only for a window with
 * uploads. timeZone: the admin's, for the times shown in the email.
 */
export type DigestRequested = {
  type: "DigestRequested";
  data: {
    notificationId: string;
    digestId: string;
    groupId: string;
    recipientId: string;
    recipient: string;
    timeZone: string;
    windowStart: string;
    windowEnd: string;
    uploadIds: string[];
  };
};

export type NotificationEvent =
  | NotificationRequested
  | DigestRequested
  | NotificationQueued
  | NotificationStarted
  | NotificationSent
  | NotificationRetryScheduled
  | NotificationFailed
  | NotificationDeadLettered
  | NotificationRedriven;

/**
 * A bearer token that is no longer accepted, from now on and after every restart (the web
 * folds these into its read models). Only the token's hash is recorded, never the token.
 */
export type TokenRevoked = {
  type: "TokenRevoked";
  data: { userId: string; tokenHash: string; revokedBy: string; reason: string };
};

/** A daily digest: at `time` (HH:MM, 24-hour) on the clock of the IANA `timeZone`. */
export type DigestSchedule = { time: string; timeZone: string };

/**
 * How an admin hears about a group's uploads: an email per upload, one email a day listing
 * them (a digest), or nothing. (Events recorded before digests existed hold only the strings.)
 */
export type NotificationPreference = "immediate" | "off" | { digest: DigestSchedule };

/**
 * A user chose how they hear about uploads: for one group, or (groupId null) for every group
 * without a choice of its own. "default" (groups only) drops the group's own choice: it follows
 * the user's default again. setBy: the user through the API, or the one-click unsubscribe link
 * of an email (which proves only that its holder received that email).
 */
export type NotificationPreferenceSet = {
  type: "NotificationPreferenceSet";
  data: {
    userId: string;
    groupId: string | null;
    preference: NotificationPreference | "default";
    setBy: "user" | "unsubscribe-link";
  };
};

/**
 * A queue message the notifier cannot act on: not JSON, an unknown version, or a notification
 * the log does not know. Dropped from the queue (to the dead-letter topic or poison queue), and
 * kept here with the reason and the message as received (its first 4 KiB).
 */
export type MessageDeadLettered = {
  type: "MessageDeadLettered";
  data: { reason: string; message: string; truncated: boolean };
};

export type HeraldEvent =
  FileUploaded | NotificationEvent | TokenRevoked | NotificationPreferenceSet | MessageDeadLettered;

export type EventMetadata = { occurredAt: string; traceparent?: string };

/** An event as it was stored: where it sits in its stream and in the whole log. */
export type RecordedEvent<E extends HeraldEvent = HeraldEvent> = E & {
  streamName: string;
  /** 0-based revision within its stream. */
  revision: bigint;
  /** Global, strictly increasing position in the log. */
  position: bigint;
  metadata: EventMetadata;
};

export const uploadStream = (uploadId: string) => `upload-${uploadId}`;
export const notificationStream = (notificationId: string) => `notification-${notificationId}`;
/** Queue messages that name no notification Herald can act on. */
export const deadLetterStream = "dead-letters";
/** A user's own events (token revocations). */
export const userStream = (userId: string) => `user-${userId}`;
/** A user's notification preferences (NotificationPreferenceSet). */
export const preferencesStream = (userId: string) => `preferences-${userId}`;
/** One digest's request (DigestRequested). */
export const digestStream = (digestId: string) => `digest-${digestId}`;

const notificationEventTypes: ReadonlySet<string> = new Set<NotificationEvent["type"]>([
  "NotificationRequested",
  "DigestRequested",
  "NotificationQueued",
  "NotificationStarted",
  "NotificationSent",
  "NotificationRetryScheduled",
  "NotificationFailed",
  "NotificationDeadLettered",
  "NotificationRedriven",
]);

export function isNotificationEvent(event: { type: string }): event is NotificationEvent {
  return notificationEventTypes.has(event.type);
}
