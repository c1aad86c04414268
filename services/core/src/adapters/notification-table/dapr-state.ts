import type { DaprClient } from "@dapr/dapr";
import type { NotificationRecord, NotificationTable } from "../../ports/index.ts";
import { readEntry, writeEntry } from "../dapr-conditional-state.ts";

/**
 * The notification table in a Dapr state store, each row written with first-write
 * concurrency (dapr-conditional-state.ts): a write with a stale ETag (or a create of a key
 * that exists) is refused by the store rather than overwriting.
 */
export function createDaprNotificationTable(client: DaprClient, store: string): NotificationTable {
  const key = (id: string) => `notification-${id}`;

  async function get(notificationId: string) {
    const entry = await readEntry<NotificationRecord>(client, store, key(notificationId));
    return entry && { record: entry.value, etag: entry.etag };
  }

  const write = (record: NotificationRecord, expect: { etag: string } | "absent") =>
    writeEntry(client, store, key(record.notificationId), record, expect);

  return {
    get,
    async put(record, expect) {
      if (expect !== "any") return write(record, expect);
      // A key once written first-write takes only writes that name its ETag: state.redis
      // refuses others, even last-write ones (tried: the row stays as it was). So "any" is
      // read-then-write, again if someone slipped in between.
      for (let tries = 0; tries < 5; tries++) {
        const current = await get(record.notificationId);
        if (await write(record, current ? { etag: current.etag } : "absent")) return true;
      }
      return false;
    },
  };
}
