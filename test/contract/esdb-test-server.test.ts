import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import {
  ANY,
  BACKWARDS,
  binaryEvent,
  END,
  EventStoreDBClient,
  FORWARDS,
  jsonEvent,
  NO_STREAM,
  type ResolvedEvent,
  START,
  STREAM_EXISTS,
  streamNameFilter,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  type Position,
} from "@eventstore/db-client";
import { type EsdbTestServer, startEsdbTestServer } from "../support/esdb-test-server.ts";

// The test server against the official client: what a user of @eventstore/db-client sees.

const root = fileURLToPath(new URL("../..", import.meta.url));
const serverScript = fileURLToPath(new URL("../support/esdb-test-server.ts", import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "esdb-test-server-"));
  dirs.push(dir);
  return dir;
};

const T = { timeout: 30_000 };

async function within<V>(ms: number, what: string, promise: Promise<V>): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function collect(read: AsyncIterable<ResolvedEvent>, what = "read"): Promise<ResolvedEvent[]> {
  return within(
    5000,
    what,
    (async () => {
      const all: ResolvedEvent[] = [];
      for await (const e of read) all.push(e);
      return all;
    })(),
  );
}

const ev = (type: string, n: number) => jsonEvent({ type, data: { n }, metadata: { note: `m${n}` } });
const name = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const revisions = (events: ResolvedEvent[]) => events.map((e) => Number(e.event!.revision));
const ns = (events: ResolvedEvent[]) => events.map((e) => (e.event!.data as { n: number }).n);
const pos = (e: ResolvedEvent) => e.event!.position!;
const less = (a: Position, b: Position) => a.commit < b.commit || (a.commit === b.commit && a.prepare < b.prepare);

async function rejects<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await within(5000, `expected ${type.name}`, promise);
  } catch (error) {
    assert.ok(
      error instanceof type,
      `expected ${type.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`,
    );
    return error;
  }
  assert.fail(`expected ${type.name}, but it succeeded`);
}

/** Records what a subscription delivers, with "caughtUp" markers, and waits for conditions. */
type Listenable = { on(event: string, listener: (...args: never[]) => void): unknown };
function record(subscription: Listenable) {
  const items: Array<ResolvedEvent | "caughtUp"> = [];
  const state = { error: null as Error | null, confirmed: false, items };
  subscription.on("data", (e: ResolvedEvent) => items.push(e));
  subscription.on("caughtUp", () => items.push("caughtUp"));
  subscription.on("confirmation", () => {
    state.confirmed = true;
  });
  subscription.on("error", (error: Error) => {
    state.error = error;
  });
  const events = () => items.filter((i): i is ResolvedEvent => i !== "caughtUp");
  const waitFor = async (what: string, ok: () => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline)
        throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(items.map(describeItem))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { state, items, events, waitFor };
}
const describeItem = (i: ResolvedEvent | "caughtUp") =>
  i === "caughtUp" ? i : `${i.event?.streamId}@${i.event?.revision}`;

async function fresh(dataFile?: string) {
  const server = await startEsdbTestServer(dataFile ? { dataFile } : {});
  const client = EventStoreDBClient.connectionString(server.url);
  return {
    server,
    client,
    async close() {
      await within(5000, "client.dispose", client.dispose());
      await within(10_000, "server.stop", server.stop());
    },
  };
}

