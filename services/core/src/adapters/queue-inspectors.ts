import { QueueClient } from "@azure/storage-queue";
import { createClient } from "redis";

// What an SRE asks of the queue between relay and notifier: how many messages wait, how many
// a notifier has taken but not finished, and how old the oldest one is. Dapr does not say, so
// each broker is asked directly (as KEDA's scalers do): read-only, at scrape time.

export type QueueStats = {
  /** Messages no notifier has taken yet. */
  waiting: number;
  /** Messages taken by a notifier and not acknowledged yet (in flight or being retried). */
  inFlight: number;
  /** Age of the oldest message waiting or in flight; 0 when there is none. */
  oldestAgeSeconds: number;
};

export interface QueueInspector {
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

/** Redis Streams (pubsub.redis): the topic's stream and the notifiers' consumer group. */
export function createRedisStreamInspector(redisHost: string, stream: string, group: string): QueueInspector {
  const client = createClient({
    url: `redis://${redisHost}`,
    socket: { reconnectStrategy: (n) => Math.min(n * 200, 5000) },
  });
  client.on("error", () => undefined); // reconnects by itself; a failed scrape says the rest
  const connected = client.connect();
  const ageOf = (id: string | undefined) => (id ? Math.max(0, (Date.now() - Number(id.split("-")[0])) / 1000) : 0);

  return {
    async stats() {
      await connected;
      const groups = (await client.sendCommand(["XINFO", "GROUPS", stream]).catch(() => [])) as unknown[];
      const info = groups.map(toRecord).find((g) => g.name === group);
      if (!info) {
        // No notifier has subscribed yet: everything in the stream waits.
        const length = Number(await client.sendCommand(["XLEN", stream]));
        const [first] = (await client.sendCommand(["XRANGE", stream, "-", "+", "COUNT", "1"])) as Array<[string]>;
        return { waiting: length, inFlight: 0, oldestAgeSeconds: ageOf(first?.[0]) };
      }
      const inFlight = Number(info.pending ?? 0);
      const [oldestPending] =
        inFlight > 0 ? ((await client.sendCommand(["XPENDING", stream, group])) as string[]).slice(1, 2) : [];
      const [firstWaiting] = (await client.sendCommand([
        "XRANGE",
        stream,
        `(${String(info["last-delivered-id"])}`,
        "+",
        "COUNT",
        "1",
      ])) as Array<[string]>;
      return {
        waiting: Number(info.lag ?? 0),
        inFlight,
        oldestAgeSeconds: Math.max(ageOf(oldestPending), ageOf(firstWaiting?.[0])),
      };
    },
    async close() {
      await connected.catch(() => undefined);
      await client.quit().catch(() => undefined);
    },
  };
}

/** Azure Storage Queues: the approximate count, and the oldest message's insertion time. */
export function createAzureQueueInspector(connectionString: string, queueName: string): QueueInspector {
  const queue = new QueueClient(connectionString, queueName);
  return {
    async stats() {
      const { approximateMessagesCount = 0 } = await queue.getProperties();
      const [oldest] = (await queue.peekMessages({ numberOfMessages: 1 })).peekedMessageItems;
      const oldestAgeSeconds = oldest ? Math.max(0, (Date.now() - oldest.insertedOn.getTime()) / 1000) : 0;
      // Storage Queues do not tell taken messages apart: invisible ones are counted as waiting.
      return { waiting: approximateMessagesCount, inFlight: 0, oldestAgeSeconds };
    },
    async close() {},
  };
}

/** XINFO answers flat [key, value, key, value, ...] lists (or maps, with RESP3). */
function toRecord(entry: unknown): Record<string, unknown> {
  if (!Array.isArray(entry)) return (entry ?? {}) as Record<string, unknown>;
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < entry.length; i += 2) record[String(entry[i])] = entry[i + 1];
  return record;
}
