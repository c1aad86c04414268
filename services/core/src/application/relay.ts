import type { Logger } from "pino";
import {
  type DigestRequested,
  evolve,
  type NotificationRedriven,
  type NotificationRequested,
  notificationMessage,
  type RecordedEvent,
} from "../domain/index.ts";
import { backoff } from "../platform/backoff.ts";
import type { Metrics } from "../platform/metrics.ts";
import type { CheckpointStore, EventLog, Subscription, WorkQueue } from "../ports/index.ts";
import { followLog } from "./follow-log.ts";
import type { NotificationCommands, NotificationRef, NotificationSnapshot } from "./notification-commands.ts";

// The relay follows the log from its durable checkpoint and hands every requested (or
// redriven) notification to the queue, an upload's or a digest's alike: it records
// NotificationQueued, then publishes.
//
// It works on up to `concurrency` notifications at once (one after another, each costs a few
// round trips and the relay would cap throughput), and the checkpoint only ever moves past a
// position once every event up to it is done. So a crash at any point means "queue it
// again", never "forget it"; the notifier is idempotent, so again is harmless. A step that
// fails (the queue or the log away) is tried again, with backoff, until it succeeds or the
// relay stops; nothing after it is checkpointed meanwhile.
//
// The checkpoint moves on the events the relay relays, and only on them. On EventStoreDB a
// checkpoint is itself an event in $all, which the relay reads: a relay that checkpointed
// past every event would answer each of its own checkpoints with another one, forever.

export const relayCheckpoint = "relay";

/** Events the relay hands to the queue: everything else in the log it has nothing to do for. */
type RelayedEvent = RecordedEvent<NotificationRequested | DigestRequested | NotificationRedriven>;
const isRelayed = (event: RecordedEvent): event is RelayedEvent =>
  event.type === "NotificationRequested" || event.type === "DigestRequested" || event.type === "NotificationRedriven";

export type RelayDeps = {
  log: EventLog;
  commands: NotificationCommands;
  checkpoints: CheckpointStore;
  queue: WorkQueue;
  logger: Logger;
  metrics: Metrics;
  /** Notifications handed to the queue at once. */
  concurrency?: number;
};

export async function startRelay({
  log,
  commands,
  checkpoints,
  queue,
  logger,
  metrics,
  concurrency = 64,
}: RelayDeps): Promise<Subscription> {
  const after = await checkpoints.load(relayCheckpoint);
  logger.info({ checkpoint: after?.toString() ?? null, concurrency }, "relay starting");
  const progress = checkpointTracker(after, (position) => checkpoints.save(relayCheckpoint, position), logger);
  let stopped = false;
  let inFlight = 0;
  let slotFreed: (() => void) | null = null;

  async function relay(event: RelayedEvent) {
    const { data } = event;
    const ref = {
      notificationId: data.notificationId,
      uploadId: "uploadId" in data ? data.uploadId : "",
      digestId: "digestId" in data ? data.digestId : undefined,
    };
    const { traceparent } = event.metadata;
    // A request is decided on the event in hand: its notification stream is new, unless a
    // restart relays it again, and then the append's conflict makes the handler read the log.
    const known =
      event.type === "NotificationRedriven"
        ? undefined
        : { state: evolve(null, event)!, revision: "no_stream" as const };
    for (let tries = 1; ; tries++) {
      try {
        await queueNotification({ commands, queue }, ref, { traceparent, known: tries === 1 ? known : undefined });
        break;
      } catch (error) {
        if (stopped) throw error;
        const pause = backoff(tries, { baseMs: 200, maxMs: 5000 });
        logger.warn({ err: error, notificationId: ref.notificationId, retryInMs: pause }, "could not relay yet");
        await new Promise((r) => setTimeout(r, pause));
      }
    }
    metrics.relayedEvents.inc();
    metrics.relayDelay.observe(Math.max(0, Date.now() - Date.parse(event.metadata.occurredAt)) / 1000);
  }

  const subscription = followLog(
    log,
    { name: "relay", after, logger, onCaughtUp: () => logger.info("relay caught up") },
    async (event) => {
      if (!isRelayed(event)) return;
      if (progress.seen(event.position)) return; // a follower resubscribed: already under way
      while (inFlight >= concurrency) await new Promise<void>((r) => (slotFreed = r));
      inFlight += 1;
      progress.start(event.position);
      void relay(event)
        .then(
          () => progress.done(event.position),
          () => undefined, // only when stopping: left uncheckpointed, relayed again at the next start
        )
        .finally(() => {
          inFlight -= 1;
          slotFreed?.();
          slotFreed = null;
        });
    },
  );

  // The relay's backlog, read at scrape time: what it has yet to hand to the queue, whatever
  // else the log holds after its checkpoint.
  metrics.trackRelayLag(async () => {
    const after = await checkpoints.load(relayCheckpoint);
    return (await log.readAll({ after, maxCount: 10_000 })).filter(isRelayed).length;
  });

  return {
    async stop() {
      await subscription.stop();
      // Let what is under way finish (bounded), so its checkpoint is saved.
      const deadline = Date.now() + 5000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      stopped = true;
      await progress.close();
    },
  };
}

/**
 * Hands a notification to the queue: records NotificationQueued (saying why, when it is queued
 * again), then publishes. The relay and the stall watch both queue this way.
 */
export async function queueNotification(
  { commands, queue }: { commands: NotificationCommands; queue: WorkQueue },
  ref: NotificationRef,
  { traceparent, known, reason }: { traceparent?: string; known?: NotificationSnapshot; reason?: string },
) {
  await commands.execute(ref, { type: "Queue", reason }, { traceparent, known });
  await queue.publish(notificationMessage({ ...ref, traceparent }));
}

/**
 * Which positions are under way, and the highest one below which everything is done: that
 * one is saved, one save at a time (a save asked for during another waits and takes the
 * latest position).
 */
function checkpointTracker(after: bigint | null, save: (position: bigint) => Promise<void>, logger: Logger) {
  const underWay: Array<{ position: bigint; done: boolean }> = [];
  let highestSeen = after;
  let completed = after;
  let saved = after;
  let saving: Promise<void> | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const advance = () => {
    while (underWay[0]?.done) completed = underWay.shift()!.position;
    if (saving || retryTimer || completed === null || completed === saved) return;
    const position = completed;
    saving = save(position).then(
      () => {
        saved = position;
        saving = null;
        advance();
      },
      (error) => {
        saving = null;
        if (closed) return;
        // The store is away: try again in a while, not in a loop (the next start redoes
        // whatever the saved checkpoint does not cover).
        logger.warn({ err: error }, "could not save the relay checkpoint yet");
        retryTimer = setTimeout(() => {
          retryTimer = null;
          advance();
        }, 1000);
      },
    );
  };

  return {
    /** True for a position this relay has already taken (at or before the last one seen). */
    seen: (position: bigint) => highestSeen !== null && position <= highestSeen,
    start(position: bigint) {
      highestSeen = position;
      underWay.push({ position, done: false });
    },
    done(position: bigint) {
      const entry = underWay.find((e) => e.position === position);
      if (entry) entry.done = true;
      advance();
    },
    /** Saves the latest completed position, once, and stops saving. */
    async close() {
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      await saving;
      closed = true;
      advance();
      await saving;
    },
  };
}
