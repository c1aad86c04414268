import { once } from "node:events";
import express from "express";
import {
  createDaprNotificationTable,
  createLogger,
  createMailer,
  createMetrics,
  daprClientOf,
  daprComponents,
  instrumentEventLog,
  loadConfig,
  loadDirectory,
  openEventLog,
  startupStep,
  exitWithin,
  watchEventLog,
  watchMailer,
} from "@herald/core";
import { daprRoutes } from "./dapr-routes.ts";
import { createNotifier } from "./notifier.ts";

// The notifier as its own process, behind its Dapr sidecar (HERALD_MODE=dapr). In embedded
// mode it runs inside the web's process instead (services/web/src/embedded-worker.ts).

// ---- config ---------------------------------------------------------------------------
const config = startupStep(() => loadConfig());
const logger = createLogger(config.LOG_LEVEL, "herald-notifier");

// ---- adapters --------------------------------------------------------------------------
const directory = startupStep(() => loadDirectory(config, logger));
const metrics = createMetrics();
const store = startupStep(() => openEventLog(config));
const watching = { probeIntervalMs: config.HERALD_PROBE_INTERVAL_MS, logger, metrics };
const { log, health: logHealth } = watchEventLog(instrumentEventLog(store, metrics), watching);
const dapr = daprClientOf(config);
const table = createDaprNotificationTable(dapr, daprComponents.stateStore);
const { mailer, health: mailHealth } = watchMailer(createMailer(config).mailer, watching);

// ---- handlers --------------------------------------------------------------------------
const notifier = createNotifier({
  log,
  mailer,
  directory,
  metrics,
  logger,
  table,
  publicUrl: config.HERALD_PUBLIC_URL,
  sendLeaseMs: config.HERALD_SEND_LEASE_MS,
});
const app = express();
app.disable("x-powered-by");
// The sidecar's app health check (dapr.yaml): the notifier can take work only while the mail
// server and the event log both answer. While either is away it reports itself unhealthy and
// the sidecar stops delivering: messages wait in the broker with their retries unspent, instead
// of burning them on an outage and ending dead-lettered. The answer is the watchers' state, no
// I/O: a busy notifier must not read as a sick one. /livez says only that the process runs.
app.get("/livez", (_req, res) => void res.json({ status: "ok" }));
app.get("/healthz", (_req, res) => {
  const [mailServer, eventLog] = [mailHealth.status(), logHealth.status()];
  const healthy = mailServer.up && eventLog.up;
  res.status(healthy ? 200 : 503).json({ status: healthy ? "ok" : "unavailable", mailServer, eventLog });
});
app.get("/metrics", async (_req, res) => {
  res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
});
app.use(
  daprRoutes({
    notifier,
    dapr,
    logger,
    maxAttempts: config.HERALD_MAX_ATTEMPTS,
    isPaused: () => !mailHealth.isUp() || !logHealth.isUp(),
  }),
);

// ---- start -----------------------------------------------------------------------------
const server = app.listen(config.APP_PORT);
await once(server, "listening");
logger.info({ port: config.APP_PORT, queue: config.HERALD_QUEUE }, "herald notifier listening");

async function stop(signal: string) {
  logger.info({ signal }, "stopping");
  exitWithin(10_000, logger);
  mailHealth.stop();
  logHealth.stop();
  await new Promise((resolve) => server.close(resolve));
  await store.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));
