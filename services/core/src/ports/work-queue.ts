import type { NotificationMessage } from "../domain/queue-message.ts";

// ---- the queue between the web (relay) and the notifier ---------------------------------

export interface WorkQueue {
  publish(message: NotificationMessage): Promise<void>;
  /** Stops taking messages and lets those in flight finish (queues that run in this process). */
  close?(): Promise<void>;
}

/** The answer a consumer gives for one delivery, with Dapr's meaning. */
export type DeliveryStatus = "SUCCESS" | "RETRY" | "DROP";

// ---- what an SRE asks of the queue ------------------------------------------------------

export type QueueStats = {
  /** Messages no notifier has taken yet. */
  waiting: number;
  /** Messages taken by a notifier and not acknowledged yet (in flight or being retried). */
  inFlight: number;
  /** Age of the oldest message waiting or in flight; 0 when there is none. */
  oldestAgeSeconds: number;
};

/** Reads the broker's own counts (read-only, at scrape time), as KEDA's scalers do. */
export interface QueueInspector {
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

// ---- where a message the notifier gave up on is kept for an operator ----------------------

/** Queues with no dead letters of their own (Storage Queues) move such messages here. */
export interface PoisonQueue {
  put(message: unknown): Promise<void>;
}
