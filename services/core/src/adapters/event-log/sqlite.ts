import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sqlite from "node-sqlite3-wasm";
import { ConcurrencyError } from "../../domain/errors.ts";
import { ConfigError } from "../../platform/config.ts";
import type { RecordedEvent } from "../../domain/events.ts";
import type {
  AppendResult,
  CheckpointStore,
  EventLog,
  ExpectedRevision,
  NewEvent,
  Subscription,
} from "../../ports/index.ts";

// The embedded event log: one SQLite file under the data dir. Positions are the rowid of an
// AUTOINCREMENT table, so they only grow and are never reused. The WASM build of SQLite is
// used so that `npm ci` needs no native compiler; it runs synchronously, so a transaction
// has nothing interleaved. Appends are group-committed (see flush).

/** A write waiting for the next group commit: an append, or a follower's checkpoint. */
type PendingWrite =
  | {
      kind: "append";
      stream: string;
      events: NewEvent[];
      expected: ExpectedRevision;
      resolve: (result: AppendResult) => void;
      reject: (error: unknown) => void;
    }
  | { kind: "checkpoint"; name: string; position: bigint; resolve: () => void; reject: (error: unknown) => void };

type Row = { position: number; stream: string; revision: number; type: string; data: string; metadata: string };

const schema = `
  CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream   TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    type     TEXT    NOT NULL,
    data     TEXT    NOT NULL,
    metadata TEXT    NOT NULL,
    UNIQUE (stream, revision)
  );
  -- TEXT: positions are bigints; kept exact whatever their size.
  CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL);
`;

/** How long a caught-up subscription waits before looking again, if no append woke it. */
const idlePollMs = 1000;

export type SqliteEventLog = EventLog & CheckpointStore;

