import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { QueueClient } from "@azure/storage-queue";
import { createAzureQueueInspector, createRedisStreamInspector } from "@herald/core/adapters";
import { createClient } from "redis";
import { type Azurite, startAzurite } from "../support/azurite.ts";
import { type Redis, startRedis } from "../support/redis.ts";

// The queue gauges read the brokers directly. Against a real Redis and Azurite: messages no
// consumer took count as waiting, taken and unacknowledged ones as in flight, and the oldest
// message's age comes from the broker's own timestamps.

let redis: Redis;
let azurite: Azurite;
before(async () => {
  [redis, azurite] = await Promise.all([startRedis(), startAzurite()]);
});
after(async () => {
  await redis?.stop();
  await azurite?.stop();
});

it("Redis Streams: waiting, in flight, and the oldest message's age, as the consumer group sees them", async () => {
  const inspector = createRedisStreamInspector(redis.host, "notifications", "herald-notifier");
  const r = createClient({ url: `redis://${redis.host}` });
  await r.connect();
  try {
    assert.deepEqual(await inspector.stats(), { waiting: 0, inFlight: 0, oldestAgeSeconds: 0 });
    const old = Date.now() - 5000;
    await r.sendCommand(["XADD", "notifications", `${old}-0`, "data", "a"]);
    await r.sendCommand(["XADD", "notifications", "*", "data", "b"]);
    await r.sendCommand(["XADD", "notifications", "*", "data", "c"]);
    const before = await inspector.stats();
    assert.equal(before.waiting, 3, "no consumer group yet: all wait");
    assert.ok(before.oldestAgeSeconds >= 5 && before.oldestAgeSeconds < 15, String(before.oldestAgeSeconds));

    await r.sendCommand(["XGROUP", "CREATE", "notifications", "herald-notifier", "0"]);
    await r.sendCommand([
      "XREADGROUP",
      "GROUP",
      "herald-notifier",
      "n1",
      "COUNT",
      "1",
      "STREAMS",
      "notifications",
      ">",
    ]);
    const taken = await inspector.stats();
    assert.equal(taken.waiting, 2);
    assert.equal(taken.inFlight, 1);
    assert.ok(taken.oldestAgeSeconds >= 5, "the oldest is the one in flight");
  } finally {
    await r.quit();
    await inspector.close();
  }
});

it("Azure Storage Queues: the approximate count and the oldest message's age", async () => {
  const queue = new QueueClient(azurite.env.AZURE_STORAGE_CONNECTION_STRING, "herald-notifications");
  await queue.createIfNotExists();
  const inspector = createAzureQueueInspector(azurite.env.AZURE_STORAGE_CONNECTION_STRING, "herald-notifications");
  assert.deepEqual(await inspector.stats(), { waiting: 0, inFlight: 0, oldestAgeSeconds: 0 });
  await queue.sendMessage("a");
  await new Promise((r) => setTimeout(r, 1100));
  await queue.sendMessage("b");
  const stats = await inspector.stats();
  assert.equal(stats.waiting, 2);
  assert.ok(stats.oldestAgeSeconds >= 1 && stats.oldestAgeSeconds < 10, String(stats.oldestAgeSeconds));
});
