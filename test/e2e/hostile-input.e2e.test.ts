import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { client } from "../support/api-client.ts";
import { eventually, tempDir } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// Hostile input: each case gets a clear answer and changes nothing it should not. Rejected
// requests leave the log (the API's lists) and the blob store as they were; accepted ones
// keep only a sanitized name, shown escaped.

const token = { alice: "alice-" + "a".repeat(32), carol: "carol-" + "c".repeat(32), dave: "dave-" + "d".repeat(32) };
const seed = {
  users: [
    { id: "alice", email: "alice@example.test", name: "Alice", token: token.alice },
    { id: "carol", email: "carol@example.test", name: "Carol", token: token.carol },
    { id: "dave", email: "dave@example.test", name: "Dave", token: token.dave },
  ],
  groups: [
    { id: "design", name: "Design", admins: ["alice"], members: ["carol"] },
    { id: "ops", name: "Ops", admins: ["dave"], members: [] },
  ],
};
const maxUploadBytes = 64 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sink: SmtpSink;
let herald: InProcessHerald;
let api: ReturnType<typeof client>;

before(async () => {
  const seedFile = join(tempDir("seed"), "seed.json");
  writeFileSync(seedFile, JSON.stringify(seed));
  sink = await startSmtpSink();
  herald = await startHeraldInProcess({
    HERALD_SEED: seedFile,
    SMTP_URL: sink.url,
    HERALD_MAX_UPLOAD_BYTES: String(maxUploadBytes),
    HERALD_UPLOAD_IDLE_TIMEOUT_MS: "1000",
  });
  api = client(herald.url);
});
after(async () => {
  await herald?.stop();
  await sink?.close();
});

