import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createDigestRunner,
  createLogger,
  createMetrics,
  type DigestRequested,
  type EventLog,
  type NewEvent,
  type RecordedEvent,
} from "@herald/core";
import { createSeedDirectory, openSqliteEventLog, type SqliteEventLog } from "@herald/core/adapters";
import { tempDir } from "../support/herald-process.ts";

// runDigests(now) over a real SQLite event log: the stream named by (admin, group, window end),
// appended expecting no stream, is the only guard. Two runners on one log stand for two
// replicas (or a repeated trigger); a new runner on the same log for a restart. The clock is
// the `now` each run is given.

const directory = createSeedDirectory({
  users: [
    { id: "alice", email: "alice@example.test", name: "Alice Admin", token: "dev-alice-token" },
    { id: "bob", email: "bob@example.test", name: "Bob Admin", token: "dev-bob-token" },
    { id: "carol", email: "carol@example.test", name: "Carol Member", token: "dev-carol-token" },
  ],
  groups: [{ id: "design", name: "Design Team", admins: ["alice", "bob"], members: ["carol"] }],
});
const berlin8 = { digest: { time: "08:00", timeZone: "Europe/Berlin" } };
const kolkata8 = { digest: { time: "08:00", timeZone: "Asia/Kolkata" } };

let store: SqliteEventLog;
before(() => {
  store = openSqliteEventLog(tempDir("digest-runner"));
});
after(() => store.close());

const runner = (log: EventLog = store) =>
  createDigestRunner({
    log,
    directory,
    metrics: createMetrics(),
    logger: createLogger("silent", "test"),
    graceMs: 10_000,
  });

const record = (stream: string, event: NewEvent, occurredAt: string) =>
  store.append(stream, [{ ...event, metadata: { occurredAt } }]);
const choose = (userId: string, preference: typeof berlin8, occurredAt: string) =>
  record(
    `preferences-${userId}`,
    { type: "NotificationPreferenceSet", data: { userId, groupId: "design", preference, setBy: "user" } },
    occurredAt,
  );
let uploads = 0;
async function upload(occurredAt: string) {
  const uploadId = `u${++uploads}`;
  await record(
    `upload-${uploadId}`,
    {
      type: "FileUploaded",
      data: {
        uploadId,
        groupId: "design",
        uploaderId: "carol",
        filename: `${uploadId}.txt`,
        contentType: "text/plain",
        size: 3,
        sha256: "0".repeat(64),
        blobKey: uploadId,
      },
    },
    occurredAt,
  );
  return uploadId;
}
const digests = async () =>
  (await store.readAll({ after: null, maxCount: 10_000 })).filter(
    (e): e is RecordedEvent<DigestRequested> => e.type === "DigestRequested",
  );

