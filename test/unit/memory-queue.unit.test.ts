import assert from "node:assert/strict";
import { it } from "node:test";
import { type DeliveryStatus, type NotificationMessage } from "@herald/core";
import { createMemoryQueue } from "@herald/core/adapters";

const message = (notificationId: string): NotificationMessage => ({
  version: 1,
  notificationId,
  uploadId: "u",
  enqueuedAt: new Date().toISOString(),
});

it("redelivers on RETRY with growing delays, then hands the message to the dead-letter handler", async () => {
  const queue = createMemoryQueue({ concurrency: 2, maxAttempts: 3, retryBaseMs: 20 });
  const deliveries: number[] = [];
  const dead: string[] = [];
  queue.consume(
    async () => {
      deliveries.push(Date.now());
      return "RETRY";
    },
    async (m, reason) => void dead.push(`${m.notificationId}: ${reason}`),
  );
  await queue.publish(message("a"));
  await queue.idle();
  assert.equal(deliveries.length, 3);
  assert.ok(deliveries[1]! - deliveries[0]! >= 18, "first retry after ~20 ms");
  assert.ok(deliveries[2]! - deliveries[1]! >= 38, "second retry after ~40 ms");
  assert.deepEqual(dead, ["a: gave up after 3 deliveries"]);
  await queue.close();
});

it("never treats a handler that throws as done, nor counts it as an attempt", async () => {
  const queue = createMemoryQueue({ concurrency: 1, maxAttempts: 2, retryBaseMs: 5 });
  let calls = 0;
  queue.consume(
    async () => {
      calls += 1;
      if (calls < 4) throw new Error("log unavailable");
      return "SUCCESS";
    },
    async () => assert.fail("not dead-lettered"),
  );
  await queue.publish(message("b"));
  await queue.idle();
  assert.equal(calls, 4);
  await queue.close();
});

it("does not deliver the same notification twice at once", async () => {
  const queue = createMemoryQueue({ concurrency: 4, maxAttempts: 1, retryBaseMs: 5 });
  const seen: string[] = [];
  queue.consume(
    async (m): Promise<DeliveryStatus> => {
      seen.push(m.notificationId);
      await new Promise((r) => setTimeout(r, 20));
      return "SUCCESS";
    },
    async () => {},
  );
  await queue.publish(message("c"));
  await queue.publish(message("c"));
  await queue.publish(message("d"));
  await queue.idle();
  assert.deepEqual(seen.sort(), ["c", "d"]);
  await queue.publish(message("c"));
  await queue.idle();
  assert.deepEqual(seen.sort(), ["c", "c", "d"], "once done, it can be queued again (a redrive)");
  await queue.close();
});

it("keeps at most `concurrency` deliveries in flight", async () => {
  const queue = createMemoryQueue({ concurrency: 3, maxAttempts: 1, retryBaseMs: 5 });
  let inFlight = 0;
  let peak = 0;
  queue.consume(
    async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight -= 1;
      return "SUCCESS";
    },
    async () => {},
  );
  for (let i = 0; i < 20; i++) await queue.publish(message(`m${i}`));
  assert.equal(queue.depth(), 20);
  await queue.idle();
  assert.equal(peak, 3);
  assert.equal(queue.depth(), 0);
  await queue.close();
});

it("while paused hands nothing out, and a RETRY answered as it paused spends no attempt", async () => {
  let paused = false;
  const queue = createMemoryQueue({ concurrency: 1, maxAttempts: 2, retryBaseMs: 5, isPaused: () => paused });
  const deliveries: string[] = [];
  queue.consume(
    async (m, { attempt }): Promise<DeliveryStatus> => {
      deliveries.push(`${m.notificationId}#${attempt}`);
      if (paused) return "RETRY";
      if (m.notificationId === "p1" && deliveries.length === 1) {
        paused = true; // the mail server went away during this delivery
        return "RETRY";
      }
      return "SUCCESS";
    },
    async () => assert.fail("an outage must not dead-letter anything"),
  );
  await queue.publish(message("p1"));
  await queue.publish(message("p2"));
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(deliveries, ["p1#1"], "nothing handed out while paused");
  assert.equal((await queue.stats()).waiting, 2);
  paused = false;
  queue.resume();
  await queue.idle();
  assert.deepEqual(deliveries, ["p1#1", "p1#1", "p2#1"], "p1 comes back with its attempt unspent");
  await queue.close();
});
