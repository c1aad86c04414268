import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import {
  createLogger,
  createMetrics,
  MailError,
  type MailMessage,
  type Mailer,
  UnavailableError,
  watchEventLog,
  watchMailer,
} from "@herald/core";
import {
  createMemoryNotificationTable,
  createSeedDirectory,
  demoSeed,
  createSmtpMailer,
  openEventStoreEventLog,
} from "@herald/core/adapters";
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
  return { permanent: error.permanent, outage: error.outage, message: error.message };
};

// How SMTP failures are classified (permanent, outage) is the Mailer contract's:
// test/contract/mailer-smtp.contract.test.ts.

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

describe("the mail server watcher, when the server takes no mail from us", () => {
  const credentials = { user: "herald", pass: "s3cret" };
  let guarded: SmtpSink;
  before(async () => {
    guarded = await startSmtpSink({ credentials });
  });
  after(() => guarded.close());

  /** The guarded sink's URL carrying these credentials, as SMTP_URL would. */
  const urlWith = ({ user, pass }: { user: string; pass: string }) => {
    const url = new URL(guarded.url);
    url.username = user;
    url.password = pass;
    return url.href;
  };
  const watch = (mailer: Mailer) => {
    const metrics = createMetrics();
    const watched = watchMailer(mailer, { probeIntervalMs: 100, logger: createLogger("silent", "test"), metrics });
    const gauge = async () => (await metrics.mailUp.get()).values[0]?.value;
    return { ...watched, gauge };
  };

  it("goes down when the server refuses our credentials (535), and comes up only once it accepts them", async () => {
    const rotated = { user: "herald", pass: "rotated" };
    const smtp = createSmtpMailer(urlWith(rotated), "Herald <herald@example.test>", { allowPlaintextAuth: true });
    const { mailer, health, gauge } = watch(smtp);
    const changes: boolean[] = [];
    health.onChange((up) => changes.push(up));
    try {
      const failure = await failureOf(mailer.send(mail("alice@example.test", "a1")));
      assert.deepEqual([failure.outage, failure.permanent], [true, false], failure.message);
      assert.equal(health.isUp(), false, "refused credentials refuse every message: the server is down for us");
      assert.equal(await gauge(), 0);
      assert.match(health.status().lastError ?? "", /535/);

      const attempts = guarded.authAttempts.length;
      await eventually(
        async () => guarded.authAttempts.length > attempts || undefined,
        5000,
        "a probe to check the credentials",
      );
      assert.equal(health.isUp(), false, "still down while the credentials are refused");

      guarded.acceptCredentials(rotated);
      await eventually(async () => health.isUp() || undefined, 5000, "the watcher to see the credentials accepted");
      assert.equal(await gauge(), 1);
      assert.deepEqual(changes, [false, true]);
      await mailer.send(mail("alice@example.test", "a2"));
      assert.equal(guarded.countFor("alice@example.test"), 1, "a2 arrived; a1 never did");
    } finally {
      health.stop();
      guarded.acceptCredentials(credentials);
      await smtp.close?.();
    }
  });

  it("goes down rather than send credentials in clear, and says which setting allows it", async () => {
    const smtp = createSmtpMailer(urlWith(credentials), "Herald <herald@example.test>");
    const { mailer, health, gauge } = watch(smtp);
    try {
      const attempts = guarded.authAttempts.length;
      await failureOf(mailer.send(mail("alice@example.test", "c1")));
      assert.equal(health.isUp(), false);
      assert.equal(await gauge(), 0);
      assert.match(
        health.status().lastError ?? "",
        /offers no STARTTLS; refusing to send credentials in clear \(set HERALD_SMTP_ALLOW_PLAINTEXT_AUTH=true/,
      );
      await new Promise((r) => setTimeout(r, 350)); // a few probes, each refused before AUTH
      assert.equal(health.isUp(), false);
      assert.equal(guarded.authAttempts.length, attempts, "an AUTH reached the server in clear");
    } finally {
      health.stop();
      await smtp.close?.();
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
      maxAttempts: 5,
      requeue: async () => assert.fail("nothing is requeued here"),
      unsubscribeSecret: "test-unsubscribe-secret-of-at-least-32-characters",
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
