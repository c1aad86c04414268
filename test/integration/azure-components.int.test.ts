import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Azurite, startAzurite } from "../support/azurite.ts";

// Proves components/azure/*.yaml with a real daprd against Azurite, without any Herald code:
// web sidecar (no app) → notification-queue-out → Azure Storage queue → notification-queue →
// tiny HTTP app; the notification-state table store shared by both sidecars; component scopes.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const RESOURCES = join(repoRoot, "components", "azure");
const DAPRD = process.env.DAPRD || join(homedir(), ".cache", "herald", "daprd-v1.18.2", "daprd");
/** Small so that the redelivery test is quick; production sets 30s. */
const VISIBILITY_TIMEOUT_S = 2;
const STARTUP_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 8_000;

type Delivery = { body: string; headers: IncomingHttpHeaders; at: number; status: number };

/** The notifier stand-in: records POST /notification-queue, answers 200 (or 500 when told). */
class TinyApp {
  readonly deliveries: Delivery[] = [];
  /** Message ids (body.id) whose first delivery is answered with 500. */
  readonly failFirstDelivery = new Set<string>();
  private readonly waiters: Array<() => void> = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url !== "/notification-queue") {
          res.writeHead(404).end();
          return;
        }
        if (req.method === "OPTIONS") {
          res.writeHead(200).end();
          return;
        }
        if (req.method !== "POST") {
          res.writeHead(405).end();
          return;
        }
        const body = Buffer.concat(chunks).toString("utf8");
        let status = 200;
        try {
          const id = (JSON.parse(body) as { id?: unknown }).id;
          if (typeof id === "string" && this.failFirstDelivery.delete(id)) status = 500;
        } catch {
          // not JSON: recorded as is, answered 200
        }
        this.deliveries.push({ body, headers: req.headers, at: Date.now(), status });
        res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "fail");
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Resolves with the deliveries whose body has this id, once there are at least `count`. */
  async waitFor(id: string, count: number, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.deliveries.filter((d) => {
        try {
          return (JSON.parse(d.body) as { id?: unknown }).id === id;
        } catch {
          return false;
        }
      });
      if (got.length >= count) return got;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `expected ${count} deliveries of ${id} within ${timeoutMs} ms, got ${got.length}; all deliveries: ` +
            JSON.stringify(this.deliveries.map((d) => ({ body: d.body, status: d.status }))),
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function freePort(): Promise<number> {
  return await new Promise<number>((r, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => r(port));
    });
  });
}

type Sidecar = { appId: string; httpPort: number; url: string; proc: ChildProcess; output: () => string };

const usedPorts = new Set<number>();
async function uniqueFreePort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (!usedPorts.has(p)) {
      usedPorts.add(p);
      return p;
    }
  }
}

