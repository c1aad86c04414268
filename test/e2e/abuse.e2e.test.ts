import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { get } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { eventually } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";

// Abuse that is not malformed input: clients that start downloads and walk away, and other
// users of the machine looking at what Herald keeps on disk. Herald runs in this process, so
// its open files are this process's (/proc/self/fd).

const MiB = 1024 * 1024;

let herald: InProcessHerald;
let api: ReturnType<typeof client>;
let upload: { uploadId: string; content: Buffer };

before(async () => {
  // No SMTP_URL: mail goes to the outbox folder, blobs to the blobs folder, both in the data dir.
  herald = await startHeraldInProcess();
  api = client(herald.url);
  // Larger than loopback socket buffers take at once, so an abandoned download is left mid-file.
  const content = randomBytes(8 * MiB);
  const res = await api.upload("design", tokens.carol, { name: "big.bin", content: new Uint8Array(content) });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  upload = { uploadId: res.body.uploadId, content };
});
after(async () => {
  await herald?.stop();
});

const contentPath = () => `/api/groups/design/uploads/${upload.uploadId}/content`;
const openFileDescriptors = () => readdirSync("/proc/self/fd").length;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function download(): Promise<Buffer> {
  const res = await fetch(`${herald.url}${contentPath()}`, { headers: { authorization: `Bearer ${tokens.carol}` } });
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

/** A client that reads the first chunk of the download, then goes away. Its own connection. */
function abandonDownload(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(`${herald.url}${contentPath()}`, {
      agent: false,
      headers: { authorization: `Bearer ${tokens.carol}` },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      if (res.statusCode !== 200) return void reject(new Error(`download answered ${res.statusCode}`));
      res.on("error", () => undefined); // the abort we cause
      res.once("data", () => res.destroy());
      res.on("close", () => resolve());
    });
  });
}

/** Polls until at most `limit` descriptors are open; returns how many are. */
async function fileDescriptorsSettle(limit: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = openFileDescriptors();
    if (open <= limit || Date.now() > deadline) return open;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("downloads abandoned by their clients", () => {
  it("close their files, and Herald keeps serving", { timeout: 120_000 }, async (t) => {
    assert.equal(sha256(await download()), sha256(upload.content)); // also warms up what stays open
    const before = openFileDescriptors();

    const abandoned = 300;
    const atOnce = 30;
    for (let started = 0; started < abandoned; started += atOnce) {
      await Promise.all(Array.from({ length: atOnce }, abandonDownload));
    }

    // Slack for sockets still closing and for what the runtime opens on its own.
    const after = await fileDescriptorsSettle(before + 10);
    t.diagnostic(`open file descriptors: ${before} before, ${after} after ${abandoned} abandoned downloads`);
    assert.ok(
      after <= before + 10,
      `${after} descriptors open after ${abandoned} abandoned downloads, ${before} before`,
    );
    assert.equal((await api.get("/healthz")).status, 200);
    assert.equal(sha256(await download()), sha256(upload.content));
  });
});

describe("what Herald keeps on disk", () => {
  const modeOf = (path: string) => statSync(path).mode & 0o777;
  const filesUnder = (dir: string) =>
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));

  it("is readable by Herald's own user only: blobs, emails and their folders", { timeout: 30_000 }, async () => {
    const blobs = join(herald.dataDir, "blobs");
    const outbox = join(herald.dataDir, "outbox");
    // One email per admin of `design` (alice and bob), each an .eml and its .eml.json.
    const emails = await eventually(
      async () => {
        const files = filesUnder(outbox);
        return files.length >= 4 ? files : undefined;
      },
      15_000,
      "the upload's emails in the outbox",
    );

    for (const dir of [blobs, join(blobs, "design"), outbox]) assert.equal(modeOf(dir), 0o700, dir);
    for (const file of [...filesUnder(blobs), ...emails]) assert.equal(modeOf(file), 0o600, file);
  });
});

describe("unauthenticated clients trickling upload bodies", () => {
  it("200 at once are refused (401, then 429 once the address is throttled) and lose their connections within seconds; /healthz answers meanwhile", async () => {
    // Each declares 10 MiB and sends 100 bytes every half second: before, each held its
    // connection until the 10-minute request timeout.
    const trickler = () => {
      const socket = connect(new URL(herald.url).port as unknown as number, "127.0.0.1");
      const started = Date.now();
      let text = "";
      socket.on("data", (d) => (text += d));
      socket.on("error", () => undefined);
      socket.write(
        "POST /api/groups/design/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n" +
          `Content-Length: ${10 * MiB}\r\n\r\n`,
      );
      const dribble = setInterval(() => socket.writable && socket.write("x".repeat(100)), 500);
      return new Promise<{ text: string; ms: number }>((resolve) =>
        socket.on("close", () => {
          clearInterval(dribble);
          resolve({ text, ms: Date.now() - started });
        }),
      );
    };
    const closed = Promise.all(Array.from({ length: 200 }, trickler));
    const healthMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
      healthMs.push(Date.now() - t);
      await new Promise((r) => setTimeout(r, 500));
    }
    const results = await closed;
    assert.ok(
      results.every((r) => /^HTTP\/1\.1 (401|429)/.test(r.text)),
      "every one refused with an answer, not a reset",
    );
    const slowest = Math.max(...results.map((r) => r.ms));
    assert.ok(slowest < 10_000, `the last connection closed after ${slowest} ms`);
    assert.ok(Math.max(...healthMs) < 1000, `/healthz took ${healthMs.join(", ")} ms`);
  });
});

describe("connections held open", () => {
  it("past HERALD_MAX_CONNECTIONS a new connection is closed at once; the service answers again as soon as they go", async () => {
    const limited = await startHeraldInProcess({ HERALD_MAX_CONNECTIONS: "5" });
    const sockets: Array<ReturnType<typeof connect>> = [];
    try {
      const { port } = limited;
      // Five idle connections take every slot: the sixth is closed by the server, unanswered.
      for (let i = 0; i < 5; i++) {
        const socket = connect(port, "127.0.0.1");
        await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
        sockets.push(socket);
      }
      const sixth = connect(port, "127.0.0.1");
      sockets.push(sixth);
      const closedUnanswered = await new Promise<boolean>((resolve) => {
        let answered = false;
        sixth.once("connect", () => sixth.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
        sixth.on("data", () => (answered = true));
        sixth.once("close", () => resolve(!answered));
        sixth.once("error", () => undefined);
        setTimeout(() => resolve(false), 5000);
      });
      assert.ok(closedUnanswered, "the connection past the limit was closed without an answer");
      for (const socket of sockets) socket.destroy();
      await eventually(async () => ((await fetch(`${limited.url}/healthz`)).status === 200 ? true : undefined), 5000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await limited.stop();
    }
  });
});
