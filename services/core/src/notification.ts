import type { EventMetadata, NotificationEvent } from "./events.ts";

// A notification's current state is a fold of its events (NotificationRequested from the
// upload stream, then its own stream). The read model, the notifier's dedupe check and the
// API all use this one fold.

export type NotificationStatus = "requested" | "sending" | "sent" | "retrying" | "failed" | "dead-lettered";

export type Notification = {
  notificationId: string;
  uploadId: string;
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

export const terminalStatuses: ReadonlySet<NotificationStatus> = new Set(["sent", "failed", "dead-lettered"]);

/** Any notification event that says when it happened: a RecordedEvent, or one built in a test. */
export type DatedNotificationEvent = NotificationEvent & { metadata: EventMetadata };

export function evolve(state: Notification | null, event: DatedNotificationEvent): Notification | null {
  const { occurredAt } = event.metadata;
  if (event.type === "NotificationRequested") {
    return {
      ...event.data,
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
