import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import {
  createLogger,
  createMemoryNotificationTable,
  createMetrics,
  createSeedDirectory,
  demoSeed,
  createSmtpMailer,
  MailError,
  type MailMessage,
  openEventStoreEventLog,
  UnavailableError,
  watchEventLog,
  watchMailer,
} from "@herald/core";
import { createNotifier } from "@herald/notifier";
import { startEsdbTestServer } from "../support/esdb-test-server.ts";
import { eventually, freePort, tempDir } from "../support/herald-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// The dependencies the notifier pauses for, going away and coming back: the SMTP mailer
// against a real SMTP server (smtp-server from npm), how each failure is classified and how
// the watcher follows it; the event log on the EventStoreDB protocol test server.

let sink: SmtpSink;
before(async () => {
  sink = await startSmtpSink({ rejectRecipients: ["nobody@example.test"] });
});
after(() => sink.close());

const mail = (to: string, id: string): MailMessage => ({
  to,
  subject: "s",
  text: "t",
  html: "<p>t</p>",
  messageId: `<${id}@herald>`,
});

const failureOf = async (send: Promise<unknown>) => {
  const error = await send.then(
    () => assert.fail("expected the send to fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof MailError);
  return { permanent: error.permanent, unreachable: error.unreachable, message: error.message };
};

describe("SMTP failures, classified", () => {
  const mailer = () => createSmtpMailer(sink.url, "Herald <herald@example.test>");

  it("a refused recipient (550) is permanent, and the server was reachable", async () => {
    const failure = await failureOf(mailer().send(mail("nobody@example.test", "c1")));
    assert.deepEqual([failure.permanent, failure.unreachable], [true, false]);
    assert.match(failure.message, /550/);
  });

  it("a 4xx is worth retrying, and the server was reachable", async () => {
    sink.refuseNext(1, 451, "Try again later");
    const failure = await failureOf(mailer().send(mail("alice@example.test", "c2")));
    assert.deepEqual([failure.permanent, failure.unreachable], [false, false]);
    assert.match(failure.message, /451/);
  });

  it("no server listening is worth retrying, and marked unreachable; verify() says the same", async () => {
    await sink.down();
    try {
      const failure = await failureOf(mailer().send(mail("alice@example.test", "c3")));
      assert.deepEqual([failure.permanent, failure.unreachable], [false, true]);
      assert.match(failure.message, /ECONNREFUSED/);
      const verify = await failureOf(mailer().verify!());
      assert.equal(verify.unreachable, true);
    } finally {
      await sink.up();
    }
    await mailer().verify!();
  });
});

describe("the mail server watcher", () => {
  it("goes down on the first unreachable send, probes while down, and comes up when the server answers", async () => {
    const metrics = createMetrics();
    const { mailer, health } = watchMailer(createSmtpMailer(sink.url, "Herald <herald@example.test>"), {
      probeIntervalMs: 100,
      logger: createLogger("silent", "test"),
      metrics,
    });
    const changes: boolean[] = [];
    health.onChange((up) => changes.push(up));
    const gauge = async () => (await metrics.mailUp.get()).values[0]?.value;
    try {
      await mailer.send(mail("alice@example.test", "w1"));
      assert.equal(health.isUp(), true);
      assert.equal(await gauge(), 1);

      // A permanent refusal says nothing against the server.
      await failureOf(mailer.send(mail("nobody@example.test", "w2")));
      assert.equal(health.isUp(), true);

      await sink.down();
      await failureOf(mailer.send(mail("alice@example.test", "w3")));
      assert.equal(health.isUp(), false);
      assert.equal(await gauge(), 0);
      assert.match(health.status().lastError ?? "", /ECONNREFUSED/);
      await new Promise((r) => setTimeout(r, 350)); // a few probes, all refused
      assert.equal(health.isUp(), false, "still down while nothing listens");

      await sink.up();
      await eventually(async () => health.isUp() || undefined, 2000, "the watcher to see the server again");
      assert.equal(await gauge(), 1);
      assert.deepEqual(changes, [false, true]);
      await mailer.send(mail("alice@example.test", "w4"));
      assert.equal(sink.countFor("alice@example.test"), 2, "w1 and w4 arrived; w3 never did");
    } finally {
      health.stop();
      await sink.up();
    }
  });
});

describe("the event log watcher", () => {
  it("goes down when a read finds no store, probes while down, and comes up when the store is back", async () => {
    const port = await freePort();
    const dataFile = join(tempDir("esdb-watch"), "events.jsonl");
    let store = await startEsdbTestServer({ port, dataFile });
    const adapter = openEventStoreEventLog(store.url);
    const { log, health } = watchEventLog(adapter, { probeIntervalMs: 100, logger: createLogger("silent", "test") });
    try {
      await log.append("watch-1", [{ type: "NotificationQueued", data: { notificationId: "n" } }]);
      assert.equal(health.isUp(), true);

      await store.kill();
      await eventually(
        async () => {
          const error = await log.readStream("watch-1").then(
            () => undefined,
            (e: unknown) => e,
          );
          return error instanceof UnavailableError ? error : undefined;
        },
        10_000,
        "a read to fail with UnavailableError",
      );
      assert.equal(health.isUp(), false);
      assert.ok(health.status().lastError);

      store = await startEsdbTestServer({ port, dataFile });
      await eventually(async () => health.isUp() || undefined, 10_000, "the watcher to see the store again");
      assert.equal((await log.readStream("watch-1")).length, 1);
    } finally {
      health.stop();
      await adapter.close();
      await store.stop();
    }
  });
});

describe("a delivery the notifier cannot handle at all", () => {
  it("is thrown back for the queue to retry, counted as outcome=error, and pauses the notifier", async () => {
    const store = await startEsdbTestServer();
    const adapter = openEventStoreEventLog(store.url);
    const logger = createLogger("silent", "test");
    const metrics = createMetrics();
    const { log, health } = watchEventLog(adapter, { probeIntervalMs: 60_000, logger });
    const notifier = createNotifier({
      log,
      mailer: createSmtpMailer(sink.url, "Herald <herald@example.test>"),
      directory: createSeedDirectory(demoSeed),
      metrics,
      logger,
      table: createMemoryNotificationTable(),
      publicUrl: "http://localhost:8080",
      sendLeaseMs: 60_000,
    });
    const outcome = async (name: string) =>
      (await metrics.notifications.get()).values.find((v) => v.labels.outcome === name)?.value ?? 0;
    try {
      await store.kill();
      const message = { version: 1, notificationId: "n-1", uploadId: "u-1", enqueuedAt: new Date().toISOString() };
      await eventually(
        async () => {
          const error = await notifier.handle(message).then(
            () => undefined,
            (e: unknown) => e,
          );
          return error instanceof UnavailableError ? error : undefined;
        },
        10_000,
        "the delivery to fail with UnavailableError",
      );
      assert.ok((await outcome("error")) >= 1);
      assert.equal(await outcome("retried"), 0, "not a send outcome");
      assert.equal(await outcome("dead_lettered"), 0, "an unreadable log is not an unknown notification");
      assert.equal(health.isUp(), false);
    } finally {
      health.stop();
      await adapter.close();
      await store.stop();
    }
  });
});
