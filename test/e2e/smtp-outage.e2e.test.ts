import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// Embedded mode, the SMTP server away: the in-process queue pauses instead of spending the
// notifications' deliveries, so an outage far longer than the whole retry budget dead-letters
// nothing; when the server answers again every email goes out, once. (The same outage in the
// Dapr topology, where the sidecar pauses: test/faults, scenario 4.)

let sink: SmtpSink;
let herald: InProcessHerald;
before(async () => {
  sink = await startSmtpSink();
  herald = await startHeraldInProcess({
    SMTP_URL: sink.url,
    // Without the pause, 2 deliveries 100 ms apart would dead-letter everything in well under a second.
    HERALD_MAX_ATTEMPTS: "2",
    HERALD_RETRY_BASE_MS: "100",
    HERALD_PROBE_INTERVAL_MS: "200",
  });
});
after(async () => {
  await herald?.stop();
  await sink?.close();
});

const mailUpGauge = async () => {
  const text = (await client(herald.url).get("/metrics")).body as string;
  return Number(/^herald_mail_server_up (\S+)$/m.exec(text)?.[1]);
};

it("an SMTP outage longer than the retry budget dead-letters nothing; afterwards every email goes out once", async () => {
  const api = client(herald.url);
  await sink.down();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await api.upload("design", tokens.carol, { name: `outage-${i}.txt`, content: `outage ${i}` });
    assert.equal(res.status, 202);
    ids.push(...res.body.notifications.map((n: { notificationId: string }) => n.notificationId));
  }
  await new Promise((r) => setTimeout(r, 3000));
  const during = await Promise.all(
    ids.map(async (id) => (await api.get(`/api/notifications/${id}`, tokens.alice)).body),
  );
  assert.ok(
    during.every((n) => ["requested", "retrying"].includes(n.status)),
    `waiting, not given up: ${during.map((n) => n.status)}`,
  );
  assert.ok(
    during.some((n) => n.status === "retrying" && /ECONNREFUSED/.test(n.lastError)),
    "the failed attempt is recorded",
  );
  assert.equal(await mailUpGauge(), 0);

  await sink.up();
  await sink.waitFor(ids.length, 15_000);
  await new Promise((r) => setTimeout(r, 500)); // room for a duplicate
  for (const id of ids) assert.equal(sink.countNotification(id), 1, `${id} emailed once`);
  const afterwards = await Promise.all(
    ids.map(async (id) => (await api.get(`/api/notifications/${id}`, tokens.alice)).body),
  );
  assert.deepEqual(new Set(afterwards.map((n) => n.status)), new Set(["sent"]));
  assert.ok(Math.max(...afterwards.map((n) => n.attempts)) <= 2, "one failed attempt at most, then the send");
  assert.equal(await mailUpGauge(), 1);
});