describe("esdb-test-server with @eventstore/db-client", () => {
  test(
    "appendToStream: each expected revision kind; conflicts throw WrongExpectedVersionError and store nothing",
    T,
    async () => {
      const { client, close } = await fresh();
      try {
        const a = name("orders");
        const first = await client.appendToStream(a, [ev("Placed", 0), ev("Paid", 1)], { expectedRevision: NO_STREAM });
        assert.equal(first.success, true);
        assert.equal(first.nextExpectedRevision, 1n);
        assert.ok(first.position);

        const refusedIds: string[] = [];
        const refused = (n: number) => {
          const e = ev("Refused", n);
          refusedIds.push(e.id);
          return e;
        };

        let error = await rejects(
          client.appendToStream(a, [refused(100), refused(101)], { expectedRevision: NO_STREAM }),
          WrongExpectedVersionError,
        );
        assert.equal(error.actualVersion, 1n);
        assert.equal(error.expectedVersion, NO_STREAM);
        assert.equal(error.streamName, a);

        error = await rejects(
          client.appendToStream(a, [refused(102), refused(103)], { expectedRevision: 0n }),
          WrongExpectedVersionError,
        );
        assert.equal(error.actualVersion, 1n);
        assert.equal(error.expectedVersion, 0n);

        error = await rejects(
          client.appendToStream(a, refused(104), { expectedRevision: 7n }),
          WrongExpectedVersionError,
        );
        assert.equal(error.actualVersion, 1n);
        assert.equal(error.expectedVersion, 7n);

        const exact = await client.appendToStream(a, ev("Shipped", 2), { expectedRevision: 1n });
        assert.equal(exact.nextExpectedRevision, 2n);
        assert.ok(less(first.position!, exact.position!));

        const missing = name("missing");
        error = await rejects(
          client.appendToStream(missing, refused(105), { expectedRevision: 0n }),
          WrongExpectedVersionError,
        );
        assert.equal(error.actualVersion, NO_STREAM);
        error = await rejects(
          client.appendToStream(missing, refused(106), { expectedRevision: STREAM_EXISTS }),
          WrongExpectedVersionError,
        );
        assert.equal(error.actualVersion, NO_STREAM);
        assert.equal(error.expectedVersion, STREAM_EXISTS);

        const exists = await client.appendToStream(a, ev("Delivered", 3), { expectedRevision: STREAM_EXISTS });
        assert.equal(exists.nextExpectedRevision, 3n);
        const any = await client.appendToStream(a, ev("Rated", 4), { expectedRevision: ANY });
        assert.equal(any.nextExpectedRevision, 4n);
        const anyNew = await client.appendToStream(name("other"), [ev("X", 0), ev("Y", 1), ev("Z", 2)]);
        assert.equal(anyNew.nextExpectedRevision, 2n);

        const stream = await collect(client.readStream(a));
        assert.deepEqual(revisions(stream), [0, 1, 2, 3, 4]);
        assert.deepEqual(ns(stream), [0, 1, 2, 3, 4]);
        await rejects(collect(client.readStream(missing)), StreamNotFoundError);
        const all = await collect(client.readAll());
        assert.equal(all.length, 8);
        for (const e of all) assert.ok(!refusedIds.includes(e.event!.id), "a refused event was stored");
      } finally {
        await close();
      }
    },
  );

  test("concurrent appends expecting the same revision: exactly one wins", T, async () => {
    const { client, close } = await fresh();
    try {
      const s = name("race");
      await client.appendToStream(s, ev("Start", 0), { expectedRevision: NO_STREAM });
      const results = await within(
        5000,
        "racing appends",
        Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            client.appendToStream(s, [ev("Go", i), ev("Go", i + 100)], { expectedRevision: 0n }),
          ),
        ),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof WrongExpectedVersionError);
      assert.deepEqual(revisions(await collect(client.readStream(s))), [0, 1, 2]);
    } finally {
      await close();
    }
  });

  test("re-sending an acknowledged append (same event ids) is idempotent, as on the real server", T, async () => {
    const { client, close } = await fresh();
    try {
      const s = name("idem");
      const events = [ev("A", 0), ev("B", 1)];
      const first = await client.appendToStream(s, events, { expectedRevision: NO_STREAM });
      const again = await client.appendToStream(s, events, { expectedRevision: NO_STREAM });
      assert.equal(again.nextExpectedRevision, 1n);
      assert.deepEqual(again.position, first.position);
      const anyAgain = await client.appendToStream(s, events, { expectedRevision: ANY });
      assert.equal(anyAgain.nextExpectedRevision, 1n);
      // Half old, half new is not idempotent.
      await rejects(
        client.appendToStream(s, [events[1]!, ev("C", 2)], { expectedRevision: 0n }),
        WrongExpectedVersionError,
      );
      assert.deepEqual(ns(await collect(client.readStream(s))), [0, 1]);
    } finally {
      await close();
    }
  });

  test("recorded events keep id, type, data, metadata, content type, and a created time", T, async () => {
    const { client, close } = await fresh();
    try {
      const s = name("fields");
      const json = jsonEvent({
        type: "Json",
        data: { text: "héllo", list: [1, 2] },
        metadata: { correlationId: "c-1" },
      });
      const bytes = binaryEvent({
        type: "Bytes",
        data: Uint8Array.from([0, 1, 2, 255]),
        metadata: Uint8Array.from([9, 8]),
      });
      const before = Date.now();
      const appended = await client.appendToStream(s, [json, bytes]);
      const afterAppend = Date.now();
      const [a, b] = await collect(client.readStream(s));
      assert.equal(a!.event!.id, json.id);
      assert.equal(a!.event!.type, "Json");
      assert.equal(a!.event!.isJson, true);
      assert.deepEqual(a!.event!.data, { text: "héllo", list: [1, 2] });
      assert.deepEqual(a!.event!.metadata, { correlationId: "c-1" });
      assert.equal(a!.event!.streamId, s);
      assert.equal(b!.event!.id, bytes.id);
      assert.equal(b!.event!.isJson, false);
      assert.deepEqual([...(b!.event!.data as Uint8Array)], [0, 1, 2, 255]);
      assert.deepEqual([...(b!.event!.metadata as Uint8Array)], [9, 8]);
      const created = a!.event!.created.getTime();
      assert.ok(
        created >= before - 1 && created <= afterAppend + 1,
        `created ${created} not in [${before}, ${afterAppend}]`,
      );
      assert.deepEqual(b!.event!.position, appended.position, "the append's position is its last event's");
    } finally {
      await close();
    }
  });

  test("readStream: forwards, backwards, fromRevision (inclusive), maxCount, StreamNotFoundError", T, async () => {
    const { client, close } = await fresh();
    try {
      const s = name("read");
      await client.appendToStream(
        s,
        [0, 1, 2, 3, 4].map((n) => ev("E", n)),
      );
      assert.deepEqual(revisions(await collect(client.readStream(s))), [0, 1, 2, 3, 4]);
      assert.deepEqual(revisions(await collect(client.readStream(s, { fromRevision: 2n }))), [2, 3, 4]);
      assert.deepEqual(revisions(await collect(client.readStream(s, { maxCount: 2 }))), [0, 1]);
      assert.deepEqual(revisions(await collect(client.readStream(s, { fromRevision: 9n }))), []);
      assert.deepEqual(revisions(await collect(client.readStream(s, { fromRevision: END }))), []);
      assert.deepEqual(
        revisions(await collect(client.readStream(s, { direction: BACKWARDS, fromRevision: END }))),
        [4, 3, 2, 1, 0],
      );
      assert.deepEqual(
        revisions(await collect(client.readStream(s, { direction: BACKWARDS, fromRevision: 3n, maxCount: 2 }))),
        [3, 2],
      );
      assert.deepEqual(
        revisions(await collect(client.readStream(s, { direction: BACKWARDS, fromRevision: START }))),
        [0],
      );
      assert.deepEqual(
        revisions(await collect(client.readStream(s, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }))),
        [4],
      );
      const missing = await rejects(collect(client.readStream(name("nope"))), StreamNotFoundError);
      assert.match(missing.message, /nope/);
      await rejects(
        collect(client.readStream(name("nope"), { direction: BACKWARDS, fromRevision: END })),
        StreamNotFoundError,
      );
    } finally {
      await close();
    }
  });

  test(
    "stream metadata ($$stream): setStreamMetadata maxCount limits readStream, getStreamMetadata reads it back",
    T,
    async () => {
      const { client, close } = await fresh();
      try {
        const s = name("trimmed");
        await client.setStreamMetadata(s, { maxCount: 2 });
        await client.appendToStream(
          s,
          [0, 1, 2, 3].map((n) => ev("E", n)),
        );
        assert.deepEqual(revisions(await collect(client.readStream(s))), [2, 3]);
        assert.deepEqual(
          revisions(await collect(client.readStream(s, { direction: BACKWARDS, fromRevision: END }))),
          [3, 2],
        );
        const { metadata } = await within(5000, "getStreamMetadata", client.getStreamMetadata(s));
        assert.deepEqual(metadata, { maxCount: 2 });
        // stream_exists accepts a stream that so far has only metadata, like the real server.
        const onlyMeta = name("meta-only");
        await client.setStreamMetadata(onlyMeta, { maxCount: 5 });
        await client.appendToStream(onlyMeta, ev("E", 0), { expectedRevision: STREAM_EXISTS });
      } finally {
        await close();
      }
    },
  );

  test(
    "readAll: global order, backwards is the reverse; a position is inclusive forwards and exclusive backwards",
    T,
    async () => {
      const { client, close } = await fresh();
      try {
        const a = name("a");
        const b = name("b");
        const written: string[] = [];
        for (let i = 0; i < 6; i++) {
          const s = i % 2 === 0 ? a : b;
          await client.appendToStream(s, ev("E", i));
          written.push(`${s}@${Math.floor(i / 2)}`);
        }
        await client.appendToStream(a, [ev("E", 6), ev("E", 7)]);
        written.push(`${a}@3`, `${a}@4`);
        const forwards = await collect(client.readAll());
        assert.deepEqual(
          forwards.map((e) => describeItem(e)),
          written,
        );
        assert.deepEqual(ns(forwards), [0, 1, 2, 3, 4, 5, 6, 7]);
        for (let i = 1; i < forwards.length; i++)
          assert.ok(less(pos(forwards[i - 1]!), pos(forwards[i]!)), "positions increase");
        for (const e of forwards) assert.equal(e.commitPosition, pos(e).commit);

        const backwards = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END }));
        assert.deepEqual(ns(backwards), [7, 6, 5, 4, 3, 2, 1, 0]);
        assert.deepEqual(ns(await collect(client.readAll({ maxCount: 3 }))), [0, 1, 2]);
        assert.deepEqual(
          ns(await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 2 }))),
          [7, 6],
        );

        const third = pos(forwards[2]!);
        assert.deepEqual(ns(await collect(client.readAll({ fromPosition: third, maxCount: 2 }))), [2, 3]);
        assert.deepEqual(ns(await collect(client.readAll({ fromPosition: third, direction: BACKWARDS }))), [1, 0]);
        assert.deepEqual(ns(await collect(client.readAll({ direction: BACKWARDS, fromPosition: START }))), []);
        assert.deepEqual(ns(await collect(client.readAll({ direction: FORWARDS, fromPosition: END }))), []);
      } finally {
        await close();
      }
    },
  );

  test(
    "subscribeToAll from a position: events after it, then caughtUp, then live events in order, no gap, no repeat",
    T,
    async () => {
      const { client, close } = await fresh();
      try {
        const s = name("sub");
        const first = await client.appendToStream(s, ev("E", 0));
        await client.appendToStream(s, [ev("E", 1), ev("E", 2)]);
        const subscription = client.subscribeToAll({ fromPosition: first.position! });
        const seen = record(subscription);
        await seen.waitFor("caught up", () => seen.items.includes("caughtUp"));
        assert.ok(seen.state.confirmed, "confirmation came first");
        assert.ok(subscription.id, "the subscription has the server's id");
        assert.deepEqual(
          seen.items.map((i) => (i === "caughtUp" ? i : (i.event!.data as { n: number }).n)),
          [1, 2, "caughtUp"],
        );

        // Live: appends from several streams, some concurrent.
        const other = name("sub-other");
        await Promise.all([
          client.appendToStream(s, [ev("E", 3), ev("E", 4)]),
          client.appendToStream(other, [ev("E", 5), ev("E", 6)]),
        ]);
        for (let n = 7; n < 12; n++) await client.appendToStream(n % 2 ? s : other, ev("E", n));
        await seen.waitFor("11 events", () => seen.events().length === 11);
        const all = await collect(client.readAll());
        assert.deepEqual(
          seen.events().map((e) => e.event!.id),
          all.slice(1).map((e) => e.event!.id),
          "the subscription delivers $all after the start position, in order",
        );
        const delivered = seen.events();
        for (let i = 1; i < delivered.length; i++) assert.ok(less(pos(delivered[i - 1]!), pos(delivered[i]!)));
        assert.equal(seen.state.error, null);

        await within(5000, "unsubscribe", subscription.unsubscribe());
        await client.appendToStream(s, ev("E", 99));
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(seen.events().length, 11, "nothing after unsubscribe");
        assert.equal(seen.state.error, null, "unsubscribing is not an error");
      } finally {
        await close();
      }
    },
  );

  test(
    "subscribeToAll from START and from END; a filtered subscription gets matching events and checkpoints",
    T,
    async () => {
      const { client, close } = await fresh();
      try {
        for (let i = 0; i < 20; i++) await client.appendToStream(i % 4 === 0 ? `keep-${i}` : `drop-${i}`, ev("E", i));
        const fromStart = record(client.subscribeToAll({ fromPosition: START }));
        const fromEnd = record(client.subscribeToAll({ fromPosition: END }));
        const checkpoints: Position[] = [];
        const filtered = record(
          client.subscribeToAll({
            fromPosition: START,
            filter: streamNameFilter({
              prefixes: ["keep-"],
              maxSearchWindow: 5,
              checkpointInterval: 1,
              checkpointReached: (_s, position) => {
                checkpoints.push(position);
              },
            }),
          }),
        );
        await fromStart.waitFor("from start caught up", () => fromStart.items.includes("caughtUp"));
        await fromEnd.waitFor("from end caught up", () => fromEnd.items.includes("caughtUp"));
        await filtered.waitFor("filtered caught up", () => filtered.items.includes("caughtUp"));
        assert.equal(fromStart.items.indexOf("caughtUp"), 20);
        assert.deepEqual(fromEnd.items, ["caughtUp"]);
        assert.deepEqual(ns(filtered.events()), [0, 4, 8, 12, 16]);
        assert.equal(checkpoints.length, 4, "a checkpoint every 5 considered events");
        const all = await collect(client.readAll());
        assert.deepEqual(
          checkpoints,
          [4, 9, 14, 19].map((i) => pos(all[i]!)),
          "checkpoints are positions of considered events",
        );

        await client.appendToStream("keep-live", ev("E", 20));
        await client.appendToStream("drop-live", ev("E", 21));
        await fromEnd.waitFor("live from end", () => fromEnd.events().length === 2);
        await filtered.waitFor("live filtered", () => filtered.events().length === 6);
        await fromStart.waitFor("live from start", () => fromStart.events().length === 22);
        assert.deepEqual(ns(fromEnd.events()), [20, 21]);
        assert.deepEqual(ns(filtered.events()).at(-1), 20);
      } finally {
        await close();
      }
    },
  );

  test(
    "subscribeToStream from a revision (exclusive) and from START, then live events of that stream only",
    T,
    async () => {
      const { client, close } = await fresh();
      try {
        const s = name("stream-sub");
        await client.appendToStream(
          s,
          [0, 1, 2].map((n) => ev("E", n)),
        );
        const fromOne = record(client.subscribeToStream(s, { fromRevision: 0n }));
        const fromStart = record(client.subscribeToStream(s));
        const later = name("not-yet");
        const notYet = record(client.subscribeToStream(later));
        await fromOne.waitFor("caught up", () => fromOne.items.includes("caughtUp"));
        await fromStart.waitFor("caught up", () => fromStart.items.includes("caughtUp"));
        await notYet.waitFor("caught up", () => notYet.items.includes("caughtUp"));
        assert.deepEqual(
          fromOne.items.map((i) => (i === "caughtUp" ? i : Number(i.event!.revision))),
          [1, 2, "caughtUp"],
        );
        assert.deepEqual(revisions(fromStart.events()), [0, 1, 2]);
        assert.deepEqual(notYet.items, ["caughtUp"]);

        await client.appendToStream(name("elsewhere"), ev("E", 100));
        await client.appendToStream(s, [ev("E", 3), ev("E", 4)]);
        await client.appendToStream(later, ev("E", 200));
        await fromOne.waitFor("live", () => fromOne.events().length === 4);
        await notYet.waitFor("live on a new stream", () => notYet.events().length === 1);
        assert.deepEqual(revisions(fromOne.events()), [1, 2, 3, 4]);
        assert.deepEqual(ns(notYet.events()), [200]);
        assert.deepEqual(revisions(fromStart.events()), [0, 1, 2, 3, 4]);
      } finally {
        await close();
      }
    },
  );

  test(
    "stop(), then start on the same data file and port: everything acknowledged is there and appends carry on",
    T,
    async () => {
      const dataFile = join(tempDir(), "data.jsonl");
      let server: EsdbTestServer | null = await startEsdbTestServer({ dataFile });
      const port = server.port;
      const client = EventStoreDBClient.connectionString(server.url);
      try {
        const s = name("durable");
        await client.appendToStream(
          s,
          [0, 1, 2].map((n) => ev("E", n)),
          { expectedRevision: NO_STREAM },
        );
        await client.appendToStream(name("durable-other"), ev("E", 3));
        const before = await collect(client.readAll());
        const subscription = record(client.subscribeToAll({ fromPosition: START }));
        await subscription.waitFor("caught up", () => subscription.items.includes("caughtUp"));

        await within(10_000, "stop", server.stop());
        await subscription.waitFor(
          "the subscription to fail when the server stops",
          () => subscription.state.error !== null,
        );
        assert.ok(subscription.state.error instanceof UnavailableError, `got ${subscription.state.error}`);

        server = await startEsdbTestServer({ dataFile, port });
        assert.equal(server.port, port);
        const afterRestart = await collect(client.readAll());
        assert.deepEqual(
          afterRestart.map((e) => [
            e.event!.id,
            e.event!.streamId,
            e.event!.revision,
            e.event!.position,
            e.event!.created.getTime(),
          ]),
          before.map((e) => [
            e.event!.id,
            e.event!.streamId,
            e.event!.revision,
            e.event!.position,
            e.event!.created.getTime(),
          ]),
        );
        const next = await client.appendToStream(s, ev("E", 4), { expectedRevision: 2n });
        assert.equal(next.nextExpectedRevision, 3n);
        assert.ok(less(pos(before.at(-1)!), next.position!), "positions keep increasing after a restart");
        await rejects(client.appendToStream(s, ev("E", 5), { expectedRevision: NO_STREAM }), WrongExpectedVersionError);
      } finally {
        await within(5000, "dispose", client.dispose());
        await server?.stop();
      }
    },
  );

  test(
    "kill(): in-flight calls fail instead of hanging, calls fail fast while down, and the same client works after a restart",
    T,
    async () => {
      const dataFile = join(tempDir(), "data.jsonl");
      let server = await startEsdbTestServer({ dataFile });
      const port = server.port;
      const client = EventStoreDBClient.connectionString(server.url);
      try {
        const s = name("crash");
        const acknowledged = await client.appendToStream(s, [ev("E", 0), ev("E", 1)]);
        const subscription = record(client.subscribeToAll({ fromPosition: START }));
        const streamSubscription = record(client.subscribeToStream(s));
        await subscription.waitFor("caught up", () => subscription.items.includes("caughtUp"));
        await streamSubscription.waitFor("caught up", () => streamSubscription.items.includes("caughtUp"));

        await server.kill();
        await subscription.waitFor("$all subscription error", () => subscription.state.error !== null);
        await streamSubscription.waitFor("stream subscription error", () => streamSubscription.state.error !== null);
        assert.ok(subscription.state.error instanceof UnavailableError, `got ${subscription.state.error}`);

        // While it is down, calls fail at once with UNAVAILABLE (append rejects with the raw grpc
        // error, code 14, rather than the client's UnavailableError: that is the client's doing).
        for (const call of [client.appendToStream(s, ev("E", 2)), collect(client.readStream(s))]) {
          const error = await rejects(call, Error);
          assert.ok(error instanceof UnavailableError || (error as { code?: unknown }).code === 14, `got ${error}`);
        }

        server = await startEsdbTestServer({ dataFile, port });
        // The client dropped its channel on UNAVAILABLE and opens a new one on its next call.
        const read = await collect(client.readStream(s), "first call after restart");
        assert.deepEqual(ns(read), [0, 1]);
        const appended = await within(
          5000,
          "append after restart",
          client.appendToStream(s, ev("E", 2), { expectedRevision: 1n }),
        );
        assert.ok(less(acknowledged.position!, appended.position!));
        const resubscribed = record(client.subscribeToStream(s, { fromRevision: 1n }));
        await resubscribed.waitFor("resubscribed", () => resubscribed.events().length === 1);
        assert.deepEqual(ns(resubscribed.events()), [2]);
      } finally {
        await within(5000, "dispose", client.dispose());
        await server.stop();
      }
    },
  );

  test("a torn last line in the data file (a crash mid-write) is dropped on load", T, async () => {
    const dataFile = join(tempDir(), "data.jsonl");
    const first = await fresh(dataFile);
    const s = name("torn");
    try {
      await first.client.appendToStream(s, [ev("E", 0), ev("E", 1)]);
    } finally {
      await first.close();
    }
    appendFileSync(dataFile, '{"stream":"torn","events":[{"id":"');
    const second = await fresh(dataFile);
    try {
      assert.deepEqual(ns(await collect(second.client.readStream(s))), [0, 1]);
      await second.client.appendToStream(s, ev("E", 2), { expectedRevision: 1n });
    } finally {
      await second.close();
    }
    const lines = readFileSync(dataFile, "utf8").trimEnd().split("\n");
    assert.equal(lines.length, 2);
    for (const line of lines) JSON.parse(line);
  });

  test("standalone process: prints its url; SIGKILL loses nothing acknowledged; SIGTERM exits cleanly", T, async () => {
    const dataFile = join(tempDir(), "data.jsonl");
    const startProcess = async (port: number) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", serverScript, "--port", String(port), "--data", dataFile],
        {
          cwd: root,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stderr = "";
      child.stderr!.on("data", (chunk) => (stderr += chunk));
      const url = await within(
        15_000,
        "the server process to print its url",
        new Promise<string>((done, fail) => {
          let out = "";
          child.stdout!.on("data", (chunk) => {
            out += chunk;
            const match = /^listening (esdb:\/\/127\.0\.0\.1:(\d+)\?tls=false)$/m.exec(out);
            if (match) done(match[1]!);
          });
          child.once("exit", (code) => fail(new Error(`server exited with ${code}: ${stderr}`)));
        }),
      );
      return { child, url };
    };
    const exited = (child: ChildProcess) =>
      within(
        10_000,
        "the server process to exit",
        new Promise<number | string | null>((done) => child.once("exit", (code, signal) => done(code ?? signal))),
      );

    const first = await startProcess(0);
    const port = Number(new URL(first.url.replace("esdb:", "http:")).port);
    let client = EventStoreDBClient.connectionString(first.url);
    let second: { child: ChildProcess; url: string } | null = null;
    try {
      const s = name("proc");
      for (let n = 0; n < 3; n++) await client.appendToStream(s, ev("E", n));
      first.child.kill("SIGKILL");
      assert.equal(await exited(first.child), "SIGKILL");
      await within(5000, "dispose", client.dispose());

      second = await startProcess(port);
      assert.equal(second.url, first.url);
      client = EventStoreDBClient.connectionString(second.url);
      assert.deepEqual(ns(await collect(client.readStream(s))), [0, 1, 2]);
      second.child.kill("SIGTERM");
      assert.equal(await exited(second.child), 0);
    } finally {
      await within(5000, "dispose", client.dispose());
      first.child.kill("SIGKILL");
      second?.child.kill("SIGKILL");
    }
  });
});
