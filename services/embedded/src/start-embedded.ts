import {
  type Config,
  createDigestRunner,
  createLogger,
  createMetrics,
  type Running,
  startDigestTimer,
} from "@herald/core";
import { createMemoryQueue, loadDirectory, openEventLog } from "@herald/core/adapters";
import { startNotifier } from "@herald/notifier";
import { startWeb } from "@herald/web";

// Embedded mode (`npm start`): the web and the notifier in one process, joined by an
// in-process queue with the delivery rules Dapr gives in the other mode (retries with
// backoff, dead letters, a pause while the mail server is away). They share one logger, one
// metrics registry and one event log, which this host opens and closes. The daily digests run
// here too, on an in-process timer (every HERALD_DIGEST_TICK_SECONDS).

export async function startEmbedded(config: Config): Promise<Running & { url: string }> {
  const logger = createLogger(config.LOG_LEVEL, "herald");
  const metrics = createMetrics();
  const directory = loadDirectory(config, logger);
  const eventLog = openEventLog(config, metrics);
  const shared = { logger, metrics, directory, eventLog };
  const queue = createMemoryQueue({
    concurrency: config.HERALD_NOTIFIER_CONCURRENCY,
    maxAttempts: config.HERALD_MAX_ATTEMPTS,
    retryBaseMs: config.HERALD_RETRY_BASE_MS,
  });

  const notifier = await startNotifier(config, { ...shared, queue });
  const web = await startWeb(config, { ...shared, queue });
  const digests = startDigestTimer(
    createDigestRunner({
      log: eventLog.log,
      directory,
      metrics,
      logger: logger.child({ component: "digests" }),
      graceMs: config.HERALD_DIGEST_GRACE_SECONDS * 1000,
    }),
    { tickMs: config.HERALD_DIGEST_TICK_SECONDS * 1000, logger },
  );
  return {
    url: web.url,
    logger,
    async stop() {
      await digests.stop(); // no new digests
      await web.stop(); // no new uploads, the relay stops
      await queue.close(); // deliveries in flight finish
      await notifier.stop();
      await eventLog.store.close();
    },
  };
}
