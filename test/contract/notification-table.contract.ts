import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { NotificationRecord, NotificationTable } from "@herald/core";

// The behaviour every NotificationTable adapter must have. Each backend's test file calls this
// with a factory; what passes here is what the notifier relies on to claim a notification: of
// two deliveries of one message, only the one whose write names the current ETag goes on.

export type NotificationTableFactory = {
  name: string;
  open(): Promise<NotificationTable>;
  /** Removes what open() created (sidecars, stores, folders). */
  cleanup?(): Promise<void>;
};

/** Every case is bounded: a backend that hangs fails the case instead of the run. */
const CASE = { timeout: 30_000 };

function record(overrides: Partial<NotificationRecord> = {}): NotificationRecord {
  return {
    notificationId: randomUUID(),
    uploadId: randomUUID(),
    groupId: "design",
    recipientId: "alice",
    recipient: "alice@example.test",
    status: "requested",
    attempts: 0,
    requestedAt: "2026-01-02T03:04:05.000Z",
    startedAt: null,
    completedAt: null,
    lastError: null,
    leaseUntil: null,
    ...overrides,
  };
}

/** The notifier's claim: status sending, one more attempt, a lease. */
const claimed = (r: NotificationRecord, leaseUntil = "2026-01-02T03:05:05.000Z"): NotificationRecord => ({
  ...r,
  status: "sending",
  attempts: r.attempts + 1,
  startedAt: r.startedAt ?? "2026-01-02T03:04:06.000Z",
  leaseUntil,
});

