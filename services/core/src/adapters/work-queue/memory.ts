import type { NotificationMessage } from "../../domain/index.ts";
import { backoff } from "../../platform/backoff.ts";
import type { DeliveryStatus, QueueStats, WorkQueue } from "../../ports/index.ts";

// The embedded queue between the relay and the notifier, with the delivery rules Dapr gives
// in the other modes: at-least-once, RETRY redelivers with exponential backoff up to
// maxAttempts, then the message goes to the dead-letter handler; DROP and SUCCESS remove it.
// A notification is never delivered twice at once: publishing one that is already waiting,
// in flight or scheduled for a retry is a no-op (that delivery will do the work).
// It lives in memory: on restart, the relay's checkpoint and the notification table bring
// back what was in flight (see services/web/src/start-web.ts).

export type QueueHandler = (message: NotificationMessage, delivery: { attempt: number }) => Promise<DeliveryStatus>;
export type DeadLetterHandler = (message: NotificationMessage, reason: string) => Promise<unknown>;

export type MemoryQueueOptions = {
  concurrency: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs?: number;
  /**
   * While this says true, no message is handed out, and one answered RETRY goes back to wait
   * with its attempt unspent (what Dapr does while its app reports itself unhealthy). Call
   * resume() when it turns false.
   */
  isPaused?: () => boolean;
};

/** attempt: deliveries answered RETRY so far + 1; failures: deliveries whose handler threw in a row. */
type Entry = { message: NotificationMessage; attempt: number; failures: number };

export function createMemoryQueue(options: MemoryQueueOptions) {
  const retryMaxMs = options.retryMaxMs ?? 60_000;
  const ready: Entry[] = [];
  /** notificationIds waiting, in flight or scheduled. */
  const present = new Set<string>();
  /** Retries waiting for their time. */
  const scheduled = new Map<NodeJS.Timeout, Entry>();
  const inFlight = new Set<Entry>();
  let handler: QueueHandler | null = null;
  let deadLetter: DeadLetterHandler = async () => {};
  let stopped = false;
  const idleWaiters: Array<() => void> = [];
  let isPaused = options.isPaused;
  const paused = () => isPaused?.() ?? false;

  const pump = () => {
    while (handler && !stopped && !paused() && inFlight.size < options.concurrency && ready.length > 0) {
      const entry = ready.shift()!;
      inFlight.add(entry);
      void deliver(handler, entry).finally(() => {
        inFlight.delete(entry);
        pump();
        if (inFlight.size === 0 && ready.length === 0 && scheduled.size === 0)
          idleWaiters.splice(0).forEach((w) => w());
      });
    }
  };

  const deliver = async (consume: QueueHandler, entry: Entry) => {
    let status: DeliveryStatus;
    try {
      status = await consume(entry.message, { attempt: entry.attempt });
    } catch {
      // The handler could not do its work at all (the event log is away, say): never a success.
      // It says nothing about the message either, so it uses up none of its attempts.
      const failures = entry.failures + 1;
      schedule({ ...entry, failures }, retryDelay(failures));
      return;
    }
    if (status !== "RETRY") {
      present.delete(entry.message.notificationId);
      return;
    }
    if (paused()) {
      ready.unshift(entry);
      return;
    }
    if (entry.attempt >= options.maxAttempts) {
      // Released first: the dead-letter handler may publish the message again (fresh attempts).
      present.delete(entry.message.notificationId);
      try {
        await deadLetter(entry.message, `gave up after ${entry.attempt} deliveries`);
      } catch {
        // Could not record the dead letter (the log is away): keep the message and try later.
        present.add(entry.message.notificationId);
        schedule(entry, retryMaxMs);
      }
      return;
    }
    schedule({ ...entry, attempt: entry.attempt + 1, failures: 0 }, retryDelay(entry.attempt));
  };

  const retryDelay = (n: number) => backoff(n, { baseMs: options.retryBaseMs, maxMs: retryMaxMs });

  const schedule = (entry: Entry, delay: number) => {
    const timer = setTimeout(() => {
      scheduled.delete(timer);
      ready.push(entry);
      pump();
    }, delay);
    scheduled.set(timer, entry);
  };

  const queue = {
    async publish(message: NotificationMessage) {
      if (stopped) throw new Error("queue is stopped");
      if (present.has(message.notificationId)) return;
      present.add(message.notificationId);
      ready.push({ message, attempt: 1, failures: 0 });
      pump();
    },
    /** Starts delivering to onMessage; `isPaused` (see MemoryQueueOptions) may be given here by the consumer. */
    consume(onMessage: QueueHandler, onDeadLetter: DeadLetterHandler, consumer: { isPaused?: () => boolean } = {}) {
      handler = onMessage;
      deadLetter = onDeadLetter;
      isPaused = consumer.isPaused ?? isPaused;
      pump();
    },
    /** Hands out messages again after isPaused() turned false. */
    resume: () => pump(),
    /** Messages waiting, in flight or waiting for a retry. */
    depth: () => ready.length + inFlight.size + scheduled.size,
    /** For the queue gauges: scheduled retries count as waiting. */
    async stats(): Promise<QueueStats> {
      const oldest = [...inFlight, ...ready, ...scheduled.values()].reduce(
        (min, e) => Math.min(min, Date.parse(e.message.enqueuedAt)),
        Date.now(),
      );
      return {
        waiting: ready.length + scheduled.size,
        inFlight: inFlight.size,
        oldestAgeSeconds: (Date.now() - oldest) / 1000,
      };
    },
    /** Resolves when nothing is waiting, in flight or scheduled. */
    idle: () =>
      new Promise<void>((resolve) => {
        if (inFlight.size === 0 && ready.length === 0 && scheduled.size === 0) resolve();
        else idleWaiters.push(resolve);
      }),
    /** Stops taking work; waits (up to graceMs) for deliveries in flight to finish. */
    async close(graceMs = 10_000) {
      stopped = true;
      for (const timer of scheduled.keys()) clearTimeout(timer);
      scheduled.clear();
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
  } satisfies WorkQueue & Record<string, unknown>;
  return queue;
}

export type MemoryQueue = ReturnType<typeof createMemoryQueue>;