async function startDaprd(appId: string, env: NodeJS.ProcessEnv, appPort?: number): Promise<Sidecar> {
  const httpPort = await uniqueFreePort();
  const args = [
    "--app-id",
    appId,
    "--resources-path",
    RESOURCES,
    "--dapr-http-port",
    String(httpPort),
    "--dapr-grpc-port",
    String(await uniqueFreePort()),
    "--dapr-internal-grpc-port",
    String(await uniqueFreePort()),
    "--metrics-port",
    String(await uniqueFreePort()),
    "--log-level",
    "warn",
    "--dapr-graceful-shutdown-seconds",
    "1",
  ];
  if (appPort !== undefined) args.push("--app-port", String(appPort));
  const proc = spawn(DAPRD, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (c: Buffer) => {
    out = (out + c.toString("utf8")).slice(-16_000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  proc.on("error", (err) => {
    out += `\nspawn error: ${err.message}`;
  });
  return { appId, httpPort, url: `http://127.0.0.1:${httpPort}`, proc, output: () => out };
}

async function waitHealthy(s: Sidecar): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
      throw new Error(`daprd ${s.appId} exited (${s.proc.exitCode ?? s.proc.signalCode}); output:\n${s.output()}`);
    }
    try {
      const r = await fetch(`${s.url}/v1.0/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (r.status === 204) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`daprd ${s.appId} not healthy within ${STARTUP_TIMEOUT_MS} ms (${last}); output:\n${s.output()}`);
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = (ms: number) =>
    new Promise<boolean>((r) => {
      if (p.exitCode !== null || p.signalCode !== null) return r(true);
      const t = setTimeout(() => r(false), ms);
      p.once("exit", () => {
        clearTimeout(t);
        r(true);
      });
    });
  p.kill("SIGTERM");
  if (await exited(STOP_TIMEOUT_MS)) return;
  p.kill("SIGKILL");
  await exited(STOP_TIMEOUT_MS);
}

async function call(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

describe("components/azure with daprd against Azurite", { timeout: 120_000 }, () => {
  let azurite: Azurite | undefined;
  const app = new TinyApp();
  let web: Sidecar | undefined;
  let notifier: Sidecar | undefined;

  before(async () => {
    // Fail loudly, never skip: these components are what runs in the cloud.
    if (!existsSync(DAPRD)) {
      throw new Error(
        `daprd not found at ${DAPRD}: build it (see /work/shared/notes/dapr.md) or set DAPRD to a daprd v1.18.x binary`,
      );
    }
    azurite = await startAzurite();
    await app.start();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...azurite.env,
      AZURE_QUEUE_VISIBILITY_TIMEOUT: `${VISIBILITY_TIMEOUT_S}s`,
    };
    web = await startDaprd("web", env);
    notifier = await startDaprd("notifier", env, app.port);
    await Promise.all([waitHealthy(web), waitHealthy(notifier)]);
  });

  after(async () => {
    await Promise.allSettled([web, notifier].map((s) => (s ? stopProcess(s.proc) : undefined)));
    await app.stop();
    await azurite?.stop();
  });

  it("delivers what the web sidecar sends to the notifier app, as the same JSON, dequeuecount 1", async () => {
    const id = randomUUID();
    const sent = {
      id,
      kind: "upload-notification",
      uploadId: "u-42",
      recipients: ["admin@example.org", "ops@example.org"],
      subject: 'Ünïcode & <html> "quotes" \\ slashes',
      nested: { n: 1.5, big: 9007199254740991, flag: true, none: null, empty: [] },
    };
    const r = await call("POST", `${web!.url}/v1.0/bindings/notification-queue-out`, {
      operation: "create",
      data: sent,
    });
    assert.ok(r.status === 200 || r.status === 204, `output binding answered ${r.status}: ${r.text}`);

    const [d] = await app.waitFor(id, 1);
    assert.ok(d);
    assert.deepEqual(JSON.parse(d.body), sent);
    // daprd forwards binding metadata as HTTP headers, key lower-cased: dequeueCount -> dequeuecount.
    assert.equal(d.headers["dequeuecount"], "1");
    assert.ok(d.headers["messageid"], "messageid header");
    assert.ok(d.headers["insertiontime"], "insertiontime header");
    assert.match(String(d.headers["content-type"]), /^application\/json/);
    // 200 → the binding deleted it: no second delivery after the visibility timeout.
    await new Promise((res) => setTimeout(res, (VISIBILITY_TIMEOUT_S + 1.5) * 1000));
    assert.equal((await app.waitFor(id, 1)).length, 1);
  });

  it("redelivers a message the app failed (500) after the visibility timeout, with dequeuecount 2", async () => {
    const id = randomUUID();
    app.failFirstDelivery.add(id);
    const sent = { id, kind: "upload-notification", attempt: "fail-first" };
    const r = await call("POST", `${web!.url}/v1.0/bindings/notification-queue-out`, {
      operation: "create",
      data: sent,
    });
    assert.ok(r.status === 200 || r.status === 204, `output binding answered ${r.status}: ${r.text}`);

    const [first, second] = await app.waitFor(id, 2);
    assert.ok(first && second);
    assert.equal(first.status, 500);
    assert.equal(first.headers["dequeuecount"], "1");
    assert.equal(second.status, 200);
    assert.equal(second.headers["dequeuecount"], "2");
    assert.equal(second.headers["messageid"], first.headers["messageid"]);
    assert.deepEqual(JSON.parse(second.body), sent);
    const gap = second.at - first.at;
    assert.ok(gap >= VISIBILITY_TIMEOUT_S * 1000 - 300, `redelivered after ${gap} ms, before the visibility timeout`);
  });

  // The table store's ETag behaviour is the NotificationTable contract's
  // (test/contract/notification-table-dapr.contract.test.ts); here, only what the topology adds.

  it("scopes: web gets only the output binding; notifier the input, the poison output, the output (to publish a message again) and the digests' cron binding", async () => {
    type Meta = { id: string; components?: Array<{ name: string; type: string; capabilities?: string[] }> };
    const meta = async (s: Sidecar) => {
      const r = await call("GET", `${s.url}/v1.0/metadata`);
      assert.equal(r.status, 200, r.text);
      const m = JSON.parse(r.text) as Meta;
      return new Map((m.components ?? []).map((c) => [c.name, c]));
    };
    const w = await meta(web!);
    assert.deepEqual([...w.keys()].sort(), ["notification-queue-out", "notification-state"]);
    assert.deepEqual(w.get("notification-queue-out")?.capabilities, ["OUTPUT_BINDING"]);
    assert.equal(w.get("notification-queue-out")?.type, "bindings.azure.storagequeues");
    assert.equal(w.get("notification-state")?.type, "state.azure.tablestorage");

    const n = await meta(notifier!);
    assert.deepEqual([...n.keys()].sort(), [
      "digest-schedule",
      "notification-poison",
      "notification-queue",
      "notification-queue-out",
      "notification-state",
    ]);
    assert.deepEqual(n.get("digest-schedule")?.capabilities, ["INPUT_BINDING"]);
    assert.equal(n.get("digest-schedule")?.type, "bindings.cron");
    assert.deepEqual(n.get("notification-queue")?.capabilities, ["INPUT_BINDING"]);
    assert.deepEqual(n.get("notification-queue-out")?.capabilities, ["OUTPUT_BINDING"]);
    assert.deepEqual(n.get("notification-poison")?.capabilities, ["OUTPUT_BINDING"]);

    // and the web sidecar cannot use the input component as an output
    const r = await call("POST", `${web!.url}/v1.0/bindings/notification-queue`, { operation: "create", data: {} });
    assert.notEqual(r.status, 200);
    assert.notEqual(r.status, 204);
  });
});
