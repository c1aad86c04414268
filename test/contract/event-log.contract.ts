import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { ConcurrencyError, type EventLog, type NewEvent, type RecordedEvent } from "@herald/core";

// The behaviour every EventLog adapter must have. Each backend's test file calls this with a
// factory; what passes here is what the relay, the notifier and the read models rely on.

export type EventLogFactory = {
  name: string;
  open(): Promise<EventLog>;
  /** Removes what open() created. */
  cleanup?(): Promise<void>;
};

const queued = (notificationId: string): NewEvent => ({ type: "NotificationQueued", data: { notificationId } });
const stream = () => `notification-${randomUUID()}`;

async function collect(log: EventLog, after: bigint | null, count: number, timeoutMs = 10_000) {
  const seen: RecordedEvent[] = [];
  let done!: () => void;
  const enough = new Promise<void>((resolve) => (done = resolve));
  const subscription = log.subscribeAll({ after }, async (event) => {
    seen.push(event);
    if (seen.length >= count) done();
  });
  const timer = setTimeout(done, timeoutMs);
  await enough;
  clearTimeout(timer);
  await subscription.stop();
  return seen;
}

export function eventLogContract(factory: EventLogFactory) {
  describe(`EventLog contract: ${factory.name}`, () => {
    let log: EventLog;
    before(async () => {
      log = await factory.open();
    });
    after(async () => {
      await log.close();
      await factory.cleanup?.();
    });

    it("appends several events atomically with consecutive revisions", async () => {
      const s = stream();
      const result = await log.append(s, [queued("a"), queued("b"), queued("c")], { expectedRevision: "no_stream" });
      assert.equal(result.nextRevision, 2n);
      const events = await log.readStream(s);
      assert.deepEqual(
        events.map((e) => e.revision),
        [0n, 1n, 2n],
      );
      assert.deepEqual(
        events.map((e) => (e.data as { notificationId: string }).notificationId),
        ["a", "b", "c"],
      );
      assert.ok(events.every((e, i) => i === 0 || e.position > events[i - 1]!.position));
      assert.equal(events[2]!.position, result.position);
      assert.ok(!Number.isNaN(Date.parse(events[0]!.metadata.occurredAt)));
    });

    it("keeps metadata: occurredAt and traceparent", async () => {
      const s = stream();
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      await log.append(s, [{ ...queued("x"), metadata: { traceparent, occurredAt: "2026-01-02T03:04:05.000Z" } }]);
      const [event] = await log.readStream(s);
      assert.equal(event!.metadata.traceparent, traceparent);
      assert.equal(event!.metadata.occurredAt, "2026-01-02T03:04:05.000Z");
    });

    it("refuses an append whose expected revision does not hold, and writes none of it", async () => {
      const s = stream();
      await log.append(s, [queued("a")], { expectedRevision: "no_stream" });
      await assert.rejects(log.append(s, [queued("b")], { expectedRevision: "no_stream" }), ConcurrencyError);
      await assert.rejects(log.append(s, [queued("b"), queued("c")], { expectedRevision: 5n }), ConcurrencyError);
      await assert.rejects(log.append(stream(), [queued("b")], { expectedRevision: 0n }), ConcurrencyError);
      assert.equal((await log.readStream(s)).length, 1);
      const ok = await log.append(s, [queued("b")], { expectedRevision: 0n });
      assert.equal(ok.nextRevision, 1n);
      await log.append(s, [queued("c")], { expectedRevision: "any" });
      assert.equal((await log.readStream(s)).length, 3);
    });

    it("lets exactly one of two racing writers with the same expected revision win", async () => {
      const s = stream();
      await log.append(s, [queued("a")]);
      const results = await Promise.allSettled([
        log.append(s, [queued("b")], { expectedRevision: 0n }),
        log.append(s, [queued("c")], { expectedRevision: 0n }),
      ]);
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      assert.ok(results.some((r) => r.status === "rejected" && r.reason instanceof ConcurrencyError));
    });

    it("keeps 200 concurrent appends apart: each lands whole, and a conflicting one among them fails alone", async () => {
      const streams = Array.from({ length: 200 }, stream);
      const contested = streams[0]!;
      await log.append(contested, [queued("first")]);
      const results = await Promise.allSettled([
        ...streams.map((s, i) =>
          s === contested
            ? log.append(s, [queued("stale")], { expectedRevision: "no_stream" })
            : log.append(s, [queued(`n-${i}`), queued(`n-${i}`)], { expectedRevision: "no_stream" }),
        ),
      ]);
      const stale = results[0]!;
      assert.ok(stale.status === "rejected" && stale.reason instanceof ConcurrencyError);
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 199);
      for (const s of streams.slice(1)) assert.equal((await log.readStream(s)).length, 2, `${s} has both events`);
      assert.deepEqual(
        (await log.readStream(contested)).map((e) => e.data),
        [{ notificationId: "first" }],
      );
    });

    it("reads a missing stream as empty, and a stream backwards and from a revision", async () => {
      assert.deepEqual(await log.readStream(stream()), []);
      const s = stream();
      await log.append(s, ["a", "b", "c", "d"].map(queued));
      const backwards = await log.readStream(s, { direction: "backwards", maxCount: 2 });
      assert.deepEqual(
        backwards.map((e) => e.revision),
        [3n, 2n],
      );
      const from = await log.readStream(s, { fromRevision: 2n });
      assert.deepEqual(
        from.map((e) => e.revision),
        [2n, 3n],
      );
    });

    it("reads all streams in one global order, after an exclusive position", async () => {
      const s1 = stream();
      const s2 = stream();
      const first = await log.append(s1, [queued("1")]);
      await log.append(s2, [queued("2")]);
      await log.append(s1, [queued("3")]);
      const all = await log.readAll({ after: first.position - 1n, maxCount: 10_000 });
      const ours = all.filter((e) => e.streamName === s1 || e.streamName === s2);
      assert.deepEqual(
        ours.map((e) => (e.data as { notificationId: string }).notificationId),
        ["1", "2", "3"],
      );
      const afterFirst = await log.readAll({ after: first.position, maxCount: 10_000 });
      assert.ok(!afterFirst.some((e) => e.position === first.position), "the start position is exclusive");
    });

    it("resumes a subscription from a checkpoint with no gap and no repeat", async () => {
      const s = stream();
      const start = await log.append(s, [queued("before")]);
      const firstHalf = Array.from({ length: 50 }, (_, i) => queued(`a${i}`));
      await log.append(s, firstHalf);
      const seen1 = (await collect(log, start.position, 50)).filter((e) => e.streamName === s);
      assert.equal(seen1.length, 50);
      const checkpoint = seen1[seen1.length - 1]!.position;

      await log.append(
        s,
        Array.from({ length: 50 }, (_, i) => queued(`b${i}`)),
      );
      const seen2 = (await collect(log, checkpoint, 50)).filter((e) => e.streamName === s);
      const ids = [...seen1, ...seen2].map((e) => (e.data as { notificationId: string }).notificationId);
      assert.deepEqual(ids, [...firstHalf.map((_, i) => `a${i}`), ...Array.from({ length: 50 }, (_, i) => `b${i}`)]);
    });

    it("delivers live events after catching up, and says when it caught up", async () => {
      const head = (await log.readAll({ after: null, maxCount: 100_000 })).at(-1)?.position ?? null;
      const s = stream();
      const seen: RecordedEvent[] = [];
      let caughtUp = false;
      let liveSeen!: () => void;
      const live = new Promise<void>((resolve) => (liveSeen = resolve));
      const subscription = log.subscribeAll({ after: head, onCaughtUp: () => (caughtUp = true) }, async (e) => {
        if (e.streamName !== s) return;
        seen.push(e);
        liveSeen();
      });
      while (!caughtUp) await new Promise((r) => setTimeout(r, 10));
      await log.append(s, [queued("live")]);
      await Promise.race([live, new Promise((r) => setTimeout(r, 5000))]);
      await subscription.stop();
      assert.equal(seen.length, 1);
    });

    it("appends and reads back a large batch in one piece", async () => {
      const s = stream();
      const batch = Array.from({ length: 2000 }, (_, i) => queued(`n${i}`));
      const result = await log.append(s, batch, { expectedRevision: "no_stream" });
      assert.equal(result.nextRevision, 1999n);
      const events = await log.readStream(s);
      assert.equal(events.length, 2000);
      assert.ok(events.every((e, i) => e.revision === BigInt(i)));
    });
  });
}