describe("runDigests", () => {
  it("when two runners (replicas) run at once and again, then each admin gets exactly one digest per window", async () => {
    await choose("alice", berlin8, "2026-11-20T10:00:00Z"); // 08:00 CET = 07:00Z
    await choose("bob", kolkata8, "2026-11-20T10:00:00Z"); // 08:00 IST = 02:30Z
    const listed = [await upload("2026-11-20T12:00:00Z"), await upload("2026-11-21T01:00:00Z")];
    const now = new Date("2026-11-21T07:05:00Z");
    const [one, two] = [runner(), runner()];
    const runs = await Promise.all([one.runDigests(now), two.runDigests(now), one.runDigests(now)]);
    const requested = runs.reduce((sum, run) => sum + run.requested, 0);
    const refused = runs.reduce((sum, run) => sum + run.alreadyRequested, 0);
    assert.equal(requested, 2, "alice's and bob's");
    assert.ok(refused >= 1, "the others found the streams");
    assert.deepEqual((await two.runDigests(now)).requested, 0);

    const byAdmin = Object.fromEntries((await digests()).map((d) => [d.data.recipientId, d]));
    assert.equal((await digests()).length, 2);
    assert.deepEqual(byAdmin.alice!.data.uploadIds, listed);
    assert.equal(byAdmin.alice!.streamName, "digest-alice:design:2026-11-21T07:00:00.000Z");
    assert.equal(byAdmin.alice!.data.windowStart, "2026-11-20T10:00:00.000Z", "from when she chose the digest");
    assert.deepEqual(byAdmin.bob!.data.uploadIds, listed);
    assert.equal(byAdmin.bob!.data.windowEnd, "2026-11-21T02:30:00.000Z");
  });

  it("when a run stops half-way (the log refuses one append) and the process restarts, then the next run does only what is missing", async () => {
    const u3 = await upload("2026-11-21T12:00:00Z");
    const now = new Date("2026-11-22T07:05:00Z"); // both admins' moments have come
    let appends = 0;
    const failingAfterOne: EventLog = {
      ...store,
      append: (stream, events, options) =>
        ++appends > 1 ? Promise.reject(new Error("the process died here")) : store.append(stream, events, options),
    };
    const halfway = await runner(failingAfterOne).runDigests(now);
    assert.deepEqual(halfway, { requested: 1, alreadyRequested: 0, failed: 1 });

    const restarted = await runner().runDigests(now);
    assert.deepEqual(restarted, { requested: 1, alreadyRequested: 0, failed: 0 });
    const today = (await digests()).filter((d) => d.data.windowEnd.startsWith("2026-11-22"));
    assert.deepEqual(today.map((d) => d.data.recipientId).sort(), ["alice", "bob"]);
    for (const digest of today) assert.deepEqual(digest.data.uploadIds, [u3], "none listed twice");
    assert.deepEqual(await runner().runDigests(now), { requested: 0, alreadyRequested: 0, failed: 0 });
  });

  it("when the moment has come but not its grace, then nothing is requested yet, and the upload stamped just before is in", async () => {
    const justBefore = await upload("2026-11-23T06:59:59.500Z");
    // Bob's window (22 Nov 02:30Z, 23 Nov 02:30Z] is empty; alice's ends at 07:00Z, 5 s ago.
    assert.equal((await runner().runDigests(new Date("2026-11-23T07:00:05Z"))).requested, 0);
    const run = await runner().runDigests(new Date("2026-11-23T07:00:11Z"));
    assert.equal(run.requested, 1);
    const alices = (await digests()).filter((d) => d.data.recipientId === "alice");
    assert.deepEqual(alices.at(-1)!.data.uploadIds, [justBefore]);
  });

  it("when an admin changes the time, then the next window starts where the last one ended", async () => {
    const u5 = await upload("2026-11-23T10:00:00Z");
    await choose("alice", { digest: { time: "20:00", timeZone: "Europe/Berlin" } }, "2026-11-23T11:00:00Z");
    const u6 = await upload("2026-11-23T18:00:00Z");
    await runner().runDigests(new Date("2026-11-23T19:01:00Z")); // 20:00 CET = 19:00Z
    const last = (await digests()).filter((d) => d.data.recipientId === "alice").at(-1)!;
    assert.equal(last.data.windowStart, "2026-11-23T07:00:00.000Z", "the 08:00 digest's end");
    assert.equal(last.data.windowEnd, "2026-11-23T19:00:00.000Z");
    assert.deepEqual(last.data.uploadIds, [u5, u6]);
  });

  it("when a window has no uploads, then nothing is recorded for it, and the next digest starts at the last one's end", async () => {
    const of = async (admin: string) => (await digests()).filter((d) => d.data.recipientId === admin);
    const alicesBefore = (await of("alice")).length;
    const run = await runner().runDigests(new Date("2026-11-24T19:01:00Z"));
    assert.equal((await of("alice")).length, alicesBefore, "alice's window (23 Nov 19:00Z, 24 Nov 19:00Z] is empty");
    // Bob's 23 Nov window (02:30Z to 02:30Z) was empty and left unrecorded; his 24 Nov digest
    // starts where his last recorded one ended.
    assert.equal(run.requested, 1);
    const bobs = (await of("bob")).at(-1)!.data;
    assert.equal(bobs.windowStart, "2026-11-22T02:30:00.000Z");
    assert.equal(bobs.uploadIds.length, 3);
  });
});
