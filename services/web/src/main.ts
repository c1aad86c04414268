import { once } from "node:events";
import type { AddressInfo } from "node:net";
import {
  createLogger,
  createMailer,
  createMetrics,
  createReadModels,
  followLog,
  instrumentEventLog,
  loadConfig,
  loadDirectory,
  openBlobStore,
  openDaprQueue,
  openEventLog,
  openQueueInspector,
  relayCheckpoint,
  startRelay,
  startupStep,
  exitWithin,
} from "@herald/core";
import { createWebApp } from "./app.ts";
import { startEmbeddedWorker } from "./embedded-worker.ts";

// The web: HTTP API, read models and the relay. In embedded mode (`npm start`) the notifier
// runs in this process too; in Dapr mode the relay publishes through the sidecar and the
// notifier is its own process (services/notifier).

// ---- config ---------------------------------------------------------------------------
const config = startupStep(() => loadConfig());
const logger = createLogger(config.LOG_LEVEL, "herald-web");

// ---- adapters --------------------------------------------------------------------------
const directory = startupStep(() => loadDirectory(config, logger));
const metrics = createMetrics();
const store = startupStep(() => openEventLog(config));
const log = instrumentEventLog(store, metrics);
const blobs = await openBlobStore(config);
const { mailer, outbox } = createMailer(config);

// ---- read models: replay the log, then follow it ---------------------------------------
const readModels = createReadModels();
let caughtUp = false;
let markCaughtUp: () => void;
const caughtUpOnce = new Promise<void>((resolve) => (markCaughtUp = resolve));
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
await caughtUpOnce;

// ---- queue and relay -------------------------------------------------------------------
const queue =
  config.HERALD_MODE === "dapr"
    ? openDaprQueue(config)
    : await startEmbeddedWorker({ config, log, checkpoints: store, mailer, directory, metrics, logger, readModels });
const inspector = config.HERALD_MODE === "dapr" ? openQueueInspector(config) : null;
if (inspector) metrics.trackQueue(() => inspector.stats());
metrics.trackRelayLag(async () => {
  const after = await store.load(relayCheckpoint);
  return (await log.readAll({ after, maxCount: 10_000 })).length;
});
const relay = await startRelay({
  log,
  checkpoints: store,
  queue,
  metrics,
  logger: logger.child({ component: "relay" }),
});

// ---- web -------------------------------------------------------------------------------
const app = createWebApp({
  log,
  blobs,
  directory,
  readModels,
  metrics,
  logger,
  maxUploadBytes: config.HERALD_MAX_UPLOAD_BYTES,
  uploadIdleTimeoutMs: config.HERALD_UPLOAD_IDLE_TIMEOUT_MS,
  isCaughtUp: () => caughtUp,
  outbox,
});
const server = app.listen(config.PORT);
await once(server, "listening");
server.requestTimeout = 10 * 60_000; // large uploads take a while; a stalled one is cut off
server.headersTimeout = 30_000;
logger.info(
  {
    port: (server.address() as AddressInfo).port,
    mode: config.HERALD_MODE,
    eventLog: config.EVENTSTORE_URL ? "eventstoredb" : "sqlite",
    queue: config.HERALD_MODE === "dapr" ? config.HERALD_QUEUE : "in-process",
    mail: config.SMTP_URL ? "smtp" : "outbox",
  },
  "herald web listening",
);

// ---- stop ------------------------------------------------------------------------------
let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "stopping");
  exitWithin(10_000, logger);
  server.close();
  await relay.stop();
  await queue.close?.();
  await inspector?.close();
  await projection.stop();
  await store.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));
