import { isNotificationEvent, type RecordedEvent } from "./events.ts";
import { evolve, type Notification } from "./notification.ts";

// The read models the API answers from: uploads per group and the notification table. They
// are folds of the whole log, kept in memory and rebuilt by replaying it at start (the log
// is the source of truth; a read model is never written to directly). Applying an event
// twice is harmless: events at or before the last applied position are skipped.

export type UploadView = {
  uploadId: string;
  groupId: string;
  uploaderId: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  uploadedAt: string;
  notifications: Array<{ notificationId: string; recipient: string }>;
};

/** Where a notification's events are: its request sits in the upload stream. */
type NotificationEntry = { state: Notification; requestPosition: bigint };

export function createReadModels() {
  const uploads = new Map<string, UploadView & { blobKey: string }>();
  const uploadIdsByGroup = new Map<string, string[]>();
  const notifications = new Map<string, NotificationEntry>();
  const notificationIdsByGroup = new Map<string, string[]>();
  const revokedTokenHashes = new Set<string>();
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
      if (event.type === "FileUploaded") {
        uploads.set(event.data.uploadId, { ...event.data, uploadedAt: event.metadata.occurredAt, notifications: [] });
        push(uploadIdsByGroup, event.data.groupId, event.data.uploadId);
        return;
      }
      if (!isNotificationEvent(event)) return; // not ours (e.g. a checkpoint or group event)
      const { notificationId } = event.data;
      const entry = notifications.get(notificationId);
      const state = evolve(entry?.state ?? null, event);
      if (!state) return;
      if (event.type === "NotificationRequested") {
        notifications.set(notificationId, { state, requestPosition: event.position });
        push(notificationIdsByGroup, state.groupId, notificationId);
        uploads.get(state.uploadId)?.notifications.push({ notificationId, recipient: state.recipient });
      } else if (entry) {
        entry.state = state;
      }
    },
    /** The last position applied; null before the first event. */
    position: () => position,
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
    upload: (uploadId: string) => uploads.get(uploadId),
    uploadsOfGroup: (groupId: string) => (uploadIdsByGroup.get(groupId) ?? []).map((id) => uploads.get(id)!),
    notification: (notificationId: string) => notifications.get(notificationId)?.state,
    notificationsOfGroup: (groupId: string) =>
      (notificationIdsByGroup.get(groupId) ?? []).map((id) => notifications.get(id)!.state),
    allNotifications: () => [...notifications.values()].map((e) => e.state),
    uploadCount: () => uploads.size,
    /** Notifications requested at or before `position` that have not reached a final state. */
    unfinished(upTo: bigint): Notification[] {
      return [...notifications.values()]
        .filter((e) => e.requestPosition <= upTo && !["sent", "failed", "dead-lettered"].includes(e.state.status))
        .map((e) => e.state);
    },
  };
}

export type ReadModels = ReturnType<typeof createReadModels>;