export function openSqliteEventLog(dataDir: string): SqliteEventLog {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, "events.db");
  claimDataDir(dataDir, file);
  const db = new sqlite.Database(file);
  // One process owns the file (claimDataDir), so it takes the lock once and keeps it
  // (EXCLUSIVE), which also lets WAL run without shared memory. WAL with synchronous=FULL
  // syncs the log at every commit: a commit that returned survives a crash or power loss.
  db.exec("PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
  db.exec(schema);

  const appended = new EventEmitter();
  appended.setMaxListeners(0);
  const subscriptions = new Set<Subscription>();

  const toRecorded = (row: Row): RecordedEvent =>
    ({
      type: row.type,
      data: JSON.parse(row.data),
      metadata: JSON.parse(row.metadata),
      streamName: row.stream,
      revision: BigInt(row.revision),
      position: BigInt(row.position),
    }) as RecordedEvent;

  const lastRevision = (stream: string): bigint | null => {
    const row = db.get("SELECT MAX(revision) AS r FROM events WHERE stream = ?", stream) as { r: number | null };
    return row.r === null ? null : BigInt(row.r);
  };

  /** Writes one append inside the open transaction; throws (writing nothing) if its revision does not hold. */
  function write({ stream, events, expected }: PendingWrite & { kind: "append" }): AppendResult {
    const current = lastRevision(stream);
    const holds = expected === "any" || (expected === "no_stream" ? current === null : current === expected);
    if (!holds) throw new ConcurrencyError(stream, String(expected), current === null ? "no_stream" : String(current));
    let revision = current ?? -1n;
    let position = 0n;
    const now = new Date().toISOString();
    for (const event of events) {
      revision += 1n;
      const metadata = { occurredAt: event.metadata?.occurredAt ?? now, ...event.metadata };
      const info = db.run("INSERT INTO events (stream, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?)", [
        stream,
        revision,
        event.type,
        JSON.stringify(event.data),
        JSON.stringify(metadata),
      ]);
      position = BigInt(info.lastInsertRowid);
    }
    return { nextRevision: revision, position };
  }

  // Group commit: the appends (and checkpoint saves) made while one is being committed wait
  // for the next flush and share its transaction, hence its one fsync. Each append is still
  // all-or-nothing (a savepoint of its own) and answered only once its transaction is durable.
  let pending: PendingWrite[] = [];
  let flushScheduled = false;
  function flush() {
    flushScheduled = false;
    const batch = pending;
    pending = [];
    const results: Array<{ ok: AppendResult | undefined } | { error: unknown }> = [];
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const op of batch) {
        if (op.kind === "checkpoint") {
          db.run(
            "INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [op.name, op.position.toString()],
          );
          results.push({ ok: undefined });
          continue;
        }
        db.exec("SAVEPOINT one_append");
        try {
          results.push({ ok: write(op) });
          db.exec("RELEASE one_append");
        } catch (error) {
          db.exec("ROLLBACK TO one_append; RELEASE one_append");
          results.push({ error });
        }
      }
      db.exec("COMMIT");
    } catch (error) {
      // The transaction itself failed (disk full, I/O): none of the batch was written.
      if (db.inTransaction) db.exec("ROLLBACK");
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const result = results[i]!;
      if (!("ok" in result)) op.reject(result.error);
      else if (op.kind === "append") op.resolve(result.ok!);
      else op.resolve();
    });
    if (batch.some((op, i) => op.kind === "append" && "ok" in results[i]!)) appended.emit("append");
  }

  /** Queues a write for the next group commit. */
  function enqueue(op: PendingWrite) {
    pending.push(op);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  function append(stream: string, events: NewEvent[], options: { expectedRevision?: ExpectedRevision } = {}) {
    if (events.length === 0) return Promise.reject(new Error("append needs at least one event"));
    return new Promise<AppendResult>((resolve, reject) =>
      enqueue({ kind: "append", stream, events, expected: options.expectedRevision ?? "any", resolve, reject }),
    );
  }

  function readAll({ after, maxCount = 1000 }: { after: bigint | null; maxCount?: number }) {
    const rows = db.all("SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?", [
      after ?? 0n,
      maxCount,
    ]) as Row[];
    return rows.map(toRecorded);
  }

  const log: SqliteEventLog = {
    async append(stream, events, options) {
      return append(stream, events, options);
    },

    async readStream(stream, { direction = "forwards", fromRevision, maxCount = Number.MAX_SAFE_INTEGER } = {}) {
      const forwards = direction === "forwards";
      const from = fromRevision ?? (forwards ? 0n : BigInt(Number.MAX_SAFE_INTEGER));
      const rows = db.all(
        `SELECT * FROM events WHERE stream = ? AND revision ${forwards ? ">=" : "<="} ?
         ORDER BY revision ${forwards ? "ASC" : "DESC"} LIMIT ?`,
        [stream, from, maxCount],
      ) as Row[];
      return rows.map(toRecorded);
    },

    async readAll(options) {
      return readAll(options);
    },

    subscribeAll({ after, onCaughtUp, onError }, handler) {
      let stopped = false;
      let wake: (() => void) | null = null;
      const onAppend = () => wake?.();
      appended.on("append", onAppend);

      const run = async () => {
        let position = after;
        let caughtUp = false;
        while (!stopped) {
          const batch = readAll({ after: position, maxCount: 500 });
          for (const event of batch) {
            if (stopped) return;
            await handler(event);
            position = event.position;
          }
          if (batch.length > 0) continue;
          if (!caughtUp) {
            caughtUp = true;
            onCaughtUp?.();
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, idlePollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
      };
      const done = run().catch((error) => onError?.(error));
      const subscription: Subscription = {
        async stop() {
          stopped = true;
          wake?.();
          appended.off("append", onAppend);
          subscriptions.delete(subscription);
          await done;
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },

    async ping() {
      db.get("SELECT 1");
    },

    async load(name) {
      const row = db.get("SELECT position FROM checkpoints WHERE name = ?", name) as { position: string } | null;
      return row ? BigInt(row.position) : null;
    },

    save(name, position) {
      return new Promise<void>((resolve, reject) => enqueue({ kind: "checkpoint", name, position, resolve, reject }));
    },

    async close() {
      await Promise.all([...subscriptions].map((s) => s.stop()));
      if (pending.length > 0 && db.isOpen) flush(); // what was accepted is written, not dropped
      if (db.isOpen) db.close();
      rmSync(join(dataDir, "herald.pid"), { force: true });
    },
  };
  return log;
}

/**
 * One process owns a data dir. The WASM SQLite locks with a `<file>.lock` directory, which a
 * killed process leaves behind; the pid file tells a stale lock from a live owner.
 */
function claimDataDir(dataDir: string, dbFile: string) {
  const pidFile = join(dataDir, "herald.pid");
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new ConfigError(
        `HERALD_DATA_DIR ${dataDir} is in use by process ${pid} (remove ${pidFile} if it is not Herald)`,
      );
    }
  }
  // No live owner: a lock left by a killed process is stale. SQLite then rolls back any hot
  // journal on open, so a half-written transaction never shows.
  rmSync(`${dbFile}.lock`, { recursive: true, force: true });
  writeFileSync(pidFile, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
