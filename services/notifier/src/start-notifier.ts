import express from "express";
import {
  type Config,
  createDigestRunner,
  createLogger,
  closeServer,
  listenOn,
  createMetrics,
  type Running,
  type SharedPlatform,
  watchEventLog,
  unsubscribeSecret,
  watchMailer,
} from "@herald/core";
import {
  loadDirectory,
  type MemoryQueue,
  openDaprQueue,
  openEventLog,
  openMailer,
  openNotificationTable,
  openPoisonQueue,
} from "@herald/core/adapters";
import { daprRoutes } from "./dapr-routes.ts";
import { createNotifier } from "./deliver-notification.ts";

// The notifier's composition root: config → adapters → the delivery handler → where its work
// comes from. In Dapr mode that is its own HTTP server, where its sidecar delivers; in
// embedded mode, the in-process queue the host hands it (services/embedded).

export type NotifierOptions = Partial<SharedPlatform> & {
  /** Embedded mode: the in-process queue to consume instead of serving a sidecar. */
  queue?: MemoryQueue;
};

export async function startNotifier(config: Config, shared: NotifierOptions = {}): Promise<Running> {
  // ---- platform and adapters -------------------------------------------------------------
  const logger = shared.logger?.child({ component: "notifier" }) ?? createLogger(config.LOG_LEVEL, "herald-notifier");
  const metrics = shared.metrics ?? createMetrics();
  const directory = shared.directory ?? loadDirectory(config, logger);
  const eventLog = shared.eventLog ?? openEventLog(config, metrics);
  // While the mail server or the log is away the notifier takes no work (see dependency-health).
  const watching = { probeIntervalMs: config.HERALD_PROBE_INTERVAL_MS, logger, metrics };
  const { log, health: logHealth } = watchEventLog(eventLog.log, watching);
  const { mailer, health: mailHealth } = watchMailer(openMailer(config), watching);
  const isPaused = () => !mailHealth.isUp() || !logHealth.isUp();

  // ---- the handler -----------------------------------------------------------------------
  // Where a message the queue gave up on too early goes back: the in-process queue, or the
  // sidecar's topic or binding.
  const requeueTo = shared.queue ?? openDaprQueue(config);
  const notifier = createNotifier({
    log,
    mailer,
    directory,
    metrics,
    logger,
    table: openNotificationTable(config),
    publicUrl: config.HERALD_PUBLIC_URL,
    sendLeaseMs: config.HERALD_SEND_LEASE_MS,
    maxAttempts: config.HERALD_MAX_ATTEMPTS,
    requeue: (message) => requeueTo.publish(message),
    unsubscribeSecret: unsubscribeSecret(config, logger),
  });
  const stopWatching = async () => {
    mailHealth.stop();
    logHealth.stop();
    await mailer.close?.();
  };

  // ---- embedded: consume the in-process queue --------------------------------------------
  if (shared.queue) {
    const queue = shared.queue;
    queue.consume(notifier.handle, notifier.deadLetter, { isPaused });
    mailHealth.onChange((up) => up && queue.resume());
    logHealth.onChange((up) => up && queue.resume());
    return { url: null, logger, stop: stopWatching };
  }

  // ---- Dapr: serve the sidecar -----------------------------------------------------------
  const app = express();
  app.disable("x-powered-by");
  // The sidecar's app health check (dapr.yaml): the notifier can take work only while the mail
  // server and the event log both answer. While either is away it reports itself unhealthy and
  // the sidecar stops delivering: messages wait in the broker with their retries unspent,
  // instead of burning them on an outage and ending dead-lettered. The answer is the
  // watchers' state, no I/O: a busy notifier must not read as a sick one. /livez says only
  // that the process runs.
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
      poisonQueue: openPoisonQueue(config),
      logger,
      maxAttempts: config.HERALD_MAX_ATTEMPTS,
      isPaused,
      // The digests' clock is the cron binding here; embedded mode runs a timer (its host).
      runDigests: createDigestRunner({
        log,
        directory,
        metrics,
        logger: logger.child({ component: "digests" }),
        graceMs: config.HERALD_DIGEST_GRACE_SECONDS * 1000,
      }).runDigests,
    }),
  );

  const { server, port } = await listenOn(app, config.APP_PORT, "APP_PORT");
  logger.info({ port, queue: config.HERALD_QUEUE }, "herald notifier listening");

  return {
    url: `http://127.0.0.1:${port}`,
    logger,
    async stop() {
      await closeServer(server);
      await stopWatching();
      if (!shared.eventLog) await eventLog.store.close();
    },
  };
}
