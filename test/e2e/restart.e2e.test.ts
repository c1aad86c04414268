import assert from "node:assert/strict";
import { after, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { eventually, type HeraldProcess, startHerald, tempDir } from "../support/herald-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// SIGKILL right after uploads are accepted, with some emails sent, some in the middle of
// their SMTP transaction and some not yet started: after a restart every accepted upload's
// emails arrive, and none twice.

let sink: SmtpSink;
let herald: HeraldProcess | undefined;
after(async () => {
  await herald?.stop();
  await sink?.close();
});

it(
  "when Herald is killed mid-work and started again, every email arrives exactly once",
  { timeout: 120_000 },
  async () => {
    const uploads = 10;
    const sentBeforeKill = 6;
    sink = await startSmtpSink({ holdAfter: sentBeforeKill });
    const dataDir = tempDir("restart");
    const env = { SMTP_URL: sink.url, HERALD_RETRY_BASE_MS: "200" };
    herald = await startHerald(env, dataDir);
    const api = client(herald.url);

    const notificationIds: string[] = [];
    for (let i = 0; i < uploads; i++) {
      const res = await api.upload("design", tokens.carol, { name: `file-${i}.txt`, content: `content ${i}` });
      assert.equal(res.status, 202);
      notificationIds.push(...res.body.notifications.map((n: { notificationId: string }) => n.notificationId));
    }
    // The first few are sent and recorded; the rest are stuck in SMTP or waiting in the queue.
    await eventually(
      async () => {
        const { body } = await api.get("/api/groups/design/notifications", tokens.alice);
        return body.items.filter((n: { status: string }) => n.status === "sent").length >= sentBeforeKill
          ? true
          : undefined;
      },
      10_000,
      "the first emails to be recorded as sent",
    );
    const sendingIds: string[] = (await api.get("/api/groups/design/notifications", tokens.alice)).body.items
      .filter((n: { status: string }) => n.status === "sending")
      .map((n: { notificationId: string }) => n.notificationId);
    const inFlight = sendingIds.length;
    await herald.kill();
    assert.equal(sink.messages.length, sentBeforeKill, "only the first emails got through before the kill");
    assert.ok(inFlight > 0, "some notifications were in the middle of sending when Herald was killed");

    sink.release();
    herald = await startHerald(env, dataDir);
    await sink.waitFor(notificationIds.length, 30_000);
    await new Promise((r) => setTimeout(r, 1000)); // a duplicate would arrive in this time
    for (const id of notificationIds) assert.equal(sink.countNotification(id), 1, `notification ${id} emailed once`);
    assert.equal(sink.messages.length, notificationIds.length);

    const { body } = await client(herald.url).get("/api/groups/design/notifications", tokens.alice);
    assert.equal(body.items.length, notificationIds.length);
    for (const n of body.items) assert.equal(n.status, "sent", `${n.notificationId} is ${n.status}`);
    // Every one seen sending was attempted again; the read model can lag the log by a moment,
    // so a few more may have started just before the kill. Each second attempt must follow a
    // first one that recorded no outcome: only sends cut off by the kill are tried again.
    const retried: string[] = body.items
      .filter((n: { attempts: number }) => n.attempts === 2)
      .map((n: { notificationId: string }) => n.notificationId);
    for (const id of sendingIds) assert.ok(retried.includes(id), `${id}, cut off mid-send, was attempted again`);
    for (const id of retried) {
      const history = await client(herald.url).get(`/api/notifications/${id}/history`, tokens.alice);
      const types = history.body.items
        .map((e: { type: string }) => e.type)
        .filter((t: string) => t !== "NotificationQueued");
      assert.deepEqual(
        types,
        ["NotificationRequested", "NotificationStarted", "NotificationStarted", "NotificationSent"],
        `${id}: the first attempt was cut off, the second sent`,
      );
    }
  },
);
