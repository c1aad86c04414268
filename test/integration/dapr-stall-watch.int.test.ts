import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { client, notificationWhen, tokens } from "../support/api-client.ts";
import { type LocalDaprHerald, startLocalDaprHerald } from "../support/dapr-topology.ts";
import { eventually } from "../support/herald-process.ts";

// A queue can forget a message without telling anyone: Redis trims a stream past the
// component's maxLenApprox, oldest entries first, delivered or not. Here the stream loses the
// messages of an upload before the notifier has read them (its sidecar stops reading while
// its app is down), exactly as a trim would. Nothing is left in Redis to deliver; the log
// still says the notifications are queued and unfinished, and the web's stall watch queues
// them again. Real daprd, Redis, the event store server and an SMTP server.

const stallAfterMs = 5000;
let local: LocalDaprHerald;

before(async () => {
  local = await startLocalDaprHerald({ HERALD_STALL_AFTER_MS: String(stallAfterMs) });
});
after(async () => local?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type HistoryItem = { type: string; occurredAt: string; data: { reason?: string } };

async function webCounter(name: string): Promise<number> {
  const text = await (await fetch(`${local.herald.web.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? 0);
}

describe("Dapr, local components: the queue forgets a message", () => {
  it("the stall watch queues the notification again, says why in its history, and the email goes once", async () => {
    const { herald, sink, redis } = local;
    const api = client(herald.web.url);
    const redisCli = (...args: string[]) =>
      execFileSync("redis-cli", ["-p", String(redis.port), ...args], { encoding: "utf8" }).trim();

    // The notifier down for 8 s: after two failed health checks (1 s apart) its sidecar stops
    // reading the topic, so what the relay publishes meanwhile stays in the stream, unread.
    const restart = herald.restartNotifier({ kill: true, downMs: 8000 });
    await sleep(4000);
    const res = await api.upload("design", tokens.carol, { name: "forgotten.txt", content: "the queue forgot" });
    assert.equal(res.status, 202);
    const ids: string[] = res.body.notifications.map((n: { notificationId: string }) => n.notificationId);
    assert.ok(ids.length >= 1);
    const history = async (id: string): Promise<HistoryItem[]> =>
      (await api.get(`/api/notifications/${id}/history`, tokens.alice)).body.items;
    for (const id of ids) {
      await eventually(async () => (await history(id)).some((e) => e.type === "NotificationQueued") || undefined);
    }

    // The broker forgets: every entry of the stream goes, as a trim would take them.
    const lengthBefore = Number(redisCli("XLEN", "notifications"));
    assert.ok(lengthBefore >= ids.length, `the relay published (${lengthBefore} in the stream)`);
    redisCli("XTRIM", "notifications", "MAXLEN", "0");
    assert.equal(Number(redisCli("XLEN", "notifications")), 0);
    const forgottenAt = Date.now();
    await restart;

    for (const id of ids) {
      const view = await notificationWhen(api, id, "sent", 60_000);
      assert.equal(view.attempts, 1);
      const items = await history(id);
      const queued = items.filter((e) => e.type === "NotificationQueued");
      assert.ok(queued.length >= 2, `queued by the relay, then again: ${items.map((e) => e.type).join(" > ")}`);
      assert.equal(queued[0]!.data.reason, undefined, "the relay's queuing gives no reason");
      // Queued again (once per quiet HERALD_STALL_AFTER_MS: more than once if the notifier was
      // still down) only once the notification had been quiet that long, and saying so.
      for (const [i, again] of queued.slice(1).entries()) {
        assert.match(again.data.reason ?? "", /^nothing recorded for \d+ s after NotificationQueued$/);
        assert.ok(Date.parse(again.occurredAt) - Date.parse(queued[i]!.occurredAt) >= stallAfterMs);
      }
      assert.ok(Date.parse(queued[1]!.occurredAt) >= forgottenAt - 1000);
      assert.deepEqual(
        items.slice(-2).map((e) => e.type),
        ["NotificationStarted", "NotificationSent"],
      );
    }
    assert.ok((await webCounter("herald_stalled_notifications_requeued_total")) >= ids.length);
    await sleep(2000);
    for (const id of ids) assert.equal(sink.countNotification(id), 1, "sent once");
  });
});
