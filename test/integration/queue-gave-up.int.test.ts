import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  createLogger,
  createMetrics,
  createNotificationCommands,
  type NotificationCommand,
  type NotificationMessage,
  recordUpload,
} from "@herald/core";
import {
  createMemoryNotificationTable,
  createOutboxMailer,
  createSeedDirectory,
  demoSeed,
  openSqliteEventLog,
  type SqliteEventLog,
} from "@herald/core/adapters";
import { createNotifier } from "@herald/notifier";
import { tempDir } from "../support/herald-process.ts";

// What the notifier does when its queue gives up on a message (Dapr's dead-letter topic, the
// binding's dequeue count, the embedded queue's attempts). The queue counts deliveries, which
// also fail when the notifier is killed or restarting; the notification is dead-lettered only
// once it has had its own HERALD_MAX_ATTEMPTS send attempts, counted in the log since its last
// redrive. Before that the message is published again. Real SQLite event log in a temp dir.

const maxAttempts = 3;
let store: SqliteEventLog;
let requeued: NotificationMessage[];
let notifier: ReturnType<typeof createNotifier>;
let metrics: ReturnType<typeof createMetrics>;
let uploads = 0;

before(() => {
  const dir = tempDir("gave-up");
  store = openSqliteEventLog(dir);
  metrics = createMetrics();
  notifier = createNotifier({
    log: store,
    mailer: createOutboxMailer(join(dir, "outbox"), "Herald <herald@example.test>"),
    directory: createSeedDirectory(demoSeed),
    metrics,
    logger: createLogger("silent", "test"),
    table: createMemoryNotificationTable(),
    publicUrl: "http://localhost:8080",
    sendLeaseMs: 60_000,
    maxAttempts,
    requeue: async (message) => void requeued.push(message),
    unsubscribeSecret: "test-unsubscribe-secret-of-at-least-32-characters",
  });
});
after(() => store.close());

/** A notification whose story is these commands (after its request), and its queue message. */
async function notificationAfter(commands: NotificationCommand[]): Promise<NotificationMessage> {
  uploads += 1;
  const ref = { uploadId: `u-${uploads}`, notificationId: `n-${uploads}` };
  await recordUpload(store, {
    type: "RecordUpload",
    upload: {
      uploadId: ref.uploadId,
      groupId: "design",
      uploaderId: "carol",
      filename: "plan.txt",
      contentType: "text/plain",
      size: 4,
      sha256: "0".repeat(64),
      blobKey: `design/${ref.uploadId}`,
    },
    recipients: [{ notificationId: ref.notificationId, recipientId: "alice", recipient: "alice@example.test" }],
  });
  const handler = createNotificationCommands(store);
  for (const command of commands) await handler.execute(ref, command, {});
  requeued = [];
  return { version: 1, ...ref, enqueuedAt: new Date().toISOString() };
}

const statusOf = async (message: NotificationMessage) => (await createNotificationCommands(store).read(message))!.state;
const outcomes = async (name: string) =>
  (await metrics.notifications.get()).values.find((v) => v.labels.outcome === name)?.value ?? 0;
const start: NotificationCommand = { type: "StartAttempt" };
const retry = (attempt: number): NotificationCommand => ({ type: "RecordRetry", attempt, error: "421 busy" });

describe("the queue gave up on a message", () => {
  it("before the notification's attempts are spent (a send killed mid-way): published again, not dead-lettered", async () => {
    const message = await notificationAfter([start]);
    const before = await outcomes("requeued");
    assert.equal(await notifier.deadLetter(message, "retries exhausted (dead-letter topic)"), "requeued");
    assert.deepEqual(requeued, [message]);
    assert.equal((await statusOf(message)).status, "sending", "the log records no give-up");
    assert.equal(await outcomes("requeued"), before + 1);
  });

  it("never started at all (the notifier was down for every delivery): published again", async () => {
    const message = await notificationAfter([]);
    assert.equal(await notifier.deadLetter(message, "gave up after 5 deliveries"), "requeued");
    assert.equal(requeued.length, 1);
  });

  it("after maxAttempts send attempts: dead-lettered, with the attempts and the last error in the reason", async () => {
    const message = await notificationAfter([start, retry(1), start, retry(2), start, retry(3)]);
    assert.equal(await notifier.deadLetter(message, "retries exhausted (dead-letter topic)"), "dead-lettered");
    assert.deepEqual(requeued, []);
    const state = await statusOf(message);
    assert.equal(state.status, "dead-lettered");
    assert.equal(state.lastError, "retries exhausted (dead-letter topic), 3 send attempts; last error: 421 busy");
  });

  it("redriven after a dead letter: its attempts count again from the redrive", async () => {
    const message = await notificationAfter([
      start,
      retry(1),
      start,
      retry(2),
      start,
      retry(3),
      { type: "DeadLetter", reason: "retries exhausted" },
      { type: "Redrive", by: "alice" },
      start,
    ]);
    assert.equal(await notifier.deadLetter(message, "retries exhausted (dead-letter topic)"), "requeued");
    assert.equal((await statusOf(message)).status, "sending");
  });

  it("already sent, or already dead-lettered (a second delivery of the dead letter): nothing more", async () => {
    const sent = await notificationAfter([start, { type: "RecordSent", attempt: 1, messageId: "<n@herald>" }]);
    assert.equal(await notifier.deadLetter(sent, "retries exhausted"), "settled");
    assert.equal((await statusOf(sent)).status, "sent");
    const dead = await notificationAfter([start, retry(1), start, retry(2), start, retry(3)]);
    assert.equal(await notifier.deadLetter(dead, "gave up after 4 deliveries"), "dead-lettered");
    assert.equal(
      await notifier.deadLetter(dead, "gave up after 4 deliveries"),
      "dead-lettered",
      "moved to poison again",
    );
    const deadLetters = (await createNotificationCommands(store).read(dead))!.events.filter(
      (e) => e.type === "NotificationDeadLettered",
    );
    assert.equal(deadLetters.length, 1, "recorded once");
    assert.deepEqual(requeued, []);
  });
});
