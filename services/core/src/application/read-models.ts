import {
  type FileUploaded,
  isNotificationEvent,
  type NotificationPreferenceSet,
  type RecordedEvent,
} from "../domain/events.ts";
import { evolve, isFinal, type Notification } from "../domain/notification.ts";
import { defaultPreferences, effectivePreference, evolvePreferences, type Preferences } from "../domain/preferences.ts";
import { notificationMessage, type NotificationMessage } from "../domain/queue-message.ts";

// The read models the API answers from: uploads per group and the notification table. They
// are folds of the whole log, kept in memory and rebuilt by replaying it at start (the log
// is the source of truth; a read model is never written to directly). Applying an event
// twice is harmless: events at or before the last applied position are skipped.

/** An upload as the API shows it: its FileUploaded, when, and whom it notifies. */
export type UploadView = Omit<FileUploaded["data"], "blobKey"> & {
  uploadedAt: string;
  notifications: Array<{ notificationId: string; recipient: string }>;
};

/** A user's preferences, and every change to them, oldest first. */
export type PreferencesView = {
  state: Preferences;
  history: Array<NotificationPreferenceSet["data"] & { at: string }>;
};

/**
 * Where a notification's events are (its request sits in the upload stream), and when and what
 * its last event was: what the stall watch looks at.
 */
type NotificationEntry = {
  state: Notification;
  requestPosition: bigint;
  traceparent?: string;
  lastEventAt: number;
  lastEventType: string;
};

/** An unfinished notification nothing has been recorded for since `quietSince`. */
export type StalledNotification = { message: NotificationMessage; lastEvent: string; quietForMs: number };

