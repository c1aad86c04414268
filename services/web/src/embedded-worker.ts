import {
  type CheckpointStore,
  type Config,
  createMemoryNotificationTable,
  createMemoryQueue,
  type Directory,
  type EventLog,
  type Logger,
  type Mailer,
  type Metrics,
  type ReadModels,
  relayCheckpoint,
  watchMailer,
} from "@herald/core";
import { createNotifier } from "@herald/notifier";

// Embedded mode: the notifier runs in the web's process, fed by an in-memory queue with the
// delivery rules Dapr has in the other mode.

type Deps = {
  config: Config;
  log: EventLog;
  checkpoints: CheckpointStore;
  mailer: Mailer;
  directory: Directory;
  metrics: Metrics;
  logger: Logger;
  readModels: ReadModels;
};

export async function startEmbeddedWorker({
  config,
  log,
  checkpoints,
  mailer,
  directory,
  metrics,
  logger,
  readModels,
}: Deps) {
  // While the mail server is unreachable the queue holds its messages, attempts unspent.
  const mail = watchMailer(mailer, { probeIntervalMs: config.HERALD_PROBE_INTERVAL_MS, logger, metrics });
  const queue = createMemoryQueue({
    concurrency: config.HERALD_NOTIFIER_CONCURRENCY,
    maxAttempts: config.HERALD_MAX_ATTEMPTS,
    retryBaseMs: config.HERALD_RETRY_BASE_MS,
    isPaused: () => !mail.health.isUp(),
  });
  mail.health.onChange((up) => up && queue.resume());
  const notifier = createNotifier({
    log,
    mailer: mail.mailer,
    directory,
    metrics,
    logger: logger.child({ component: "notifier" }),
    table: createMemoryNotificationTable(),
    publicUrl: config.HERALD_PUBLIC_URL,
    sendLeaseMs: config.HERALD_SEND_LEASE_MS,
  });
  queue.consume(notifier.handle, notifier.deadLetter);
  metrics.trackQueue(queue.stats);

  // The queue is in memory: what it held when the process stopped is gone. Every notification
  // the relay already passed and that is not final goes back on it (the relay covers the
  // rest); the notifier skips any that turn out to be done.
  const relayedUpTo = await checkpoints.load(relayCheckpoint);
  const pending = relayedUpTo === null ? [] : readModels.unfinished(relayedUpTo);
  for (const n of pending) {
    await queue.publish({
      version: 1,
      notificationId: n.notificationId,
      uploadId: n.uploadId,
      enqueuedAt: new Date().toISOString(),
    });
  }
  if (pending.length > 0) logger.info({ count: pending.length }, "requeued unfinished notifications after restart");
  return queue;
}
