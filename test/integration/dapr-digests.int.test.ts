import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ParsedMail } from "mailparser";
import { client, tokens } from "../support/api-client.ts";
import { startSidecar } from "../support/daprd.ts";
import { startNotifierBehindSidecar } from "../support/dapr-topology.ts";
import { startEsdbTestServer } from "../support/esdb-test-server.ts";
import { eventually, type HeraldProcess, repoRoot, startHerald, tempDir } from "../support/herald-process.ts";
import { startRedis } from "../support/redis.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";
import { writeSeed } from "../support/seed.ts";

// Digests in Dapr mode, as deployed: TWO notifier replicas, each behind its own daprd, each
// sidecar's cron binding (components/local/digest-schedule.yaml, its schedule shortened to
// every second here) calling its replica. Both replicas run the digests every second; the
// window's stream, created with "no stream" expected, lets exactly one request each digest.
// Three admins of one group: alice on a digest (America/New_York), bob immediate, dave off.

const groups = [{ id: "design", name: "Design Team", admins: ["alice", "bob", "dave"], members: ["carol"] }];

const stopping: Array<{ stop(): Promise<void> }> = [];
let sink: SmtpSink;
let web: HeraldProcess;
let notifierPorts: number[];

before(async () => {
  // The components as shipped, but the cron binding firing every second.
  const resources = tempDir("components");
  cpSync(join(repoRoot, "components/local"), resources, { recursive: true });
  const schedule = join(resources, "digest-schedule.yaml");
  const shipped = readFileSync(schedule, "utf8");
  assert.match(shipped, /value: "@every 1m"/);
  writeFileSync(schedule, shipped.replace('"@every 1m"', '"@every 1s"'));

  const seedFile = writeSeed(groups);
  const redis = await startRedis();
  stopping.push(redis);
  const store = await startEsdbTestServer({ dataFile: join(tempDir("esdb"), "events.jsonl") });
  stopping.push(store);
  sink = await startSmtpSink();
  stopping.push({ stop: () => sink.close() });
  const componentEnv = { REDIS_HOST: redis.host };
  const appEnv = {
    HERALD_MODE: "dapr",
    EVENTSTORE_URL: store.url,
    SMTP_URL: sink.url,
    HERALD_QUEUE_REDIS_HOST: redis.host,
    HERALD_SEED: seedFile,
    HERALD_DIGEST_GRACE_SECONDS: "1",
    LOG_LEVEL: "info",
  };
  const keep = <T extends { stop(): Promise<void> }>(_name: string, part: T) => (stopping.push(part), part);
  const replicas = [];
  for (let i = 0; i < 2; i++)
    replicas.push(await startNotifierBehindSidecar({ resources, componentEnv, appEnv, keep }));
  notifierPorts = replicas.map((r) => r.port);
  const webSidecar = keep("daprd web", await startSidecar({ appId: "web", resources, env: componentEnv }));
  web = keep("web", await startHerald({ ...appEnv, DAPR_HTTP_PORT: String(webSidecar.httpPort) }));
});
after(async () => {
  for (const part of stopping.reverse()) await part.stop().catch(() => undefined);
});

const mailsTo = (address: string): ParsedMail[] =>
  sink.messages.filter((m) => [m.to].flat().some((to) => to?.value.some((v) => v.address === address)));
const digestsTo = (address: string) => mailsTo(address).filter((m) => /Daily digest/.test(m.subject ?? ""));

/** A counter of one notifier replica's /metrics (0 when absent). */
async function metric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe("Dapr mode: digests on the cron binding, two notifier replicas", () => {
  it("each admin on a digest gets exactly one per window, listing exactly its uploads; immediate admins one email per upload; off admins nothing", async () => {
    const api = client(web.url);
    // The next whole minute at least 15 s away, as New York's clock shows it.
    const moment = new Date(Math.ceil((Date.now() + 15_000) / 60_000) * 60_000);
    const time = new Intl.DateTimeFormat("en-GB", {
      timeZone: "America/New_York",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(moment);
    const put = (token: string, body: unknown) =>
      fetch(`${web.url}/api/me/preferences`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    assert.equal(
      (await put(tokens.alice, { groups: { design: { digest: { time, timeZone: "America/New_York" } } } })).status,
      200,
    );
    assert.equal((await put(tokens.dave, { groups: { design: "off" } })).status, 200);

    const uploaded: string[] = [];
    for (const name of ["agenda.txt", "minutes.txt"]) {
      const res = await api.upload("design", tokens.carol, { name, content: `${name} content` });
      assert.equal(res.status, 202);
      assert.deepEqual(
        res.body.notifications.map((n: { recipient: string }) => n.recipient),
        ["bob@example.test"],
        "alice waits for her digest, dave is off",
      );
      uploaded.push(res.body.uploadId);
    }
    await eventually(
      async () => (mailsTo("bob@example.test").length === 2 ? true : undefined),
      30_000,
      "bob's two emails",
    );
    assert.ok(Date.now() < moment.getTime(), "the uploads came before the digest time");
    assert.equal(mailsTo("alice@example.test").length, 0);

    const [digest] = await eventually(
      async () => (digestsTo("alice@example.test").length > 0 ? digestsTo("alice@example.test") : undefined),
      Math.max(0, moment.getTime() - Date.now()) + 30_000,
      "alice's digest",
    );
    assert.equal(digest!.subject, "[Design Team] Daily digest: 2 uploads");
    for (const uploadId of uploaded) assert.match(digest!.text ?? "", new RegExp(`/groups/design/uploads/${uploadId}`));

    // Both replicas go on running the digests every second: nothing more is requested.
    const runsBefore = await Promise.all(notifierPorts.map((p) => metric(p, 'herald_digest_runs_total{result="ok"}')));
    await new Promise((r) => setTimeout(r, 5000));
    const runsAfter = await Promise.all(notifierPorts.map((p) => metric(p, 'herald_digest_runs_total{result="ok"}')));
    for (const [i, after] of runsAfter.entries()) {
      assert.ok(
        after >= runsBefore[i]! + 3,
        `replica ${i + 1} ran the digests on its cron binding (${runsBefore[i]} → ${after})`,
      );
    }
    const requested = await Promise.all(notifierPorts.map((p) => metric(p, "herald_digests_requested_total")));
    assert.equal(requested[0]! + requested[1]!, 1, `one request between the two replicas (${requested})`);
    assert.equal(digestsTo("alice@example.test").length, 1, "exactly one digest");
    assert.equal(mailsTo("alice@example.test").length, 1, "and no email per upload");
    assert.equal(mailsTo("bob@example.test").length, 2, "bob: one email per upload, no digest");
    assert.equal(mailsTo("dave@example.test").length, 0, "dave is off");
  });
});
