import { createClient } from "redis";
import type { QueueInspector } from "../../ports/index.ts";

// What an SRE asks of the queue between relay and notifier: how many messages wait, how many
// a notifier has taken but not finished, and how old the oldest one is. Dapr does not say, so
// each broker is asked directly (as KEDA's scalers do): read-only, at scrape time.

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

/** XINFO answers flat [key, value, key, value, ...] lists (or maps, with RESP3). */
function toRecord(entry: unknown): Record<string, unknown> {
  if (!Array.isArray(entry)) return (entry ?? {}) as Record<string, unknown>;
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < entry.length; i += 2) record[String(entry[i])] = entry[i + 1];
  return record;
}
