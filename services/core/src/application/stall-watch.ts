import type { Logger } from "pino";
import type { Metrics } from "../platform/metrics.ts";
import type { Subscription } from "../ports/index.ts";
import type { StalledNotification } from "./read-models.ts";

// The log is the source of truth, and the queue only carries work: a notification the log
// says is unfinished must not depend on the queue remembering it. A queue can forget a
// message without anyone being told: Redis trims a stream past maxLenApprox (oldest first,
// delivered or not); a broker acknowledges a delivery whose handler gave up; an Azure Storage
// Queue message expires. The stall watch notices what that leaves behind: a notification the
// relay queued that is not final and has had nothing recorded for `stallAfterMs`. It queues
// it again, saying so in the log (NotificationQueued with a reason) and in
// herald_stalled_notifications_requeued_total.
//
// It runs beside the relay, in the web that relays. Queuing again is safe: the notifier is
// idempotent, so a message that was only slow costs one more delivery, never a second email.
// Each requeue is itself an event, so a notification is queued again at most once per
// stallAfterMs.

export type StallWatchDeps = {
  /** Unfinished notifications quiet since a time (ReadModels.stalled). */
  stalled: (quietSince: number, limit: number) => StalledNotification[];
  /** Queues one again with the reason (relay's queueNotification). */
  requeue: (stalled: StalledNotification, reason: string) => Promise<void>;
  stallAfterMs: number;
  logger: Logger;
  metrics: Metrics;
  /** How often to look; default a quarter of stallAfterMs, at most a minute. */
  checkEveryMs?: number;
  /** Requeued per look at most: after a long outage the backlog goes back a batch at a time. */
  batch?: number;
};

export function startStallWatch({
  stalled,
  requeue,
  stallAfterMs,
  logger,
  metrics,
  checkEveryMs = Math.min(60_000, Math.max(250, Math.floor(stallAfterMs / 4))),
  batch = 500,
}: StallWatchDeps): Subscription {
  let timer: NodeJS.Timeout | null = null;
  let looking: Promise<void> | null = null;
  let stopped = false;

  async function look() {
    const found = stalled(Date.now() - stallAfterMs, batch);
    let requeued = 0;
    for (const notification of found) {
      if (stopped) break;
      const reason = `nothing recorded for ${Math.round(notification.quietForMs / 1000)} s after ${notification.lastEvent}`;
      try {
        await requeue(notification, reason);
        requeued += 1;
        metrics.stalledRequeued.inc();
      } catch (error) {
        // The log or the queue is away: the next look finds it still quiet.
        logger.warn(
          { err: error, notificationId: notification.message.notificationId },
          "could not requeue a stalled notification yet",
        );
        break;
      }
    }
    if (requeued > 0) {
      const sample = found.slice(0, 5).map((n) => n.message.notificationId);
      logger.warn(
        { requeued, stallAfterMs, sample },
        "queued stalled notifications again: the queue lost or held their messages",
      );
    }
  }

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      looking = look()
        .catch((error) => logger.warn({ err: error }, "stall watch failed; looking again later"))
        .finally(() => {
          looking = null;
          schedule();
        });
    }, checkEveryMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await looking;
    },
  };
}
