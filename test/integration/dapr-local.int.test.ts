import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { deadLetterStream } from "@herald/core";
import { openEventStoreEventLog } from "@herald/core/adapters";
import { client, notificationWhen, tokens } from "../support/api-client.ts";
import {
  type DaprTopology,
  type LocalDaprHerald,
  startLocalDaprHerald,
  stateRow as readStateRow,
  stateRowWhen,
} from "../support/dapr-topology.ts";
import { eventually, startProcessToExit } from "../support/herald-process.ts";
import type { SmtpSink } from "../support/smtp-sink.ts";

// Dapr mode with components/local: web and notifier as separate processes, each behind a real
// daprd, talking through a real Redis (pub/sub on Redis Streams, state in Redis).

let local: LocalDaprHerald;
let sink: SmtpSink;
let herald: DaprTopology;

before(async () => {
  local = await startLocalDaprHerald();
  ({ sink, herald } = local);
});
after(async () => local?.stop());

const stateRow = (notificationId: string) => readStateRow(herald.webSidecar, notificationId);
const redisCli = (...args: string[]) =>
  execFileSync("redis-cli", ["-p", String(local.redis.port), ...args], { encoding: "utf8" }).trim();

describe("Dapr, local components (Redis)", () => {
  it("delivers an upload's emails through Redis pub/sub, once per admin, and records them in the state store", async () => {
    const api = client(herald.web.url);
    const res = await api.upload("design", tokens.carol, { name: "dapr.txt", content: "through the sidecars" });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await sink.waitFor(2, 30_000);
    await new Promise((r) => setTimeout(r, 1000)); // room for a duplicate
    assert.equal(sink.countFor("alice@example.test"), 1);
    assert.equal(sink.countFor("bob@example.test"), 1);

    for (const { notificationId } of res.body.notifications) {
      const row = await stateRowWhen(herald.webSidecar, notificationId, "sent");
      assert.equal(row.attempts, 1);
      assert.ok(Date.parse(row.startedAt) <= Date.parse(row.completedAt));
      assert.equal(row.leaseUntil, null);

      const history = await api.get(`/api/notifications/${notificationId}/history`, tokens.alice);
      assert.deepEqual(
        history.body.items.map((e: { type: string }) => e.type),
        ["NotificationRequested", "NotificationQueued", "NotificationStarted", "NotificationSent"],
      );
    }
  });
});

