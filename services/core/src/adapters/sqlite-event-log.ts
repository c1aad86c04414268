import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sqlite from "node-sqlite3-wasm";
import { ConcurrencyError } from "../errors.ts";
import type { RecordedEvent } from "../events.ts";
import type { AppendResult, CheckpointStore, EventLog, ExpectedRevision, NewEvent, Subscription } from "../ports.ts";

// The embedded event log: one SQLite file under the data dir. Positions are the rowid of an
// AUTOINCREMENT table, so they only grow and are never reused. The WASM build of SQLite is
// used so that `npm ci` needs no native compiler; it runs synchronously, so one append is
// one transaction with nothing interleaved.

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
  db.exec("PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;");
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

  function append(stream: string, events: NewEvent[], options: { expectedRevision?: ExpectedRevision } = {}) {
    const expected = options.expectedRevision ?? "any";
    if (events.length === 0) throw new Error("append needs at least one event");
    db.exec("BEGIN IMMEDIATE");
    try {
      const current = lastRevision(stream);
      const holds = expected === "any" || (expected === "no_stream" ? current === null : current === expected);
      if (!holds)
        throw new ConcurrencyError(stream, String(expected), current === null ? "no_stream" : String(current));
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
      db.exec("COMMIT");
      appended.emit("append");
      return { nextRevision: revision, position } satisfies AppendResult;
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw error;
    }
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

    async save(name, position) {
      db.run(
        "INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        [name, position.toString()],
      );
    },

    async close() {
      await Promise.all([...subscriptions].map((s) => s.stop()));
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
      throw new Error(`HERALD_DATA_DIR ${dataDir} is in use by process ${pid} (remove ${pidFile} if it is not Herald)`);
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
