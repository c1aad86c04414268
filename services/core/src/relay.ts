import type { Logger } from "pino";
import { notificationStream } from "./events.ts";
import { followLog } from "./follow-log.ts";
import type { Metrics } from "./metrics.ts";
import type { CheckpointStore, EventLog, Subscription, WorkQueue } from "./ports.ts";

// The relay follows the log from its durable checkpoint and hands every requested (or
// redriven) notification to the queue. The checkpoint moves only after the message is
// queued, so a crash at any point means "queue it again", never "forget it"; the notifier
// is idempotent, so again is harmless.

export const relayCheckpoint = "relay";

export type RelayDeps = {
  log: EventLog;
  checkpoints: CheckpointStore;
  queue: WorkQueue;
  logger: Logger;
  metrics: Metrics;
};

export async function startRelay({ log, checkpoints, queue, logger, metrics }: RelayDeps): Promise<Subscription> {
  const after = await checkpoints.load(relayCheckpoint);
  logger.info({ checkpoint: after?.toString() ?? null }, "relay starting");
  return followLog(
    log,
    { name: "relay", after, logger, onCaughtUp: () => logger.info("relay caught up") },
    async (event) => {
      if (event.type !== "NotificationRequested" && event.type !== "NotificationRedriven") return;
      const { notificationId, uploadId } = event.data;
      const traceparent = event.metadata.traceparent;
      await log.append(notificationStream(notificationId), [
        { type: "NotificationQueued", data: { notificationId }, metadata: { traceparent } },
      ]);
      await queue.publish({
        version: 1,
        notificationId,
        uploadId,
        enqueuedAt: new Date().toISOString(),
        traceparent,
      });
      await checkpoints.save(relayCheckpoint, event.position);
      metrics.relayedEvents.inc();
      metrics.relayDelay.observe(Math.max(0, Date.now() - Date.parse(event.metadata.occurredAt)) / 1000);
      logger.debug({ notificationId, position: event.position.toString() }, "relayed");
    },
  );
}
