import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import {
  createFsBlobStore,
  createLogger,
  createMemoryQueue,
  createMetrics,
  createOutboxMailer,
  createReadModels,
  createSmtpMailer,
  followLog,
  instrumentEventLog,
  loadConfig,
  openEventStoreEventLog,
  openSqliteEventLog,
  relayCheckpoint,
  startRelay,
} from "@herald/core";
import { createNotifier } from "@herald/notifier";
import { createWebApp } from "./app.ts";
import { loadDirectory } from "./directory.ts";

// Herald in embedded mode: web, relay and notifier in one process, with blobs in a folder and
// an in-process queue; the event log is a SQLite file, or EventStoreDB when EVENTSTORE_URL is
// set. `npm start` runs this.

// ---- config ---------------------------------------------------------------------------
const config = startupStep(() => loadConfig());
const logger = createLogger(config.LOG_LEVEL);
const dataDir = resolve(config.HERALD_DATA_DIR);

// ---- adapters --------------------------------------------------------------------------
const directory = startupStep(() => loadDirectory(config, logger));
const metrics = createMetrics();
const store = startupStep(() =>
  config.EVENTSTORE_URL ? openEventStoreEventLog(config.EVENTSTORE_URL) : openSqliteEventLog(dataDir),
);
const log = instrumentEventLog(store, metrics);
const blobs = createFsBlobStore(join(dataDir, "blobs"));
const outbox = config.SMTP_URL ? undefined : createOutboxMailer(join(dataDir, "outbox"), config.MAIL_FROM);
const mailer = config.SMTP_URL ? createSmtpMailer(config.SMTP_URL, config.MAIL_FROM) : outbox!;
const queue = createMemoryQueue({
  concurrency: config.HERALD_NOTIFIER_CONCURRENCY,
  maxAttempts: config.HERALD_MAX_ATTEMPTS,
  retryBaseMs: config.HERALD_RETRY_BASE_MS,
});

// ---- read models: replay the log, then follow it ---------------------------------------
const readModels = createReadModels();
let caughtUp = false;
let markCaughtUp: () => void;
const caughtUpOnce = new Promise<void>((resolveCaughtUp) => (markCaughtUp = resolveCaughtUp));
const projection = followLog(
  log,
  {
    name: "read-models",
    after: null,
    logger,
    onCaughtUp: () => {
      caughtUp = true;
      markCaughtUp();
    },
  },
  async (event) => readModels.apply(event),
);

// ---- worker and relay ------------------------------------------------------------------
const notifier = createNotifier({
  log,
  mailer,
  directory,
  metrics,
  logger: logger.child({ component: "notifier" }),
  publicUrl: config.HERALD_PUBLIC_URL,
});
queue.consume(notifier.handle, notifier.deadLetter);
metrics.trackQueueDepth(queue.depth);

await caughtUpOnce;
// The embedded queue is in memory: what it held when the process stopped is gone. Every
// notification the relay already passed and that is not final goes back on the queue; the
// notifier skips any that turn out to be done.
const relayedUpTo = await store.load(relayCheckpoint);
if (relayedUpTo !== null) {
  const pending = readModels.unfinished(relayedUpTo);
  for (const n of pending) {
    await queue.publish({
      version: 1,
      notificationId: n.notificationId,
      uploadId: n.uploadId,
      enqueuedAt: new Date().toISOString(),
    });
  }
  if (pending.length > 0) logger.info({ count: pending.length }, "requeued unfinished notifications after restart");
}
const relay = await startRelay({ log, checkpoints: store, queue, logger: logger.child({ component: "relay" }) });

// ---- web -------------------------------------------------------------------------------
const app = createWebApp({
  log,
  blobs,
  directory,
  readModels,
  metrics,
  logger,
  maxUploadBytes: config.HERALD_MAX_UPLOAD_BYTES,
  isCaughtUp: () => caughtUp,
  outbox,
});
const server = app.listen(config.PORT);
await once(server, "listening");
server.requestTimeout = 10 * 60_000; // uploads of large files take a while; slow-loris gets cut
server.headersTimeout = 30_000;
logger.info(
  {
    port: (server.address() as AddressInfo).port,
    dataDir,
    eventLog: config.EVENTSTORE_URL ? "eventstoredb" : "sqlite",
    mail: config.SMTP_URL ? "smtp" : "outbox",
  },
  "herald listening",
);

// ---- stop ------------------------------------------------------------------------------
let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "stopping");
  server.close();
  await relay.stop();
  await queue.stop();
  await projection.stop();
  await store.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));

/** A setting that cannot work stops the process with a message naming it, not a stack trace. */
function startupStep<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}
