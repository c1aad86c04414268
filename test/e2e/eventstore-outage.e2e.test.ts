import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { type EsdbTestServer, startEsdbTestServer } from "../support/esdb-test-server.ts";
import { eventually, freePort, tempDir } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// EventStoreDB goes away while notifications are in flight. Uploads meanwhile get 503
// problem+json and leave nothing behind; when the store is back, the relay and the notifier
// resume and every accepted upload's emails arrive exactly once.

let sink: SmtpSink;
let store: EsdbTestServer | undefined;
let herald: InProcessHerald | undefined;
after(async () => {
  await herald?.stop();
  await store?.stop();
  await sink?.close();
});

const blobFiles = (dataDir: string) => {
  try {
    return readdirSync(join(dataDir, "blobs"), { recursive: true }).length;
  } catch {
    return 0;
  }
};

it(
  "when the event store is down, uploads get 503 and, once it is back, every accepted email arrives once",
  { timeout: 120_000 },
  async () => {
    const dataFile = join(tempDir("esdb-outage"), "events.jsonl");
    const port = await freePort();
    store = await startEsdbTestServer({ port, dataFile });
    sink = await startSmtpSink({ holdAfter: 2 });
    herald = await startHeraldInProcess({ EVENTSTORE_URL: store.url, SMTP_URL: sink.url, HERALD_RETRY_BASE_MS: "100" });
    const api = client(herald.url);

    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api.upload("design", tokens.carol, { name: `before-${i}.txt`, content: `before ${i}` });
      assert.equal(res.status, 202);
      accepted.push(...res.body.notifications.map((n: { notificationId: string }) => n.notificationId));
    }
    await sink.waitFor(2);

    // The store goes away with four notifications held at the SMTP server or still queued.
    await store.kill();
    sink.release();
    const blobsBefore = blobFiles(herald.dataDir);
    const refused = await api.upload("design", tokens.carol, { name: "during.txt", content: "during" });
    assert.equal(refused.status, 503);
    assert.match(refused.contentType, /^application\/problem\+json/);
    assert.equal(refused.body.type, "urn:herald:problem:unavailable");
    assert.equal(blobFiles(herald.dataDir), blobsBefore, "the refused upload left no blob");
    assert.equal((await api.get("/readyz")).status, 503, "not ready while the log is away");
    await new Promise((r) => setTimeout(r, 2000));

    store = await startEsdbTestServer({ port, dataFile });
    const res = await eventually(
      async () => {
        const r = await api.upload("design", tokens.carol, { name: "after.txt", content: "after" });
        return r.status === 202 ? r : undefined;
      },
      20_000,
      "uploads to be accepted again",
    );
    accepted.push(...res.body.notifications.map((n: { notificationId: string }) => n.notificationId));

    await sink.waitFor(accepted.length, 30_000);
    await new Promise((r) => setTimeout(r, 1000)); // room for a duplicate to show up
    for (const id of accepted) assert.equal(sink.countNotification(id), 1, `notification ${id} emailed once`);
    assert.equal(sink.messages.length, accepted.length);
    const history = await api.get("/api/groups/design/uploads", tokens.carol);
    assert.deepEqual(
      history.body.items.map((u: { filename: string }) => u.filename).sort(),
      ["after.txt", "before-0.txt", "before-1.txt", "before-2.txt"],
      "the refused upload is not recorded",
    );
  },
);