describe("Dapr, local components: redelivery", () => {
  it("when the SMTP server says 'try later' once, Dapr redelivers and the email arrives once, after 2 attempts", async () => {
    const api = client(herald.web.url);
    sink.refuseNext(2, 451, "4.3.0 Try again later");
    const before = sink.messages.length;
    const res = await api.upload("design", tokens.carol, { name: "retry.txt", content: "second time lucky" });
    assert.equal(res.status, 202);
    await sink.waitFor(before + 2, 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // room for a duplicate
    for (const { notificationId } of res.body.notifications) {
      assert.equal(sink.countNotification(notificationId), 1, "emailed once");
      const row = await stateRowWhen(herald.webSidecar, notificationId, "sent");
      assert.equal(row.attempts, 2);
      const history = await api.get(`/api/notifications/${notificationId}/history`, tokens.alice);
      assert.deepEqual(
        history.body.items.map((e: { type: string }) => e.type),
        [
          "NotificationRequested",
          "NotificationQueued",
          "NotificationStarted",
          "NotificationRetryScheduled",
          "NotificationStarted",
          "NotificationSent",
        ],
      );
      const retry = history.body.items[3];
      assert.match(retry.data.error, /451/);
      const view = await api.get(`/api/notifications/${notificationId}`, tokens.alice);
      assert.equal(view.body.attempts, 2);
      assert.equal(view.body.status, "sent");
    }
  });
});

describe("Dapr, local components: dead letters", () => {
  it("when retries run out, the message goes to the dead-letter topic and the notification is dead-lettered", async () => {
    const api = client(herald.web.url);
    sink.refuseNext(1000, 451, "4.3.0 Try again later");
    const res = await api.upload("design", tokens.carol, { name: "never.txt", content: "no luck" });
    assert.equal(res.status, 202);
    try {
      for (const { notificationId } of res.body.notifications) {
        const view = await notificationWhen(api, notificationId, "dead-lettered", 60_000);
        // One delivery and resiliency.yaml's 6 retries.
        assert.equal(view.attempts, 7);
        assert.match(view.lastError, /dead-letter topic.*last error: .*451/);
        assert.equal(sink.countNotification(notificationId), 0);
      }
    } finally {
      sink.refuseNext(0, 451, "");
    }
  });
});

describe("Dapr, local components: poison messages", () => {
  it("a message that is not JSON, of an unknown version, or naming an unknown notification is recorded and dropped; work goes on", async () => {
    const publish = (body: string, contentType: string) =>
      fetch(`${herald.webSidecar.url}/v1.0/publish/notification-pubsub/notifications`, {
        method: "POST",
        headers: { "content-type": contentType },
        body,
      });
    const enqueuedAt = new Date().toISOString();
    const notifierPid = herald.notifier.child.pid;
    const deadBefore = Number(redisCli("XLEN", "notifications-dead"));
    for (const [body, type] of [
      ["this is not JSON {", "text/plain"],
      [JSON.stringify({ version: 2, notificationId: "n-2", uploadId: "u-2", enqueuedAt }), "application/json"],
      [
        JSON.stringify({ version: 1, notificationId: "no-such", uploadId: "no-such-upload", enqueuedAt }),
        "application/json",
      ],
    ]) {
      assert.equal((await publish(body!, type!)).status, 204);
    }

    // Each is in the audit log with its reason and the message as received.
    const log = openEventStoreEventLog(herald.store.url);
    try {
      const recorded = await eventually(
        async () => {
          const events = await log.readStream(deadLetterStream);
          return events.length >= 3 ? events : undefined;
        },
        20_000,
        "three MessageDeadLettered events",
      );
      const byReason = recorded.map((e) => (e.type === "MessageDeadLettered" ? e.data : null));
      assert.ok(byReason.some((d) => /unreadable message/.test(d!.reason) && d!.message === "this is not JSON {"));
      assert.ok(
        byReason.some((d) => /unreadable message \(version: /.test(d!.reason) && /"version":2/.test(d!.message)),
      );
      assert.ok(byReason.some((d) => /no-such.*unknown to the log/.test(d!.reason)));
    } finally {
      await log.close();
    }
    // Dropped, so Dapr moved them to the dead-letter topic; counted as dead letters.
    await eventually(
      async () => (Number(redisCli("XLEN", "notifications-dead")) >= deadBefore + 3 ? true : undefined),
      10_000,
      "three more messages on notifications-dead",
    );
    const metrics = await (await fetch(`http://127.0.0.1:${herald.notifier.port}/metrics`)).text();
    assert.ok(Number(/herald_notifications_total\{outcome="dead_lettered"\} (\d+)/.exec(metrics)?.[1]) >= 3);

    // Nothing crashed and nothing is blocked: the next upload is emailed as usual.
    const api = client(herald.web.url);
    const res = await api.upload("design", tokens.carol, { name: "after-poison.txt", content: "still working" });
    assert.equal(res.status, 202);
    for (const { notificationId } of res.body.notifications)
      await notificationWhen(api, notificationId, "sent", 30_000);
    assert.equal(herald.notifier.child.pid, notifierPid);
  });
});

describe("Dapr, local components: replay", () => {
  it("when the notification table is deleted, `npm run replay` rebuilds the same rows from the log", async () => {
    const api = client(herald.web.url);
    const { body } = await api.get("/api/groups/design/notifications", tokens.alice);
    const ids: string[] = body.items.map((n: { notificationId: string }) => n.notificationId);
    assert.ok(ids.length >= 6, "earlier tests left notifications to rebuild");
    // Earlier tests' last sends may still be writing their rows: start from a quiet table.
    const before = await eventually(
      async () => {
        const rows = await Promise.all(ids.map(stateRow));
        return rows.every((row) => ["sent", "failed", "dead-lettered"].includes(row?.status)) ? rows : undefined;
      },
      15_000,
      "every row to be final",
    );

    for (const id of ids) {
      const res = await fetch(`${herald.webSidecar.url}/v1.0/state/notification-state/notification-${id}`, {
        method: "DELETE",
      });
      assert.equal(res.status, 204);
    }
    assert.deepEqual(
      await Promise.all(ids.map(stateRow)),
      ids.map(() => undefined),
      "the table is gone",
    );

    const replay = () =>
      startProcessToExit(["--import", "tsx", "services/web/src/replay.ts"], {
        HERALD_MODE: "dapr",
        EVENTSTORE_URL: herald.store.url,
        DAPR_HTTP_PORT: String(herald.webSidecar.httpPort),
      });
    const first = await replay();
    assert.equal(first.code, 0, first.output);
    assert.deepEqual(await Promise.all(ids.map(stateRow)), before);
    const second = await replay();
    assert.equal(second.code, 0, second.output);
    assert.deepEqual(await Promise.all(ids.map(stateRow)), before, "replaying twice changes nothing");
    assert.match(second.output, new RegExp(`"notifications":${ids.length}`));

    // The web's own read models are folds of the log too: a restart rebuilds the same answers.
    const answersBefore = await api.get("/api/groups/design/notifications", tokens.alice);
    await herald.restartWeb();
    const answersAfter = await client(herald.web.url).get("/api/groups/design/notifications", tokens.alice);
    assert.deepEqual(answersAfter.body, answersBefore.body);
  });
});
