import type { Notification } from "../domain/notification.ts";

/** The notifier's working record of one notification: the fold of its events, plus a lease. */
export type NotificationRecord = Omit<Notification, "queuedAt"> & {
  /** While status is "sending": until when the notifier that claimed it may still be at work. */
  leaseUntil: string | null;
};

/** What a write expects of the record already there. */
export type TableExpectation = { etag: string } | "absent" | "any";

export interface NotificationTable {
  get(notificationId: string): Promise<{ record: NotificationRecord; etag: string } | null>;
  /** Writes unless the expectation fails; false when another writer got there first. */
  put(record: NotificationRecord, expect: TableExpectation): Promise<boolean>;
}
