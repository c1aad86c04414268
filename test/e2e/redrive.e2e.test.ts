import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { client, notificationWhen, tokens } from "../support/api-client.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// A recipient the SMTP server refuses for good: the notification fails at once (no retries),
// visibly, with the reason. Once the address works again, an admin redrives it and the email
// is sent exactly once.

let sink: SmtpSink;
let herald: InProcessHerald;
before(async () => {
  sink = await startSmtpSink({ rejectRecipients: ["bob@example.test"] });
  herald = await startHeraldInProcess({ SMTP_URL: sink.url, HERALD_RETRY_BASE_MS: "100" });
});
after(async () => {
  await herald?.stop();
  await sink?.close();
});

it("a permanently refused recipient fails without retries, and a redrive after the fix sends it once", async () => {
  const api = client(herald.url);
  const res = await api.upload("design", tokens.carol, { name: "plan.txt", content: "plan" });
  assert.equal(res.status, 202);
  const bobs = res.body.notifications.find((n: { recipient: string }) => n.recipient === "bob@example.test");

  const failed = await notificationWhen(api, bobs.notificationId, "failed");
  assert.equal(failed.attempts, 1, "a permanent refusal is not retried");
  assert.match(failed.lastError, /550/);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(sink.countFor("bob@example.test"), 0);
  assert.equal(sink.countFor("alice@example.test"), 1);

  // Who may redrive, and what.
  const carol = await api.post(`/api/notifications/${bobs.notificationId}/redrive`, tokens.carol, "");
  assert.equal(carol.status, 403);
  assert.equal(carol.body.type, "urn:herald:problem:forbidden");
  const unknown = await api.post("/api/notifications/nope/redrive", tokens.alice, "");
  assert.equal(unknown.status, 404);
  const alices = res.body.notifications.find((n: { recipient: string }) => n.recipient === "alice@example.test");
  const sent = await api.post(`/api/notifications/${alices.notificationId}/redrive`, tokens.alice, "");
  assert.equal(sent.status, 409, "a sent notification is not sent again");
  assert.equal(sent.body.type, "urn:herald:problem:conflict");

  sink.rejectRecipients([]);
  const redrive = await api.post(`/api/notifications/${bobs.notificationId}/redrive`, tokens.alice, "");
  assert.equal(redrive.status, 202, JSON.stringify(redrive.body));
  assert.equal(redrive.body.status, "requested");
  const again = await api.post(`/api/notifications/${bobs.notificationId}/redrive`, tokens.bob, "");
  assert.equal(again.status, 409, "a second click while it is on its way changes nothing");

  const done = await notificationWhen(api, bobs.notificationId, "sent");
  assert.equal(done.attempts, 2);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(sink.countFor("bob@example.test"), 1);
  const history = await api.get(`/api/notifications/${bobs.notificationId}/history`, tokens.bob);
  assert.deepEqual(
    history.body.items.map((e: { type: string }) => e.type),
    [
      "NotificationRequested",
      "NotificationQueued",
      "NotificationStarted",
      "NotificationFailed",
      "NotificationRedriven",
      "NotificationQueued",
      "NotificationStarted",
      "NotificationSent",
    ],
  );
  assert.equal(history.body.items[4].data.by, "alice");
});
