import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { client, notificationWhen, tokens } from "../support/api-client.ts";
import { type LocalDaprHerald, startLocalDaprHerald } from "../support/dapr-topology.ts";
import { eventually } from "../support/herald-process.ts";

// Dapr's retries count deliveries, and deliveries fail for reasons that are not the email's.
// Here every delivery finds its attempt claimed by a notifier that no longer exists (a table
// row with a live lease, as a killed notifier leaves it, but one that will not run out), so
// each answers RETRY without trying the email, until resiliency.yaml's retries are spent and
// the message reaches the dead-letter topic. The notification has had no send attempt: the
// notifier publishes it again instead of dead-lettering it, and once the claim is gone it is
// sent, once. Real daprd, Redis, the event store server and an SMTP server.

const sendLeaseMs = 1000; // how long a delivery waits on another's claim before answering RETRY
let local: LocalDaprHerald;

before(async () => {
  local = await startLocalDaprHerald({ HERALD_SEND_LEASE_MS: String(sendLeaseMs) });
});
after(async () => local?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stateUrl = () => `${local.herald.webSidecar.url}/v1.0/state/notification-state`;

async function notifierCount(outcome: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${local.herald.notifier.port}/metrics`)).text();
  return Number(new RegExp(`herald_notifications_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

describe("Dapr, local components: a queue that gives up too early", () => {
  it("publishes the message again when its notification had no send attempt, and the email goes once the claim is gone", async () => {
    const { herald, sink } = local;
    const api = client(herald.web.url);
    let ids: string[] = [];
    // While the notifier is down: upload, and claim each notification for a notifier that
    // will never finish (the row a killed one leaves, with a lease that does not run out).
    const restart = herald.restartNotifier({ kill: true, downMs: 6000 });
    await sleep(1000);
    const res = await api.upload("design", tokens.carol, { name: "claimed.txt", content: "claimed elsewhere" });
    assert.equal(res.status, 202);
    ids = res.body.notifications.map((n: { notificationId: string }) => n.notificationId);
    const claimed = ids.map((notificationId) => ({
      key: `notification-${notificationId}`,
      value: {
        notificationId,
        status: "sending",
        attempts: 1,
        leaseUntil: new Date(Date.now() + 3_600_000).toISOString(),
      },
      // As the notifier writes its rows: first-write (state.redis lets a create-only write
      // replace a key that was written last-write, so a last-write row is no claim at all).
      options: { concurrency: "first-write" },
    }));
    const written = await fetch(stateUrl(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(claimed),
    });
    assert.equal(written.status, 204, await written.text());
    await restart;

    // resiliency.yaml: 1 delivery + 6 retries (about 25 s of backoff, plus each delivery's
    // wait). The sidecar cancels deliveries in flight when the app turns healthy again: those
    // stay pending in Redis and come back after processingTimeout (60 s), so the first
    // dead letter may take two rounds.
    await eventually(async () => (await notifierCount("requeued")) >= 1 || undefined, 240_000, "a requeue");
    for (const id of ids) {
      const view = (await api.get(`/api/notifications/${id}`, tokens.alice)).body;
      assert.notEqual(view.status, "dead-lettered", "a delivery failure is not a send failure");
      assert.equal(sink.countNotification(id), 0);
    }

    // The claim goes away (the lease would have run out): the requeued message is sent.
    for (const id of ids) {
      const deleted = await fetch(`${stateUrl()}/notification-${id}`, { method: "DELETE" });
      assert.equal(deleted.status, 204);
    }
    for (const id of ids) {
      const view = await notificationWhen(api, id, "sent", 180_000);
      assert.equal(view.attempts, 1, "one send attempt: the retries before tried nothing");
      const history = (await api.get(`/api/notifications/${id}/history`, tokens.alice)).body.items;
      assert.ok(!history.some((e: { type: string }) => e.type === "NotificationDeadLettered"));
    }
    await sleep(2000);
    for (const id of ids) assert.equal(sink.countNotification(id), 1, "sent once");
    assert.equal(await notifierCount("dead_lettered"), 0);
  });
});
