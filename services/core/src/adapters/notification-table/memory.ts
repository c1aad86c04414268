import type { NotificationRecord, NotificationTable } from "../../ports/index.ts";

/** The notification table in embedded mode: a map with version numbers as ETags. */
export function createMemoryNotificationTable(): NotificationTable {
  const rows = new Map<string, { record: NotificationRecord; etag: string }>();
  let version = 0;
  return {
    async get(id) {
      const row = rows.get(id);
      return row ? { record: { ...row.record }, etag: row.etag } : null;
    },
    async put(record, expect) {
      const current = rows.get(record.notificationId);
      if (expect === "absent" && current) return false;
      if (typeof expect === "object" && current?.etag !== expect.etag) return false;
      rows.set(record.notificationId, { record: { ...record }, etag: String(++version) });
      return true;
    },
  };
}