export function createReadModels() {
  const uploads = new Map<string, UploadView & { blobKey: string }>();
  const uploadIdsByGroup = new Map<string, string[]>();
  const bytesByGroup = new Map<string, number>();
  const notifications = new Map<string, NotificationEntry>();
  const notificationIdsByGroup = new Map<string, string[]>();
  /** Ids of notifications that are not final: the few the stall watch scans. */
  const unfinishedIds = new Set<string>();
  const revokedTokenHashes = new Set<string>();
  const preferences = new Map<string, PreferencesView>();
  let position: bigint | null = null;
  const positionWaiters = new Set<{ upTo: bigint; resolve: () => void }>();

  const push = (index: Map<string, string[]>, key: string, id: string) => {
    const ids = index.get(key);
    if (ids) ids.push(id);
    else index.set(key, [id]);
  };

  return {
    apply(event: RecordedEvent) {
      if (position !== null && event.position <= position) return;
      position = event.position;
      for (const waiter of positionWaiters) {
        if (waiter.upTo <= event.position) {
          positionWaiters.delete(waiter);
          waiter.resolve();
        }
      }
      if (event.type === "TokenRevoked") {
        revokedTokenHashes.add(event.data.tokenHash);
        return;
      }
      if (event.type === "NotificationPreferenceSet") {
        const view = preferences.get(event.data.userId) ?? { state: defaultPreferences, history: [] };
        view.state = evolvePreferences(view.state, event);
        view.history.push({ ...event.data, at: event.metadata.occurredAt });
        preferences.set(event.data.userId, view);
        return;
      }
      if (event.type === "FileUploaded") {
        uploads.set(event.data.uploadId, { ...event.data, uploadedAt: event.metadata.occurredAt, notifications: [] });
        push(uploadIdsByGroup, event.data.groupId, event.data.uploadId);
        bytesByGroup.set(event.data.groupId, (bytesByGroup.get(event.data.groupId) ?? 0) + event.data.size);
        return;
      }
      if (!isNotificationEvent(event)) return; // not ours (e.g. a checkpoint or group event)
      const { notificationId } = event.data;
      const entry = notifications.get(notificationId);
      const state = evolve(entry?.state ?? null, event);
      if (!state) return;
      const lastEventAt = Date.parse(event.metadata.occurredAt);
      if (event.type === "NotificationRequested" || event.type === "DigestRequested") {
        notifications.set(notificationId, {
          state,
          requestPosition: event.position,
          traceparent: event.metadata.traceparent,
          lastEventAt,
          lastEventType: event.type,
        });
        push(notificationIdsByGroup, state.groupId, notificationId);
        uploads.get(state.uploadId)?.notifications.push({ notificationId, recipient: state.recipient });
      } else if (entry) {
        Object.assign(entry, { state, lastEventAt, lastEventType: event.type });
      }
      if (isFinal(state)) unfinishedIds.delete(notificationId);
      else unfinishedIds.add(notificationId);
    },
    /**
     * Resolves once the event at `upTo` has been applied (read your own write), or rejects
     * after timeoutMs.
     */
    applied(upTo: bigint, timeoutMs = 5000): Promise<void> {
      if (position !== null && position >= upTo) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const waiter = {
          upTo,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          positionWaiters.delete(waiter);
          reject(new Error(`read models did not reach position ${upTo} within ${timeoutMs} ms`));
        }, timeoutMs);
        positionWaiters.add(waiter);
      });
    },
    isTokenRevoked: (hash: string) => revokedTokenHashes.has(hash),
    /** The user's preferences and their history (the defaults, no history, for a user who set none). */
    preferencesOf: (userId: string): PreferencesView =>
      preferences.get(userId) ?? { state: defaultPreferences, history: [] },
    /** How the user hears about the group's uploads, as far as this instance has read the log. */
    notificationPreference: (userId: string, groupId: string) =>
      effectivePreference(preferences.get(userId)?.state ?? defaultPreferences, groupId),
    upload: (uploadId: string) => uploads.get(uploadId),
    uploadsOfGroup: (groupId: string) => (uploadIdsByGroup.get(groupId) ?? []).map((id) => uploads.get(id)!),
    /** The sum of the sizes of the group's recorded uploads (what its storage quota counts). */
    bytesOfGroup: (groupId: string) => bytesByGroup.get(groupId) ?? 0,
    notification: (notificationId: string) => notifications.get(notificationId)?.state,
    notificationsOfGroup: (groupId: string) =>
      (notificationIdsByGroup.get(groupId) ?? []).map((id) => notifications.get(id)!.state),
    allNotifications: () => [...notifications.values()].map((e) => e.state),
    uploadCount: () => uploads.size,
    /**
     * A queue message for every notification requested at or before `upTo` that has not
     * reached a final state: what an in-memory queue lost when its process stopped.
     */
    unfinished(upTo: bigint): NotificationMessage[] {
      return [...unfinishedIds]
        .map((id) => notifications.get(id)!)
        .filter((e) => e.requestPosition <= upTo)
        .map(({ state, traceparent }) => notificationMessage({ ...state, traceparent }));
    },
    /**
     * Unfinished notifications the relay has queued (their last event is not a request or a
     * redrive, which are the relay's to queue) and nothing was recorded for since
     * `quietSince` (ms): the longest quiet first, at most `limit`.
     */
    stalled(quietSince: number, limit: number): StalledNotification[] {
      const relayed = (e: NotificationEntry) =>
        e.lastEventType !== "NotificationRequested" &&
        e.lastEventType !== "DigestRequested" &&
        e.lastEventType !== "NotificationRedriven";
      const now = Date.now();
      return [...unfinishedIds]
        .map((id) => notifications.get(id)!)
        .filter((e) => e.lastEventAt < quietSince && relayed(e))
        .sort((a, b) => a.lastEventAt - b.lastEventAt)
        .slice(0, limit)
        .map(({ state, traceparent, lastEventAt, lastEventType }) => ({
          message: notificationMessage({ ...state, traceparent }),
          lastEvent: lastEventType,
          quietForMs: now - lastEventAt,
        }));
    },
  };
}

export type ReadModels = ReturnType<typeof createReadModels>;
