import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createLogger,
  createMetrics,
  createNotificationCommands,
  createReadModels,
  type NotificationMessage,
  type WorkQueue,
  notificationStream,
  queueNotification,
  startStallWatch,
} from "@herald/core";
import { openSqliteEventLog } from "@herald/core/adapters";
import { eventually, tempDir } from "../support/herald-process.ts";
import { recordTestUpload } from "../support/uploads.ts";

// The stall watch on a real (SQLite) log, with the web's read models following it: it queues
// again what the relay queued and nothing has happened to since, and only that: not what is
// final, not what the relay has yet to queue; and each requeue is recorded, so a notification
// that stays quiet is queued again once per stallAfterMs, not at every look.

const stallAfterMs = 1000;

async function setUp() {
  const log = openSqliteEventLog(tempDir("stall-watch"));
  const commands = createNotificationCommands(log);
  const readModels = createReadModels();
  const published: NotificationMessage[] = [];
  const queue = { publish: async (message: NotificationMessage) => void published.push(message) };
  const follow = log.subscribeAll({ after: null }, async (event) => readModels.apply(event));
  const metrics = createMetrics();
  // ann and bea queued by the relay; bea then sent; cid requested but not yet relayed.
  const { uploadId, notificationIds } = await recordTestUpload(log, ["ann", "bea", "cid"]);
  const [ann, bea, cid] = notificationIds as [string, string, string];
  for (const notificationId of [ann, bea])
    await queueNotification({ commands, queue }, { notificationId, uploadId }, {});
  await log.append(notificationStream(bea), [
    { type: "NotificationStarted", data: { notificationId: bea, attempt: 1 } },
    { type: "NotificationSent", data: { notificationId: bea, attempt: 1, messageId: "<b@test>" } },
  ]);
  await eventually(async () => readModels.notification(bea)?.status === "sent" || undefined);
  published.length = 0;
  return { log, commands, readModels, published, queue, follow, metrics, uploadId, ann, bea, cid };
}

/** The watch as the web runs it (requeue = the relay's queueNotification), looking every 100 ms. */
const watchEvery100ms = ({
  commands,
  readModels,
  queue,
  metrics,
}: Pick<Awaited<ReturnType<typeof setUp>>, "commands" | "readModels" | "metrics"> & { queue: WorkQueue }) =>
  startStallWatch({
    stalled: readModels.stalled,
    requeue: ({ message }, reason) => queueNotification({ commands, queue }, message, { reason }),
    stallAfterMs,
    checkEveryMs: 100,
    metrics,
    logger: createLogger("silent"),
  });

describe("stall watch", () => {
  it("read models: stalled() lists the relayed, unfinished and quiet notifications, the quietest first", async () => {
    const { log, readModels, follow, ann, bea, cid } = await setUp();
    try {
      assert.deepEqual(readModels.stalled(Date.now() - 60_000, 10), [], "nothing has been quiet for a minute");
      const stalled = readModels.stalled(Date.now() + 1, 10);
      assert.deepEqual(
        stalled.map((s) => s.message.notificationId),
        [ann],
        `bea is sent (${bea}); cid is the relay's to queue (${cid})`,
      );
      assert.equal(stalled[0]!.lastEvent, "NotificationQueued");
      assert.equal(readModels.stalled(Date.now() + 1, 0).length, 0, "the limit holds");
    } finally {
      await follow.stop();
      await log.close();
    }
  });

  it("queues a quiet notification again with the reason in its history, once per stallAfterMs", async () => {
    const { log, commands, readModels, published, queue, follow, metrics, uploadId, ann } = await setUp();
    const watch = watchEvery100ms({ commands, readModels, queue, metrics });
    try {
      await eventually(async () => published.length >= 1 || undefined, 5000, "a requeue");
      assert.deepEqual(
        published.map((m) => m.notificationId),
        [ann],
      );
      assert.equal(published[0]!.uploadId, uploadId);
      const story = await commands.read({ notificationId: ann, uploadId });
      const queued = story!.events.filter((e) => e.type === "NotificationQueued");
      assert.equal(queued.length, 2);
      assert.match(
        (queued[1]!.data as { reason?: string }).reason ?? "",
        /^nothing recorded for 1 s after NotificationQueued$/,
      );
      assert.equal((await metrics.stalledRequeued.get()).values[0]?.value, 1);

      // Its requeue is an event: the next looks (every 100 ms) leave it alone until it has
      // been quiet for stallAfterMs again.
      await new Promise((r) => setTimeout(r, stallAfterMs / 2));
      assert.equal(published.length, 1, "not requeued at every look");
      await eventually(async () => published.length >= 2 || undefined, 5000, "a second requeue");
      const [first, second] = (await commands.read({ notificationId: ann, uploadId }))!.events
        .filter((e) => e.type === "NotificationQueued")
        .slice(1);
      assert.ok(Date.parse(second!.metadata.occurredAt) - Date.parse(first!.metadata.occurredAt) >= stallAfterMs);

      // Once it is sent, it is never queued again.
      await log.append(notificationStream(ann), [
        { type: "NotificationStarted", data: { notificationId: ann, attempt: 1 } },
        { type: "NotificationSent", data: { notificationId: ann, attempt: 1, messageId: "<a@test>" } },
      ]);
      await eventually(async () => readModels.notification(ann)?.status === "sent" || undefined);
      const count = published.length;
      await new Promise((r) => setTimeout(r, stallAfterMs * 1.5));
      assert.equal(published.length, count);
    } finally {
      await watch.stop();
      await follow.stop();
      await log.close();
    }
  });

  it("a requeue that fails (the queue away) is tried again at a later look; nothing is lost meanwhile", async () => {
    const { log, commands, readModels, published, follow, metrics, ann } = await setUp();
    let away = true;
    const queue = {
      publish: async (message: NotificationMessage) => {
        if (away) throw new Error("queue unreachable");
        published.push(message);
      },
    };
    const watch = watchEvery100ms({ commands, readModels, queue, metrics });
    try {
      await new Promise((r) => setTimeout(r, stallAfterMs * 1.5));
      assert.equal(published.length, 0);
      assert.equal((await metrics.stalledRequeued.get()).values[0]?.value ?? 0, 0, "a failed requeue is not counted");
      away = false;
      await eventually(async () => published.length >= 1 || undefined, 5000, "the requeue once the queue is back");
      assert.equal(published[0]!.notificationId, ann);
    } finally {
      await watch.stop();
      await follow.stop();
      await log.close();
    }
  });
});
