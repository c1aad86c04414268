import { randomUUID } from "node:crypto";
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { type AddressInfo, connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type * as GrpcTypes from "@grpc/grpc-js";
import type * as ServerFeaturesGrpcTypes from "@eventstore/db-client/generated/serverfeatures_grpc_pb.js";
import type * as ServerFeaturesPbTypes from "@eventstore/db-client/generated/serverfeatures_pb.js";
import type * as SharedPbTypes from "@eventstore/db-client/generated/shared_pb.js";
import type * as StreamsGrpcTypes from "@eventstore/db-client/generated/streams_grpc_pb.js";
import type * as StreamsPbTypes from "@eventstore/db-client/generated/streams_pb.js";

// A stand-in for EventStoreDB in tests: a gRPC server speaking the part of the EventStoreDB v1
// protocol that @eventstore/db-client 6.2.1 uses for streams (Streams/Append, Streams/Read for
// reads and catch-up subscriptions, ServerFeatures/GetSupportedMethods). It is built on the
// client's own generated service definitions and message classes, loaded from the client's
// package so that they are the very modules (and the same @grpc/grpc-js) the client uses.
//
// Semantics kept from the real server (EventStoreDB 23.x/24.x):
// - Append: expected revision any / no_stream / stream_exists / exact; the idempotency rules of
//   the real index writer (re-sending the same event ids is acknowledged, not duplicated); atomic;
//   revisions from 0; global positions strictly increasing (byte-offset-like, with gaps).
// - Read stream: inclusive start, forwards or backwards, count; stream_not_found; $maxCount,
//   $maxAge and $tb from the stream's metadata ($$stream) limit what a stream read returns.
// - Read $all: forwards from a position includes it; backwards from a position excludes it.
// - Subscriptions: confirmation, then events after the (exclusive) start, caught_up, then live
//   events in commit order; checkpoints every maxSearchWindow × multiplier considered events
//   when filtered.
// - `created` is 100 ns ticks since the Unix epoch, as a decimal string in the metadata map.
// Not implemented (the client gets UNIMPLEMENTED): Delete, Tombstone, BatchAppend, persistent
// subscriptions, projections, users, operations; link resolution; system streams.

const here = createRequire(import.meta.url);
const clientRequire = createRequire(here.resolve("@eventstore/db-client"));
const grpc = clientRequire("@grpc/grpc-js") as typeof GrpcTypes;
const streamsGrpc = clientRequire("@eventstore/db-client/generated/streams_grpc_pb.js") as typeof StreamsGrpcTypes;
const streamsPb = clientRequire("@eventstore/db-client/generated/streams_pb.js") as typeof StreamsPbTypes;
const sharedPb = clientRequire("@eventstore/db-client/generated/shared_pb.js") as typeof SharedPbTypes;
const featuresGrpc = clientRequire(
  "@eventstore/db-client/generated/serverfeatures_grpc_pb.js",
) as typeof ServerFeaturesGrpcTypes;
const featuresPb = clientRequire(
  "@eventstore/db-client/generated/serverfeatures_pb.js",
) as typeof ServerFeaturesPbTypes;

type ReadReq = StreamsPbTypes.ReadReq;
type ReadResp = StreamsPbTypes.ReadResp;
type AppendReq = StreamsPbTypes.AppendReq;
type AppendResp = StreamsPbTypes.AppendResp;
type ReadCall = GrpcTypes.ServerWritableStream<ReadReq, ReadResp>;

const { ReadResp, AppendResp } = streamsPb;
const { Empty, StreamIdentifier, UUID } = sharedPb;
const Options = streamsPb.ReadReq.Options;
const status = grpc.status;

export type EsdbTestServer = {
  /** Connection string for the client: "esdb://127.0.0.1:<port>?tls=false". */
  url: string;
  port: number;
  /** Graceful: ends open subscriptions (UNAVAILABLE), lets calls finish, closes the data file. */
  stop(): Promise<void>;
  /** Abrupt: drops every connection at once, like a crash (every acknowledged append is on disk). */
  kill(): Promise<void>;
};

export type EsdbTestServerOptions = {
  /** 0 or undefined: a free port. */
  port?: number;
  /** Append-only JSON lines, one per acknowledged append, fsynced before the reply. */
  dataFile?: string;
};

/** The real server's default MaxAppendSize. */
const MAX_APPEND_SIZE = 1024 * 1024;
/** The real server's read page size, also the default filter search window. */
const READ_BATCH_SIZE = 32;
/** Where the first event goes in the (virtual) transaction log; never 0, which reads as "start". */
const FIRST_POSITION = 1024;
const SERVER_VERSION = "24.10.0-esdb-test-server";
const TICKS_PER_MS = 10_000n;

type StoredEvent = {
  stream: string;
  revision: number;
  /** Commit and prepare position (equal: one record per event). */
  position: number;
  id: string;
  type: string;
  contentType: string;
  data: Buffer;
  metadata: Buffer;
  /** 100 ns ticks since the Unix epoch, decimal. */
  created: string;
};

type Proposed = { id: string; type: string; contentType: string; data: Buffer; metadata: Buffer };
type Expected =
  { kind: "any" } | { kind: "no_stream" } | { kind: "stream_exists" } | { kind: "revision"; revision: number };
type AppendOutcome = { ok: true; revision: number; position: number | null } | { ok: false; current: number };

type Line = {
  stream: string;
  events: Array<{
    id: string;
    type: string;
    contentType: string;
    data: string;
    metadata: string;
    created: string;
    revision: number;
    position: number;
  }>;
  next: number;
};

/** The log: every event in commit order, each stream's events, event ids, and the data file. */
class Store {
  readonly all: StoredEvent[] = [];
  readonly streams = new Map<string, StoredEvent[]>();
  readonly ids = new Map<string, StoredEvent>();
  nextPosition = FIRST_POSITION;
  private fd: number | null = null;
  onAppended: () => void = () => {};
  private unsynced = false;
  private syncing: Promise<void> | null = null;

  constructor(dataFile: string | undefined) {
    if (!dataFile) return;
    const created = !existsSync(dataFile);
    if (created) mkdirSync(dirname(dataFile), { recursive: true });
    this.fd = openSync(dataFile, "a+");
    if (created) syncDirectory(dirname(dataFile));
    this.load(dataFile);
  }

  private load(file: string) {
    const text = readFileSync(file);
    let offset = 0;
    while (offset < text.length) {
      const end = text.indexOf(0x0a, offset);
      const raw = text.subarray(offset, end === -1 ? text.length : end).toString("utf8");
      let line: Line | null = null;
      try {
        line = end === -1 ? null : (JSON.parse(raw) as Line);
      } catch {
        line = null;
      }
      if (!line) {
        if (end !== -1 && text.indexOf(0x0a, end + 1) !== -1) {
          throw new Error(`esdb-test-server: ${file} is corrupt at byte ${offset}`);
        }
        // A torn last line: the append it held was never acknowledged. Cut it off.
        ftruncateSync(this.fd!, offset);
        fsyncSync(this.fd!);
        break;
      }
      this.apply(
        line.stream,
        line.events.map((e) => ({
          stream: line.stream,
          revision: e.revision,
          position: e.position,
          id: e.id,
          type: e.type,
          contentType: e.contentType,
          data: Buffer.from(e.data, "base64"),
          metadata: Buffer.from(e.metadata, "base64"),
          created: e.created,
        })),
        line.next,
      );
      offset = end + 1;
    }
  }

  private apply(stream: string, events: StoredEvent[], next: number) {
    let list = this.streams.get(stream);
    if (!list) this.streams.set(stream, (list = []));
    for (const event of events) {
      list.push(event);
      this.all.push(event);
      this.ids.set(event.id, event);
    }
    this.nextPosition = next;
  }

  lastRevision(stream: string): number {
    return (this.streams.get(stream)?.length ?? 0) - 1;
  }

  /** The index writer's commit check (expected version and idempotency), then the write. */
  append(stream: string, expected: Expected, proposed: Proposed[]): AppendOutcome {
    const list = this.streams.get(stream) ?? [];
    const current = list.length - 1;
    const refuse = (): AppendOutcome => ({ ok: false, current });

    if (expected.kind === "stream_exists" && current < 0 && this.lastRevision(`$$${stream}`) < 0) return refuse();

    if (expected.kind === "any" || expected.kind === "stream_exists") {
      // Idempotency: every id already written to this stream means "already done".
      let first: StoredEvent | null = null;
      let last: StoredEvent | null = null;
      for (const event of proposed) {
        const known = this.ids.get(event.id);
        if (!known || known.stream !== stream) {
          if (first) return refuse(); // part of it was written, part not: not idempotent
          last = null;
          break;
        }
        first ??= known;
        last = known;
      }
      if (last) return { ok: true, revision: last.revision, position: last.position };
      return this.write(stream, current, proposed);
    }

    const expectedRevision = expected.kind === "no_stream" ? -1 : expected.revision;
    if (expectedRevision < current) {
      let revision = expectedRevision;
      for (const event of proposed) {
        revision += 1;
        if (list[revision]?.id === event.id) continue;
        return refuse(); // a different event is there (or only part of it was written)
      }
      if (revision === expectedRevision) return refuse(); // nothing proposed
      const last = list[revision]!;
      return { ok: true, revision: last.revision, position: last.position };
    }
    if (expectedRevision > current) return refuse();
    return this.write(stream, current, proposed);
  }

  private write(stream: string, current: number, proposed: Proposed[]): AppendOutcome {
    if (proposed.length === 0) return { ok: true, revision: current, position: null };
    const created = (BigInt(Date.now()) * TICKS_PER_MS).toString();
    let position = this.nextPosition;
    const events: StoredEvent[] = proposed.map((p, i) => {
      const event: StoredEvent = { ...p, stream, revision: current + 1 + i, position, created };
      position += recordSize(event);
      return event;
    });
    if (this.fd !== null) {
      const line: Line = {
        stream,
        events: events.map((e) => ({
          id: e.id,
          type: e.type,
          contentType: e.contentType,
          data: e.data.toString("base64"),
          metadata: e.metadata.toString("base64"),
          created: e.created,
          revision: e.revision,
          position: e.position,
        })),
        next: position,
      };
      const bytes = Buffer.from(`${JSON.stringify(line)}\n`, "utf8");
      let written = 0;
      while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
      this.unsynced = true;
    }
    this.apply(stream, events, position);
    const last = events[events.length - 1]!;
    return { ok: true, revision: last.revision, position: last.position };
  }

  /** First revision a stream read may return, from the stream's metadata ($$stream). */
  firstVisibleRevision(stream: string): number {
    const list = this.streams.get(stream) ?? [];
    const meta = this.streams.get(`$$${stream}`)?.at(-1);
    if (!meta || list.length === 0) return 0;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(meta.data.toString("utf8")) as Record<string, unknown>;
    } catch {
      return 0;
    }
    let first = 0;
    const { $tb: truncateBefore, $maxCount: maxCount, $maxAge: maxAge } = parsed;
    if (typeof truncateBefore === "number") first = Math.max(first, truncateBefore);
    if (typeof maxCount === "number") first = Math.max(first, list.length - maxCount);
    if (typeof maxAge === "number") {
      const oldest = BigInt(Date.now()) * TICKS_PER_MS - BigInt(Math.floor(maxAge)) * 10_000_000n;
      while (first < list.length && BigInt(list[first]!.created) < oldest) first += 1;
    }
    return first;
  }

  /**
   * Resolves once every append written so far is on disk. Group commit, as the real server
   * does: the appends of one turn of the event loop share one fsync, and each is answered only
   * after it. (Unlike the real server, a read in that same turn may already see them.)
   */
  durable(): Promise<void> {
    if (!this.unsynced || this.fd === null) return this.syncing ?? Promise.resolve();
    this.syncing ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.syncing = null;
        this.unsynced = false;
        try {
          if (this.fd !== null) fsyncSync(this.fd);
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
    return this.syncing;
  }

  close() {
    if (this.fd === null) return;
    if (this.unsynced) fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}

function syncDirectory(directory: string) {
  try {
    const fd = openSync(directory, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform can fsync a directory.
  }
}

/** A rough size on disk, so that positions advance like byte offsets in a transaction log. */
function recordSize(e: StoredEvent): number {
  return 120 + Buffer.byteLength(e.stream) + Buffer.byteLength(e.type) + e.data.length + e.metadata.length;
}

/** $all positions compare as (commit, prepare); every stored event has commit == prepare. */
type Pos = { commit: bigint; prepare: bigint };
const compareToEvent = (event: StoredEvent, pos: Pos): number => {
  const p = BigInt(event.position);
  if (p !== pos.commit) return p < pos.commit ? -1 : 1;
  return p < pos.prepare ? -1 : p > pos.prepare ? 1 : 0;
};
/** Index of the first event in `all` at or after `pos` (inclusive = true) or after it. */
function firstIndex(all: StoredEvent[], pos: Pos, inclusive: boolean): number {
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareToEvent(all[mid]!, pos);
    if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function uuidToString(uuid: SharedPbTypes.UUID | undefined): string | null {
  if (!uuid) return null;
  if (uuid.hasStructured()) {
    const s = uuid.getStructured()!;
    const hex = (v: string) => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, "0");
    const h = hex(s.getMostSignificantBits()) + hex(s.getLeastSignificantBits());
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  const text = uuid.getString();
  return UUID_PATTERN.test(text) ? text.toLowerCase() : null;
}

function uuidMessage(id: string, structured: boolean): SharedPbTypes.UUID {
  const uuid = new UUID();
  if (!structured) return uuid.setString(id);
  const hex = id.replace(/-/g, "");
  const s = new UUID.Structured();
  s.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString());
  s.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString());
  return uuid.setStructured(s);
}

const streamIdentifier = (name: string) => new StreamIdentifier().setStreamName(Buffer.from(name, "utf8"));
const streamNameOf = (identifier: SharedPbTypes.StreamIdentifier | undefined) =>
  Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString("utf8");

function eventMessage(e: StoredEvent, structuredIds: boolean, withPosition: boolean): ReadResp {
  const recorded = new streamsPb.ReadResp.ReadEvent.RecordedEvent()
    .setId(uuidMessage(e.id, structuredIds))
    .setStreamIdentifier(streamIdentifier(e.stream))
    .setStreamRevision(String(e.revision))
    .setCommitPosition(String(e.position))
    .setPreparePosition(String(e.position))
    .setData(e.data)
    .setCustomMetadata(e.metadata);
  recorded.getMetadataMap().set("type", e.type).set("content-type", e.contentType).set("created", e.created);
  const read = new streamsPb.ReadResp.ReadEvent().setEvent(recorded);
  if (withPosition) read.setCommitPosition(String(e.position));
  else read.setNoPosition(new Empty());
  return new ReadResp().setEvent(read);
}

type Filter = {
  test(e: StoredEvent): boolean;
  /** Considered events between checkpoints (subscriptions only). */
  checkpointInterval: number;
};

function filterOf(options: StreamsPbTypes.ReadReq.Options): Filter | null {
  if (!options.hasFilter()) return null;
  const f = options.getFilter()!;
  const onStream = f.hasStreamIdentifier();
  const expression = onStream ? f.getStreamIdentifier() : f.getEventType();
  if (!expression) return null;
  const regex = expression.getRegex();
  const prefixes = expression.getPrefixList();
  const pattern = regex ? new RegExp(regex) : null;
  const window = f.hasMax() ? f.getMax() : READ_BATCH_SIZE;
  return {
    test(e) {
      const value = onStream ? e.stream : e.type;
      return pattern ? pattern.test(value) : prefixes.some((p) => value.startsWith(p));
    },
    checkpointInterval: Math.max(1, window * Math.max(1, f.getCheckpointintervalmultiplier())),
  };
}

/** Writes messages honouring backpressure; `next()` yields the next message or null when done. */
function pumpTo(call: ReadCall, next: () => ReadResp | null, onDone: () => void) {
  const run = () => {
    for (;;) {
      if (call.cancelled || call.destroyed || call.writableEnded) return;
      const message = next();
      if (!message) return onDone();
      if (!call.write(message)) {
        call.once("drain", run);
        return;
      }
    }
  };
  run();
}

type Subscription = {
  call: ReadCall;
  /** Called after every append: sends what is new. */
  wake(): void;
  end(): void;
};

export async function startEsdbTestServer(options: EsdbTestServerOptions = {}): Promise<EsdbTestServer> {
  const store = new Store(options.dataFile ? resolve(options.dataFile) : undefined);
  const subscriptions = new Set<Subscription>();
  let closing = false;
  store.onAppended = () => {
    for (const s of subscriptions) s.wake();
  };

  const server = new grpc.Server({ "grpc.max_receive_message_length": 17 * 1024 * 1024 });

  const streamsImpl = {
    append(call: GrpcTypes.ServerReadableStream<AppendReq, AppendResp>, callback: GrpcTypes.sendUnaryData<AppendResp>) {
      let header: StreamsPbTypes.AppendReq.Options | null = null;
      const proposed: Proposed[] = [];
      let size = 0;
      let done = false;
      const fail = (code: GrpcTypes.status, details: string, trailers: Record<string, string> = {}) => {
        if (done) return;
        done = true;
        const metadata = new grpc.Metadata();
        for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
        callback({ code, details, metadata });
      };
      call.on("data", (req: AppendReq) => {
        if (done) return;
        if (!header) {
          if (!req.hasOptions())
            return fail(status.INVALID_ARGUMENT, "The first message of an append must be its options.");
          header = req.getOptions()!;
          return;
        }
        const message = req.getProposedMessage();
        if (!message) return fail(status.INVALID_ARGUMENT, "Expected a proposed message.");
        const metadataMap = message.getMetadataMap();
        for (const key of ["type", "content-type"]) {
          if (!metadataMap.has(key)) {
            return fail(status.INVALID_ARGUMENT, `Required metadata property missing: ${key}`, {
              exception: "missing-required-metadata-property",
              "required-metadata-properties": key,
            });
          }
        }
        const id = uuidToString(message.getId());
        if (!id) return fail(status.INVALID_ARGUMENT, "Invalid event id.");
        const type = metadataMap.get("type")!;
        const data = Buffer.from(message.getData_asU8());
        const custom = Buffer.from(message.getCustomMetadata_asU8());
        size += data.length + custom.length + Buffer.byteLength(type);
        if (size > MAX_APPEND_SIZE) {
          return fail(status.INVALID_ARGUMENT, `Maximum Append Size of ${MAX_APPEND_SIZE} Exceeded.`, {
            exception: "maximum-append-size-exceeded",
            "maximum-append-size": String(MAX_APPEND_SIZE),
          });
        }
        // The real server keeps only "is it JSON" and answers with one of these two.
        const contentType =
          metadataMap.get("content-type") === "application/json" ? "application/json" : "application/octet-stream";
        proposed.push({ id, type, contentType, data, metadata: custom });
      });
      // Cancelled or connection lost before the end: nothing is written.
      call.on("cancelled", () => {
        done = true;
      });
      call.on("error", () => {
        done = true;
      });
      call.on("end", () => {
        if (done) return;
        if (!header) return fail(status.INVALID_ARGUMENT, "An append needs its options.");
        if (closing) return fail(status.UNAVAILABLE, "Server is shutting down.");
        const stream = streamNameOf(header.getStreamIdentifier());
        const E = streamsPb.AppendReq.Options.ExpectedStreamRevisionCase;
        let expected: Expected;
        switch (header.getExpectedStreamRevisionCase()) {
          case E.REVISION:
            expected = { kind: "revision", revision: Number(header.getRevision()) };
            break;
          case E.NO_STREAM:
            expected = { kind: "no_stream" };
            break;
          case E.STREAM_EXISTS:
            expected = { kind: "stream_exists" };
            break;
          case E.ANY:
            expected = { kind: "any" };
            break;
          default:
            return fail(status.INVALID_ARGUMENT, "An expected revision is required.");
        }
        let outcome: AppendOutcome;
        try {
          outcome = store.append(stream, expected, proposed);
        } catch (error) {
          return fail(status.INTERNAL, `Write failed: ${(error as Error).message}`);
        }
        done = true;
        const response = new AppendResp();
        if (outcome.ok) {
          const success = new streamsPb.AppendResp.Success();
          if (outcome.revision < 0) success.setNoStream(new Empty());
          else success.setCurrentRevision(String(outcome.revision));
          if (outcome.position === null) success.setNoPosition(new Empty());
          else {
            success.setPosition(
              new streamsPb.AppendResp.Position()
                .setCommitPosition(String(outcome.position))
                .setPreparePosition(String(outcome.position)),
            );
          }
          response.setSuccess(success);
        } else {
          const wrong = new streamsPb.AppendResp.WrongExpectedVersion();
          if (outcome.current < 0) wrong.setCurrentNoStream(new Empty()).setNoStream2060(new Empty());
          else wrong.setCurrentRevision(String(outcome.current)).setCurrentRevision2060(outcome.current);
          if (expected.kind === "revision") {
            wrong.setExpectedRevision(String(expected.revision)).setExpectedRevision2060(expected.revision);
          } else if (expected.kind === "any") wrong.setExpectedAny(new Empty()).setAny2060(new Empty());
          else if (expected.kind === "stream_exists") {
            wrong.setExpectedStreamExists(new Empty()).setStreamExists2060(new Empty());
          } else wrong.setExpectedNoStream(new Empty());
          response.setWrongExpectedVersion(wrong);
        }
        store.durable().then(
          () => {
            callback(null, response);
            if (outcome.ok) store.onAppended();
          },
          (error: Error) => callback({ code: status.INTERNAL, details: `Write failed: ${error.message}` }),
        );
      });
    },

    read(call: ReadCall) {
      const options = call.request.getOptions();
      if (!options) return call.emit("error", { code: status.INVALID_ARGUMENT, details: "Read options are required." });
      if (closing) return call.emit("error", { code: status.UNAVAILABLE, details: "Server is shutting down." });
      const structuredIds = options.getUuidOption()?.hasStructured() ?? false;
      const filter = filterOf(options);
      if (options.hasSubscription()) return subscribe(call, options, structuredIds, filter);

      const backwards = options.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.BACKWARDS;
      const count = options.hasCount() ? BigInt(options.getCount()) : 0n;
      let events: StoredEvent[];
      let withPosition: boolean;
      if (options.hasStream()) {
        const s = options.getStream()!;
        const name = streamNameOf(s.getStreamIdentifier());
        const list = store.streams.get(name);
        if (!list || list.length === 0) {
          call.write(
            new ReadResp().setStreamNotFound(
              new streamsPb.ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(name)),
            ),
          );
          call.end();
          return;
        }
        const first = store.firstVisibleRevision(name);
        const last = list.length - 1;
        const R = Options.StreamOptions.RevisionOptionCase;
        // Reads include their start revision; "end" is the last event backwards, nothing forwards.
        const option = s.getRevisionOptionCase();
        const from =
          option === R.REVISION ? Number(s.getRevision()) : option === R.END ? (backwards ? last : last + 1) : 0;
        events = backwards ? list.slice(first, Math.min(from, last) + 1).reverse() : list.slice(Math.max(from, first));
        withPosition = false;
      } else if (options.hasAll()) {
        const a = options.getAll()!;
        const A = Options.AllOptions.AllOptionCase;
        let index: number;
        if (a.getAllOptionCase() === A.POSITION) {
          const p = a.getPosition()!;
          const pos = { commit: BigInt(p.getCommitPosition()), prepare: BigInt(p.getPreparePosition()) };
          // Forwards includes the event at the position, backwards starts before it.
          index = firstIndex(store.all, pos, true);
        } else index = a.getAllOptionCase() === A.END ? store.all.length : 0;
        events = backwards ? store.all.slice(0, index).reverse() : store.all.slice(index);
        if (filter) events = events.filter((e) => filter.test(e));
        withPosition = true;
      } else {
        return call.emit("error", { code: status.INVALID_ARGUMENT, details: "Read needs stream or all options." });
      }
      let i = 0;
      let sent = 0n;
      pumpTo(
        call,
        () =>
          i < events.length && sent < count ? (sent++, eventMessage(events[i++]!, structuredIds, withPosition)) : null,
        () => call.end(),
      );
    },

    // Not used by the client unless advertised; answer like a server without them.
    delete(_call: unknown, callback: GrpcTypes.sendUnaryData<never>) {
      callback({ code: status.UNIMPLEMENTED, details: "Delete is not implemented by the test server." });
    },
    tombstone(_call: unknown, callback: GrpcTypes.sendUnaryData<never>) {
      callback({ code: status.UNIMPLEMENTED, details: "Tombstone is not implemented by the test server." });
    },
    batchAppend(call: GrpcTypes.ServerDuplexStream<unknown, unknown>) {
      call.emit("error", { code: status.UNIMPLEMENTED, details: "BatchAppend is not implemented by the test server." });
    },
  };

  function subscribe(
    call: ReadCall,
    options: StreamsPbTypes.ReadReq.Options,
    structuredIds: boolean,
    filter: Filter | null,
  ) {
    const C = streamsPb.ReadResp;
    let source: () => StoredEvent[];
    let cursor: number;
    let withPosition: (catchingUp: boolean) => boolean;
    if (options.hasStream()) {
      const s = options.getStream()!;
      const name = streamNameOf(s.getStreamIdentifier());
      source = () => store.streams.get(name) ?? [];
      const R = Options.StreamOptions.RevisionOptionCase;
      const length = source().length;
      cursor =
        s.getRevisionOptionCase() === R.END
          ? length
          : s.getRevisionOptionCase() === R.REVISION
            ? Number(BigInt(s.getRevision()) + 1n) // after the given revision
            : 0;
      if (cursor < length) cursor = Math.max(cursor, store.firstVisibleRevision(name));
      // Catch-up reads a stream (no position on the read event); live events carry one.
      withPosition = (catchingUp) => !catchingUp;
    } else if (options.hasAll()) {
      const a = options.getAll()!;
      const A = Options.AllOptions.AllOptionCase;
      source = () => store.all;
      if (a.getAllOptionCase() === A.POSITION) {
        const p = a.getPosition()!;
        const pos = { commit: BigInt(p.getCommitPosition()), prepare: BigInt(p.getPreparePosition()) };
        cursor = pos.commit === 0n && pos.prepare === 0n ? 0 : firstIndex(store.all, pos, false); // after it
      } else cursor = a.getAllOptionCase() === A.END ? store.all.length : 0;
      withPosition = () => true;
    } else {
      call.emit("error", { code: status.INVALID_ARGUMENT, details: "Subscribe needs stream or all options." });
      return;
    }

    let caughtUp = false;
    let considered = 0;
    let pumping = false;
    let ended = false;
    const pending: ReadResp[] = [
      new ReadResp().setConfirmation(new C.SubscriptionConfirmation().setSubscriptionId(randomUUID())),
    ];
    const next = (): ReadResp | null => {
      for (;;) {
        const queued = pending.shift();
        if (queued) return queued;
        const events = source();
        if (cursor >= events.length) {
          if (caughtUp) return null;
          caughtUp = true;
          return new ReadResp().setCaughtUp(new C.CaughtUp());
        }
        const event = events[cursor++]!;
        if (!filter) return eventMessage(event, structuredIds, withPosition(!caughtUp));
        considered += 1;
        if (considered >= filter.checkpointInterval) {
          considered = 0;
          pending.push(
            new ReadResp().setCheckpoint(
              new C.Checkpoint().setCommitPosition(String(event.position)).setPreparePosition(String(event.position)),
            ),
          );
        }
        if (filter.test(event)) return eventMessage(event, structuredIds, withPosition(!caughtUp));
      }
    };
    const subscription: Subscription = {
      call,
      wake() {
        if (pumping || ended) return;
        pumping = true;
        pumpTo(call, next, () => {
          pumping = false;
        });
      },
      end() {
        if (ended) return;
        ended = true;
        subscriptions.delete(subscription);
        if (!call.cancelled && !call.writableEnded) {
          call.emit("error", { code: status.UNAVAILABLE, details: "Server is shutting down." });
        }
      },
    };
    const drop = () => {
      ended = true;
      subscriptions.delete(subscription);
    };
    call.on("cancelled", drop);
    call.on("close", drop);
    call.on("error", drop);
    subscriptions.add(subscription);
    subscription.wake();
  }

  const featuresImpl = {
    getSupportedMethods(
      _call: GrpcTypes.ServerUnaryCall<SharedPbTypes.Empty, ServerFeaturesPbTypes.SupportedMethods>,
      callback: GrpcTypes.sendUnaryData<ServerFeaturesPbTypes.SupportedMethods>,
    ) {
      // Only Read and Append: the client then never tries BatchAppend.
      const method = (name: string) =>
        new featuresPb.SupportedMethod().setServiceName("event_store.client.streams.streams").setMethodName(name);
      callback(
        null,
        new featuresPb.SupportedMethods()
          .setMethodsList([method("read"), method("append")])
          .setEventStoreServerVersion(SERVER_VERSION),
      );
    },
  };

  server.addService(streamsGrpc.StreamsService, streamsImpl as unknown as GrpcTypes.UntypedServiceImplementation);
  server.addService(
    featuresGrpc.ServerFeaturesService,
    featuresImpl as unknown as GrpcTypes.UntypedServiceImplementation,
  );

  // gRPC listens on a private port behind a plain TCP relay on the public one, so that kill()
  // can drop the connections themselves, as a crash does (the client sees "UNAVAILABLE:
  // Connection dropped"), rather than cancel each call (grpc-js forceShutdown: "CANCELLED").
  const sockets = new Set<Socket>();
  let front: NetServer;
  let port: number;
  try {
    const innerPort = await new Promise<number>((done, fail) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? fail(error) : done(bound),
      ),
    );
    front = createServer({ noDelay: true }, (socket) => {
      const upstream = connect({ host: "127.0.0.1", port: innerPort, noDelay: true });
      for (const s of [socket, upstream]) {
        sockets.add(s);
        s.on("error", () => {
          socket.destroy();
          upstream.destroy();
        });
        s.on("close", () => {
          sockets.delete(s);
          socket.destroy();
          upstream.destroy();
        });
      }
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    port = await listen(front, options.port ?? 0);
  } catch (error) {
    server.forceShutdown();
    store.close();
    throw error;
  }

  let stopped = false;
  const finish = () => {
    stopped = true;
    subscriptions.clear();
    store.close();
  };

  return {
    url: `esdb://127.0.0.1:${port}?tls=false`,
    port,
    async stop() {
      if (stopped) return;
      closing = true;
      for (const s of [...subscriptions]) s.end();
      const frontClosed = new Promise<void>((done) => front.close(() => done()));
      await new Promise<void>((done) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          done();
        }, 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          done();
        });
      });
      for (const socket of sockets) socket.destroy();
      await frontClosed;
      finish();
    },
    async kill() {
      if (stopped) return;
      closing = true;
      const frontClosed = new Promise<void>((done) => front.close(() => done()));
      for (const socket of sockets) socket.destroy();
      server.forceShutdown();
      finish();
      await frontClosed;
    },
  };
}

/** Listens on 127.0.0.1:port; a port just released by a previous server may take a moment. */
async function listen(server: NetServer, port: number): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await new Promise<void>((done, fail) => {
        server.once("error", fail);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", fail);
          done();
        });
      });
      return (server.address() as AddressInfo).port;
    } catch (error) {
      if (port === 0 || Date.now() > deadline || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// Standalone: node --import tsx test/support/esdb-test-server.ts --port 2113 --data /tmp/x.jsonl
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const server = await startEsdbTestServer({
    port: Number(value("--port") ?? 0),
    ...(value("--data") !== undefined && { dataFile: value("--data") }),
  });
  process.stdout.write(`listening ${server.url}\n`);
  const shutdown = () => {
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}