export function notificationTableContract(factory: NotificationTableFactory) {
  describe(`NotificationTable contract: ${factory.name}`, () => {
    let table: NotificationTable;
    before(async () => {
      table = await factory.open();
    });
    after(async () => {
      await factory.cleanup?.();
    });

    async function row(notificationId: string) {
      const found = await table.get(notificationId);
      assert.ok(found, `row ${notificationId} not found`);
      assert.equal(typeof found.etag, "string");
      assert.ok(found.etag.length > 0, "a row must come with a non-empty ETag");
      return found;
    }

    it("reads a notification never written as null", CASE, async () => {
      assert.equal(await table.get(randomUUID()), null);
    });

    it("creates a row with 'absent', and reads back every field as written", CASE, async () => {
      const r = record({
        lastError: "421 try later",
        attempts: 2,
        status: "retrying",
        startedAt: "2026-01-02T03:04:06.000Z",
      });
      assert.equal(await table.put(r, "absent"), true);
      const found = await row(r.notificationId);
      assert.deepEqual(found.record, r);
    });

    it("refuses a second create with 'absent' and keeps the first row", CASE, async () => {
      const first = record();
      assert.equal(await table.put(first, "absent"), true);
      const { etag } = await row(first.notificationId);
      const second = { ...first, recipient: "mallory@example.test" };
      assert.equal(await table.put(second, "absent"), false, "the row exists: 'absent' must fail");
      const found = await row(first.notificationId);
      assert.deepEqual(found.record, first);
      assert.equal(found.etag, etag, "a refused write must not change the ETag");
    });

    it("takes a write that names the ETag just read, and gives the row a new ETag", CASE, async () => {
      const r = record();
      await table.put(r, "absent");
      const read = await row(r.notificationId);
      const next = claimed(read.record);
      assert.equal(await table.put(next, { etag: read.etag }), true);
      const after = await row(r.notificationId);
      assert.deepEqual(after.record, next);
      assert.notEqual(after.etag, read.etag, "a write must change the ETag");
    });

    it("refuses a write with a stale ETag and leaves the row as it was", CASE, async () => {
      const r = record();
      await table.put(r, "absent");
      const stale = await row(r.notificationId);
      const winner = claimed(stale.record);
      assert.equal(await table.put(winner, { etag: stale.etag }), true);
      const current = await row(r.notificationId);

      const loser = { ...stale.record, status: "sent" as const, completedAt: "2026-01-02T03:06:00.000Z" };
      assert.equal(await table.put(loser, { etag: stale.etag }), false, "a stale ETag must be refused");
      const found = await row(r.notificationId);
      assert.deepEqual(found.record, winner);
      assert.equal(found.etag, current.etag);
    });

    it("writes with 'any' whatever is there: creates, then overwrites, and the old ETag goes stale", CASE, async () => {
      const r = record();
      assert.equal(await table.put(r, "any"), true, "'any' creates a missing row");
      const created = await row(r.notificationId);
      assert.deepEqual(created.record, r);

      const overwritten = {
        ...r,
        status: "failed" as const,
        lastError: "550 no such user",
        completedAt: "2026-01-02T03:07:00.000Z",
      };
      assert.equal(await table.put(overwritten, "any"), true, "'any' overwrites an existing row");
      const found = await row(r.notificationId);
      assert.deepEqual(found.record, overwritten);
      assert.notEqual(found.etag, created.etag);
      assert.equal(await table.put(claimed(r), { etag: created.etag }), false, "the ETag before 'any' is stale");
      assert.deepEqual((await row(r.notificationId)).record, overwritten);
    });

    it("writes with 'any' over a row claimed with an ETag (a notifier recording its outcome)", CASE, async () => {
      const r = record();
      assert.equal(await table.put(r, "absent"), true);
      const created = await row(r.notificationId);
      assert.equal(await table.put(claimed(r), { etag: created.etag }), true, "the claim");
      const done = { ...r, status: "sent" as const, attempts: 1, completedAt: "2026-01-02T03:07:00.000Z" };
      assert.equal(await table.put(done, "any"), true, "'any' overwrites the claimed row");
      assert.deepEqual((await row(r.notificationId)).record, done);
    });

    it(
      "lets exactly one of two concurrent writers with the same ETag win, and keeps the winner's write",
      CASE,
      async () => {
        const r = record();
        await table.put(r, "absent");
        const { etag } = await row(r.notificationId);
        const a = claimed(r, "2026-01-02T03:05:00.000Z");
        const b = claimed(r, "2026-01-02T03:09:00.000Z");
        const results = await Promise.all([table.put(a, { etag }), table.put(b, { etag })]);
        assert.equal(results.filter(Boolean).length, 1, `results: ${results}`);
        const found = await row(r.notificationId);
        assert.deepEqual(found.record, results[0] ? a : b, "the row must hold the winner's write");
      },
    );

    it("lets exactly one of several concurrent claims win, however many deliveries race", CASE, async () => {
      const r = record();
      await table.put(r, "absent");
      const { etag } = await row(r.notificationId);
      const racers = Array.from({ length: 8 }, (_, i) => claimed(r, `2026-01-02T03:1${i}:00.000Z`));
      const results = await Promise.all(racers.map((x) => table.put(x, { etag })));
      assert.equal(results.filter(Boolean).length, 1, `results: ${results}`);
      const winner = racers[results.indexOf(true)]!;
      assert.deepEqual((await row(r.notificationId)).record, winner);
    });

    it("lets exactly one of two concurrent creators win with 'absent'", CASE, async () => {
      const id = randomUUID();
      const a = record({ notificationId: id, recipient: "a@example.test" });
      const b = record({ notificationId: id, recipient: "b@example.test" });
      const results = await Promise.all([table.put(a, "absent"), table.put(b, "absent")]);
      assert.equal(results.filter(Boolean).length, 1, `results: ${results}`);
      assert.deepEqual((await row(id)).record, results[0] ? a : b);
    });

    it("keeps rows apart: writing one notification leaves another's row and ETag alone", CASE, async () => {
      const one = record();
      const two = record({ uploadId: one.uploadId, recipientId: "bob", recipient: "bob@example.test" });
      await table.put(one, "absent");
      await table.put(two, "absent");
      const before = await row(two.notificationId);
      const read = await row(one.notificationId);
      assert.equal(await table.put(claimed(one), { etag: read.etag }), true);
      const after = await row(two.notificationId);
      assert.deepEqual(after.record, two);
      assert.equal(after.etag, before.etag);
    });
  });
}
