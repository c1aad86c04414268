import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { client, notificationWhen, tokens } from "../support/api-client.ts";
import { type Sidecar, startSidecar } from "../support/daprd.ts";
import { type LocalDaprHerald, startLocalDaprHerald } from "../support/dapr-topology.ts";
import { eventually, type HeraldProcess, startHerald } from "../support/herald-process.ts";

// Two web replicas in Dapr mode, as a Deployment with replicas: 2 runs them: each has its
// sidecar, both serve uploads, and the relay runs in the one that holds the relay's lease (in
// the state store, Redis here). Without the lease both relays would queue every notification:
// two NotificationQueued events and two messages for each. Leases last 3 s here.

let local: LocalDaprHerald;
let second: { web: HeraldProcess; sidecar: Sidecar };
const leaseMs = "3000";

before(async () => {
  local = await startLocalDaprHerald({ HERALD_RELAY_LEASE_MS: leaseMs });
  const sidecar = await startSidecar({
    appId: "web",
    resources: "components/local",
    env: { REDIS_HOST: local.redis.host },
  });
  const web = await startHerald({
    HERALD_MODE: "dapr",
    EVENTSTORE_URL: local.herald.store.url,
    SMTP_URL: local.sink.url,
    HERALD_QUEUE_REDIS_HOST: local.redis.host,
    HERALD_RELAY_LEASE_MS: leaseMs,
    LOG_LEVEL: "info",
    DAPR_HTTP_PORT: String(sidecar.httpPort),
  });
  second = { web, sidecar };
});
after(async () => {
  await second?.web.stop().catch(() => undefined);
  await second?.sidecar.stop().catch(() => undefined);
  await local?.stop();
});

const isLeader = async (web: HeraldProcess) => {
  const text = await (await fetch(`${web.url}/metrics`)).text();
  return /^herald_relay_leader 1$/m.test(text);
};
const leaders = async () => {
  const webs = [local.herald.web, second.web];
  const flags = await Promise.all(webs.map((w) => isLeader(w).catch(() => false)));
  return webs.filter((_, i) => flags[i]);
};

async function uploadThrough(web: HeraldProcess, name: string) {
  const res = await client(web.url).upload("design", tokens.carol, { name, content: name });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.notifications.map((n: { notificationId: string }) => n.notificationId) as string[];
}

describe("Dapr mode, two web replicas: the relay runs in one", () => {
  it("exactly one replica relays; uploads through either are emailed once each, queued once each", async () => {
    const [leader] = await eventually(
      async () => ((await leaders()).length === 1 ? leaders() : undefined),
      15_000,
      "one leader",
    ).catch((error) => {
      throw new Error(`${error.message}\n${local.herald.web.output().slice(-3000)}`);
    });
    assert.ok(leader);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(...(await uploadThrough(i % 2 ? second.web : local.herald.web, `file-${i}.txt`)));
    const api = client(local.herald.web.url);
    for (const id of ids) {
      await notificationWhen(api, id, "sent", 30_000);
      const history = await api.get(`/api/notifications/${id}/history`, tokens.alice);
      const types = (history.body.items as Array<{ type: string }>).map((e) => e.type);
      assert.equal(types.filter((t) => t === "NotificationQueued").length, 1, `${id}: ${types.join(" > ")}`);
    }
    await new Promise((r) => setTimeout(r, 2000)); // any second copy would be delivered by now
    for (const id of ids) assert.equal(local.sink.countNotification(id), 1, id);
    assert.equal((await leaders()).length, 1, "still one leader");
  });

  it("when the leader is killed, the other replica takes the relay over within the lease and relays what came meanwhile", async () => {
    const [leader] = await leaders();
    const survivor = leader === local.herald.web ? second.web : local.herald.web;
    const killedAt = Date.now();
    await leader!.kill();
    // Uploaded while no replica relays: recorded at once, queued once the survivor leads.
    const ids = await uploadThrough(survivor, "during-handover.txt");
    await eventually(async () => ((await isLeader(survivor)) ? true : undefined), 20_000, "the survivor leading");
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs < 3 * Number(leaseMs), `took over after ${tookMs} ms`);
    const api = client(survivor.url);
    for (const id of ids) {
      await notificationWhen(api, id, "sent", 30_000);
      assert.equal(local.sink.countNotification(id), 1);
    }
  });
});
