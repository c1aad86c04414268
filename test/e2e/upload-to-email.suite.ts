import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { eventually } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// Herald started as `npm start` starts it, mail going to a real SMTP server: the whole story
// from upload to email to history, and what each bad request gets. Run once per event-log
// backend (see the *.e2e.test.ts files that call it).

const maxUploadBytes = 64 * 1024;

const filesUnder = (dir: string): string[] => {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
};

export function uploadToEmailSuite(backend: string, extraEnv: () => Promise<Record<string, string>>) {
  let herald: InProcessHerald;
  let sink: SmtpSink;
  let api: ReturnType<typeof client>;

  before(async () => {
    sink = await startSmtpSink();
    herald = await startHeraldInProcess({
      ...(await extraEnv()),
      SMTP_URL: sink.url,
      MAIL_FROM: "Herald <herald@example.test>",
      HERALD_MAX_UPLOAD_BYTES: String(maxUploadBytes),
      HERALD_PUBLIC_URL: "http://herald.example.test",
    });
    api = client(herald.url);
  });

  after(async () => {
    await herald?.stop();
    await sink?.close();
  });

  describe(`${backend}: when a member uploads a file to a group`, () => {
    const content = "quarterly numbers\n".repeat(100);
    let accepted: any;

    before(async () => {
      const res = await api.upload("design", tokens.carol, { name: "report Q3.txt", content });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      accepted = res.body;
    });

    it("answers 202 with the upload's size, sha256 and one notification per admin", () => {
      assert.equal(accepted.groupId, "design");
      assert.equal(accepted.filename, "report Q3.txt");
      assert.equal(accepted.size, Buffer.byteLength(content));
      assert.equal(accepted.sha256, createHash("sha256").update(content).digest("hex"));
      assert.deepEqual(accepted.notifications.map((n: any) => n.recipient).sort(), [
        "alice@example.test",
        "bob@example.test",
      ]);
    });

    it("emails each admin exactly once, naming the group, the file, the uploader, its size and a link", async () => {
      await sink.waitFor(2);
      await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up, if there were one
      assert.equal(sink.countFor("alice@example.test"), 1);
      assert.equal(sink.countFor("bob@example.test"), 1);
      assert.equal(sink.countFor("carol@example.test"), 0, "members who are not admins get no email");
      for (const mail of sink.messages) {
        assert.equal(mail.subject, "[Design Team] Carol Member uploaded report Q3.txt");
        assert.equal(mail.from?.value[0]?.address, "herald@example.test");
        const link = `http://herald.example.test/groups/design/uploads/${accepted.uploadId}`;
        for (const body of [mail.text ?? "", String(mail.html)]) {
          assert.match(body, /Carol Member/);
          assert.match(body, /report Q3\.txt/);
          assert.match(body, /1\.8 KiB \(1800 bytes\)/);
          assert.ok(body.includes(link), `body links to ${link}`);
        }
      }
    });

    it("lists the upload for members of the group", async () => {
      const res = await api.get("/api/groups/design/uploads", tokens.carol);
      assert.equal(res.status, 200);
      const item = res.body.items.find((u: any) => u.uploadId === accepted.uploadId);
      assert.equal(item.filename, "report Q3.txt");
      assert.equal(item.uploaderId, "carol");
    });

    it("serves the uploaded bytes back to members", async () => {
      const res = await api.get(`/api/groups/design/uploads/${accepted.uploadId}/content`, tokens.carol);
      assert.equal(res.status, 200);
      assert.equal(res.body, content);
    });

    it("shows admins each notification as sent, with its timestamps and one attempt", async () => {
      const items = await eventually(
        async () => {
          const res = await api.get("/api/groups/design/notifications", tokens.alice);
          const mine = res.body.items.filter((n: any) => n.uploadId === accepted.uploadId);
          return mine.length === 2 && mine.every((n: any) => n.status === "sent") ? mine : undefined;
        },
        10_000,
        "notifications to be sent",
      );
      for (const n of items) {
        assert.equal(n.attempts, 1);
        assert.equal(n.lastError, null);
        assert.ok(Date.parse(n.requestedAt) <= Date.parse(n.startedAt));
        assert.ok(Date.parse(n.startedAt) <= Date.parse(n.completedAt));
      }
      const one = await api.get(`/api/notifications/${items[0].notificationId}`, tokens.bob);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body, items[0]);
    });

    it("records the history of a notification in order: requested, queued, started, sent", async () => {
      const { notificationId } = accepted.notifications[0];
      const res = await api.get(`/api/notifications/${notificationId}/history`, tokens.alice);
      assert.equal(res.status, 200);
      const types = res.body.items.map((e: any) => e.type);
      assert.deepEqual(types, [
        "NotificationRequested",
        "NotificationQueued",
        "NotificationStarted",
        "NotificationSent",
      ]);
      const times = res.body.items.map((e: any) => Date.parse(e.occurredAt));
      assert.ok(times.every((t: number, i: number) => !Number.isNaN(t) && (i === 0 || t >= times[i - 1]!)));
      assert.equal(res.body.items[2].data.attempt, 1);
    });
  });

  describe(`${backend}: when a request is wrong, it gets its status as problem+json and changes nothing`, () => {
    const problem = (res: { status: number; contentType: string; body: any }, status: number, slug: string) => {
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match(res.contentType, /^application\/problem\+json/);
      assert.equal(res.body.status, status);
      assert.equal(res.body.type, `urn:herald:problem:${slug}`);
      assert.equal(typeof res.body.title, "string");
      assert.equal(typeof res.body.detail, "string");
    };

    let uploadsBefore: number;
    let blobsBefore: string[];
    before(async () => {
      uploadsBefore = (await api.get("/api/groups/design/uploads", tokens.alice)).body.items.length;
      blobsBefore = filesUnder(join(herald.dataDir, "blobs"));
    });
    after(async () => {
      assert.equal((await api.get("/api/groups/design/uploads", tokens.alice)).body.items.length, uploadsBefore);
      assert.deepEqual(filesUnder(join(herald.dataDir, "blobs")), blobsBefore, "no blob kept for a rejected upload");
    });

    it("401 without a token, or with an unknown one", async () => {
      problem(await api.upload("design", undefined, { name: "a.txt", content: "x" }), 401, "unauthorized");
      problem(await api.upload("design", "not-a-token", { name: "a.txt", content: "x" }), 401, "unauthorized");
      problem(await api.get("/api/groups/design/uploads", "Basic abc"), 401, "unauthorized");
    });

    it("403 when the user is not in the group, or not an admin where admins only may look", async () => {
      problem(await api.upload("design", tokens.dave, { name: "a.txt", content: "x" }), 403, "forbidden");
      problem(await api.get("/api/groups/design/uploads", tokens.dave), 403, "forbidden");
      problem(await api.get("/api/groups/design/notifications", tokens.carol), 403, "forbidden");
      const [n] = (await api.get("/api/groups/design/notifications", tokens.alice)).body.items;
      problem(await api.get(`/api/notifications/${n.notificationId}`, tokens.carol), 403, "forbidden");
      problem(await api.get(`/api/notifications/${n.notificationId}/history`, tokens.dave), 403, "forbidden");
    });

    it("404 for an unknown group or notification", async () => {
      problem(await api.upload("no-such-group", tokens.alice, { name: "a.txt", content: "x" }), 404, "not-found");
      problem(await api.get("/api/notifications/no-such-id", tokens.alice), 404, "not-found");
      problem(await api.get("/api/notifications/no-such-id/history", tokens.alice), 404, "not-found");
    });

    it("415 when the body is not multipart", async () => {
      const res = await api.post("/api/groups/design/uploads", tokens.carol, JSON.stringify({ file: "x" }), {
        "content-type": "application/json",
      });
      problem(res, 415, "unsupported-media-type");
    });

    it("400 when there is no part named file", async () => {
      const form = new FormData();
      form.append("document", new Blob(["x"]), "a.txt");
      form.append("note", "hello");
      problem(await api.post("/api/groups/design/uploads", tokens.carol, form), 400, "bad-request");
    });

    it("400 when the multipart body is malformed", async () => {
      const res = await api.post("/api/groups/design/uploads", tokens.carol, "--nope\r\nthis is not multipart", {
        "content-type": "multipart/form-data; boundary=expected",
      });
      problem(res, 400, "bad-request");
      const noBoundary = await api.post("/api/groups/design/uploads", tokens.carol, "x", {
        "content-type": "multipart/form-data",
      });
      problem(noBoundary, 400, "bad-request");
    });

    it("413 when the file is over the limit: cut off, nothing recorded, no blob kept", async () => {
      const res = await api.upload("design", tokens.carol, {
        name: "big.bin",
        content: new Uint8Array(maxUploadBytes + 1),
      });
      problem(res, 413, "payload-too-large");
      // Far over the limit: the answer comes without Herald reading the whole body.
      const huge = await api.upload("design", tokens.carol, {
        name: "huge.bin",
        content: new Uint8Array(64 * 1024 * 1024),
      });
      problem(huge, 413, "payload-too-large");
    });
  });
}