const blobFiles = () => {
  try {
    return readdirSync(join(herald.dataDir, "blobs"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(join(herald.dataDir, "blobs").length + 1))
      .sort();
  } catch {
    return [];
  }
};
const snapshot = async () => ({
  designUploads: (await api.get("/api/groups/design/uploads", token.alice)).body.items.length,
  opsUploads: (await api.get("/api/groups/ops/uploads", token.dave)).body.items.length,
  designNotifications: (await api.get("/api/groups/design/notifications", token.alice)).body.items.length,
  blobs: blobFiles(),
});

/** A multipart body built byte by byte, for what FormData will not send. */
function multipart(parts: Array<{ headers: string; body: Buffer | string }>, boundary = "herald-test-boundary") {
  const chunks = parts.flatMap((p) => [
    Buffer.from(`--${boundary}\r\n${p.headers}\r\n\r\n`, "latin1"),
    Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body),
    Buffer.from("\r\n"),
  ]);
  return {
    body: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

function rawPost(path: string, bearer: string, contentType: string, body: Buffer) {
  return new Promise<{ status: number; contentType: string; body: any }>((resolve, reject) => {
    const req = request(
      `${herald.url}${path}`,
      { method: "POST", headers: { authorization: `Bearer ${bearer}`, "content-type": contentType } },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () =>
          resolve({ status: res.statusCode!, contentType: res.headers["content-type"] ?? "", body: JSON.parse(text) }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A form of `count` parts: fields, then the `file` part last. */
const formOfParts = (count: number) => [
  ...Array.from({ length: count - 1 }, (_, i) => ({
    headers: `Content-Disposition: form-data; name="f${i}"`,
    body: "x",
  })),
  { headers: 'Content-Disposition: form-data; name="file"; filename="a.txt"', body: "x" },
];

const problem = (res: { status: number; contentType: string; body: any }, status: number, slug: string) => {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.contentType, /^application\/problem\+json/);
  assert.equal(res.body.type, `urn:herald:problem:${slug}`);
};

describe("rejected: the answer, and nothing recorded or kept", () => {
  let before: Awaited<ReturnType<typeof snapshot>>;
  const unchanged = async () => assert.deepEqual(await snapshot(), before);
  it("takes a snapshot", async () => {
    before = await snapshot();
  });

  it("a zero-byte file: 400", async () => {
    problem(await api.upload("design", token.carol, { name: "empty.txt", content: "" }), 400, "bad-request");
    await unchanged();
  });

  it("a multipart bomb (thousands of parts): 400", async () => {
    const parts = Array.from({ length: 5000 }, (_, i) => ({
      headers: `Content-Disposition: form-data; name="f${i}"`,
      body: "x",
    }));
    const { body, contentType } = multipart([
      ...parts,
      { headers: 'Content-Disposition: form-data; name="file"; filename="a.txt"', body: "x" },
    ]);
    problem(await rawPost("/api/groups/design/uploads", token.carol, contentType, body), 400, "bad-request");
    await unchanged();
  });

  it("one part more than the 20 allowed: 400", async () => {
    const { body, contentType } = multipart(formOfParts(21));
    problem(await rawPost("/api/groups/design/uploads", token.carol, contentType, body), 400, "bad-request");
    await unchanged();
  });

  it("a path with bad percent-encoding, inside /api and out: 400 (problem+json from the API, a page from the website), no stack trace", async () => {
    for (const path of ["/api/groups/%zz/uploads", "/api/notifications/%E0%A4%A/history"]) {
      const res = await api.get(path, token.alice);
      problem(res, 400, "bad-request");
      assert.doesNotMatch(JSON.stringify(res.body), /URIError|\bat \S+ \(|node_modules/, path);
    }
    const page = await api.get("/groups/%zz/uploads/x", token.alice);
    assert.equal(page.status, 400);
    assert.match(page.contentType, /^text\/html/);
    assert.match(String(page.body), /percent-encoding/);
    assert.doesNotMatch(String(page.body), /URIError|\bat \S+ \(|node_modules/);
    await unchanged();
  });

  it("two file parts: 400", async () => {
    const { body, contentType } = multipart([
      { headers: 'Content-Disposition: form-data; name="file"; filename="a.txt"', body: "a" },
      { headers: 'Content-Disposition: form-data; name="file"; filename="b.txt"', body: "b" },
    ]);
    problem(await rawPost("/api/groups/design/uploads", token.carol, contentType, body), 400, "bad-request");
    await unchanged();
  });

  it("a wrong content type: 415", async () => {
    problem(
      await rawPost("/api/groups/design/uploads", token.carol, "text/plain", Buffer.from("hi")),
      415,
      "unsupported-media-type",
    );
    problem(
      await rawPost(
        "/api/groups/design/uploads",
        token.carol,
        "application/x-www-form-urlencoded",
        Buffer.from("file=x"),
      ),
      415,
      "unsupported-media-type",
    );
    await unchanged();
  });

  it("forged group ids: 404 for groups that do not exist, 403 for another group", async () => {
    for (const forged of ["..%2Fdesign", "design%00", "DESIGN", "x".repeat(300), "%2e%2e"]) {
      const res = await api.upload(forged, token.carol, { name: "a.txt", content: "x" });
      problem(res, 404, "not-found");
    }
    problem(await api.upload("ops", token.carol, { name: "a.txt", content: "x" }), 403, "forbidden");
    await unchanged();
  });

  it("another group's notification id: 403, for reading and for redriving", async () => {
    const res = await api.upload("ops", token.dave, { name: "ops.txt", content: "ops only" });
    assert.equal(res.status, 202);
    before = await snapshot();
    const [{ notificationId }] = res.body.notifications;
    problem(await api.get(`/api/notifications/${notificationId}`, token.alice), 403, "forbidden");
    problem(await api.get(`/api/notifications/${notificationId}/history`, token.alice), 403, "forbidden");
    problem(await api.post(`/api/notifications/${notificationId}/redrive`, token.alice, ""), 403, "forbidden");
    await unchanged();
  });

  it("one byte over the size limit: 413, the partial blob deleted", async () => {
    const res = await api.upload("design", token.carol, {
      name: "just-over.bin",
      content: new Uint8Array(maxUploadBytes + 1),
    });
    problem(res, 413, "payload-too-large");
    await unchanged();
  });

  it("over the size limit: 413, the partial blob deleted", async () => {
    const res = await api.upload("design", token.carol, {
      name: "big.bin",
      content: new Uint8Array(maxUploadBytes * 4),
    });
    problem(res, 413, "payload-too-large");
    await unchanged();
  });

  it("over the size limit, 200 times in a row: always the 413, never a reset connection", async () => {
    // The answer waits until the rest of the body is read: answering first and closing reset
    // about 1 connection in 100 here, and the client saw "fetch failed" instead of its 413.
    const answers = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const res = await api
        .upload("design", token.carol, { name: "big.bin", content: new Uint8Array(maxUploadBytes * 4) })
        .catch((error: Error) => ({ status: `${error.message} (${(error.cause as Error)?.message})` }));
      answers.set(String(res.status), (answers.get(String(res.status)) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(answers), { "413": 200 });
    await unchanged();
  });

  it("a slow-loris upload (bytes stop coming): 408 after the idle timeout, the partial blob deleted", async () => {
    const { body, contentType } = multipart([
      { headers: 'Content-Disposition: form-data; name="file"; filename="slow.bin"', body: Buffer.alloc(32 * 1024, 1) },
    ]);
    const socket = connect(herald.port, "127.0.0.1");
    const started = Date.now();
    const answer = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (d) => (text += d));
      socket.on("close", () => resolve(text));
    });
    socket.write(
      `POST /api/groups/design/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token.carol}\r\n` +
        `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 20 * 1024)); // then nothing more
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 408/);
    assert.match(text, /urn:herald:problem:request-timeout/);
    assert.ok(Date.now() - started < 10_000, "cut off by the idle timeout, not a global one");
    await unchanged();
  });

  it("an upload refused before its body is read (no token, a forged group): answered, then the connection closed within seconds", async () => {
    // A client that declares 10 MiB and trickles it would otherwise keep its connection until
    // the 10-minute request timeout: a few hundred of them starve everyone else.
    const trickle = async (path: string, authorization: string) => {
      const socket = connect(herald.port, "127.0.0.1");
      const started = Date.now();
      const answer = new Promise<{ text: string; closedAfterMs: number }>((resolve) => {
        let text = "";
        socket.on("data", (d) => (text += d));
        socket.on("error", () => undefined);
        socket.on("close", () => resolve({ text, closedAfterMs: Date.now() - started }));
      });
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\n${authorization}Content-Type: multipart/form-data; boundary=b\r\n` +
          `Content-Length: ${10 * 1024 * 1024}\r\n\r\n`,
      );
      const dribble = setInterval(() => socket.writable && socket.write("x".repeat(100)), 500);
      const result = await Promise.race([
        answer,
        sleep(20_000).then(() => ({ text: "(still open after 20 s)", closedAfterMs: 20_000 })),
      ]);
      clearInterval(dribble);
      socket.destroy();
      return result;
    };
    const unauthenticated = await trickle("/api/groups/design/uploads", "");
    assert.match(unauthenticated.text, /^HTTP\/1\.1 401/);
    assert.match(unauthenticated.text, /connection: close/i);
    assert.ok(unauthenticated.closedAfterMs < 8000, `closed after ${unauthenticated.closedAfterMs} ms`);
    const forged = await trickle("/api/groups/nope/uploads", `Authorization: Bearer ${token.carol}\r\n`);
    assert.match(forged.text, /^HTTP\/1\.1 404/);
    assert.ok(forged.closedAfterMs < 8000, `closed after ${forged.closedAfterMs} ms`);
    await unchanged();
  });
});

describe("accepted: at the documented limits", () => {
  it("a file of exactly HERALD_MAX_UPLOAD_BYTES", async () => {
    const res = await api.upload("design", token.carol, {
      name: "exactly-the-limit.bin",
      content: new Uint8Array(maxUploadBytes),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.size, maxUploadBytes);
  });

  it("a request of exactly 20 parts", async () => {
    const { body, contentType } = multipart(formOfParts(20));
    const res = await rawPost("/api/groups/design/uploads", token.carol, contentType, body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });
});

describe("accepted: names kept safe", () => {
  const uploadNamed = async (name: string) => {
    const res = await api.upload("design", token.carol, { name, content: "x" });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body;
  };

  it("a path-traversal name keeps only its last segment, and the blob stays under its key", async () => {
    const accepted = await uploadNamed("../../../../etc/passwd");
    assert.equal(accepted.filename, "passwd");
    assert.ok(blobFiles().includes(join("design", accepted.uploadId)));
    assert.ok(blobFiles().every((f) => f.startsWith("design") || f.startsWith("ops")));
  });

  it("a 1,000-character name is cut to 255 characters", async () => {
    const accepted = await uploadNamed("n".repeat(996) + ".txt");
    assert.equal(accepted.filename.length, 255);
  });

  it("emoji names are kept as they are", async () => {
    assert.equal((await uploadNamed("🎉 plan ✅.txt")).filename, "🎉 plan ✅.txt");
  });

  it("a name with a bidi override or zero-width characters is kept as it reads: in the API, the list, the download and the email", async () => {
    const accepted = await uploadNamed("invoice\u202etxt.exe");
    assert.equal(accepted.filename, "invoicetxt.exe");
    const listed = (await api.get("/api/groups/design/uploads", token.alice)).body.items;
    assert.equal(
      listed.find((u: { uploadId: string }) => u.uploadId === accepted.uploadId)?.filename,
      "invoicetxt.exe",
    );
    const download = await api.get(`/api/groups/design/uploads/${accepted.uploadId}/content`, token.alice);
    assert.equal(download.status, 200);
    assert.match(download.headers.get("content-disposition") ?? "", /filename="?invoicetxt\.exe"?$/);
    const [{ notificationId }] = accepted.notifications;
    const mail = await eventually(async () =>
      sink.messages.find((m) => m.headers.get("x-herald-notification-id") === notificationId),
    );
    assert.equal(mail!.subject, "[Design] Carol uploaded invoicetxt.exe");
    assert.equal((await uploadNamed("pay\u200bpal\u2066.pdf\u2069")).filename, "paypal.pdf");
  });

  it("a name that is not UTF-8 is accepted with its bad bytes replaced", async () => {
    const { body, contentType } = multipart([
      {
        headers: Buffer.concat([
          Buffer.from('Content-Disposition: form-data; name="file"; filename="caf', "latin1"),
          Buffer.from([0xe9, 0xff]),
          Buffer.from('.txt"', "latin1"),
        ]).toString("latin1"),
        body: "x",
      },
    ]);
    const res = await rawPost("/api/groups/design/uploads", token.carol, contentType, body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.ok(!/[\u0000-\u001f]/.test(res.body.filename));
    assert.match(res.body.filename, /^caf.*\.txt$/);
  });

  it("a name with CR/LF cannot add a mail header; markup in it is escaped in the email", async () => {
    const { body, contentType } = multipart([
      {
        headers:
          "Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''a%0D%0ABcc%3A%20victim%40example.test%0D%0A%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt",
        body: "x",
      },
    ]);
    const res = await rawPost("/api/groups/design/uploads", token.carol, contentType, body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.filename, "aBcc: victim@example.test<img src=x onerror=alert(1)>.txt");
    const [{ notificationId }] = res.body.notifications;
    const mail = await eventually(async () =>
      sink.messages.find((m) => m.headers.get("x-herald-notification-id") === notificationId),
    );
    assert.equal(mail!.subject, "[Design] Carol uploaded aBcc: victim@example.test<img src=x onerror=alert(1)>.txt");
    assert.equal(mail!.bcc, undefined);
    assert.equal(sink.countFor("victim@example.test"), 0);
    assert.ok(!String(mail!.html).includes("<img"), "escaped in the HTML body");
    assert.ok(String(mail!.html).includes("&lt;img src"));
  });
});
