import { CommunicationProtocolEnum, DaprClient, StateConcurrencyEnum, StateConsistencyEnum } from "@dapr/dapr";
import { UnavailableError } from "../errors.ts";
import type { NotificationMessage, NotificationRecord, NotificationTable, WorkQueue } from "../ports.ts";

// Dapr adapters: the queue (pub/sub topic or output binding) and the notification table
// (state store), through the sidecar's HTTP API with the JS SDK. The SDK reports some
// failures as a returned `{ error }` instead of throwing; every call here checks.

export function createDaprClient(daprHost: string, daprPort: number): DaprClient {
  return new DaprClient({
    daprHost,
    daprPort: String(daprPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    // DAPR_API_TOKEN, when set, is read by the SDK itself.
  });
}

/** Publishes to a pub/sub topic (Redis Streams locally). */
export function createDaprPubSubQueue(client: DaprClient, pubsub: string, topic: string): WorkQueue {
  return {
    async publish(message: NotificationMessage) {
      const result = await client.pubsub.publish(pubsub, topic, message, { contentType: "application/json" });
      if (result.error) throw new UnavailableError(`publish to ${pubsub}/${topic} failed: ${result.error.message}`);
    },
  };
}

/** Sends to an output binding (Azure Storage Queues in the cloud). */
export function createDaprBindingQueue(client: DaprClient, binding: string): WorkQueue {
  return {
    async publish(message: NotificationMessage) {
      try {
        await client.binding.send(binding, "create", message);
      } catch (error) {
        throw new UnavailableError(`send to binding ${binding} failed: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

/**
 * The notification table in a Dapr state store. Reads use getBulk, the SDK call that returns
 * the ETag; writes use first-write concurrency, so a write with a stale ETag (or a create of a
 * key that exists) is refused by the store rather than overwriting.
 */
export function createDaprNotificationTable(client: DaprClient, store: string): NotificationTable {
  const key = (id: string) => `notification-${id}`;

  async function get(notificationId: string) {
    const [item] = await client.state.getBulk(store, [key(notificationId)]);
    if (!item?.data || !item.etag) return null;
    const record = typeof item.data === "string" ? JSON.parse(item.data) : item.data;
    return { record: record as NotificationRecord, etag: String(item.etag) };
  }

  async function write(record: NotificationRecord, expect: { etag: string } | "absent"): Promise<boolean> {
    const result = await client.state.save(store, [
      {
        key: key(record.notificationId),
        value: record,
        ...(typeof expect === "object" && { etag: expect.etag }),
        options: {
          concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE,
          consistency: StateConsistencyEnum.CONSISTENCY_STRONG,
        },
      },
    ]);
    if (!result.error) return true;
    if (isConflict(result.error)) return false;
    throw new UnavailableError(`state store ${store}: ${result.error.message}`, { cause: result.error });
  }

  return {
    get,
    async put(record, expect) {
      if (expect !== "any") return write(record, expect);
      // A key once written first-write only takes writes that name its ETag (state.redis
      // refuses others): "any" is read-then-write, again if someone slipped in between.
      for (let tries = 0; tries < 5; tries++) {
        const current = await get(record.notificationId);
        if (await write(record, current ? { etag: current.etag } : "absent")) return true;
      }
      return false;
    },
  };
}

/**
 * Another writer won: a stale ETag is a 409 (ERR_STATE_SAVE, ETag mismatch); a create of a
 * key that exists is a 409 from Table Storage and "failed to set key" from state.redis.
 */
function isConflict(error: Error): boolean {
  return /"status":409|failed to set key/.test(error.message);
}
