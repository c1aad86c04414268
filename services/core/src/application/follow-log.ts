import type { Logger } from "pino";
import type { RecordedEvent } from "../domain/events.ts";
import { backoff } from "../platform/backoff.ts";
import type { EventLog, Subscription } from "../ports/index.ts";

// Follows the log for as long as it runs: when the store goes away, or the handler fails
// (for instance because it could not append), it subscribes again after a pause, from the
// last event the handler finished. An event may so be handled twice, never skipped: every
// follower (relay, projections) is idempotent.

export type FollowOptions = {
  name: string;
  after: bigint | null;
  logger: Logger;
  onCaughtUp?: () => void;
  /** First pause before subscribing again; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
};

export function followLog(
  log: EventLog,
  { name, after, logger, onCaughtUp, retryMs = 200, maxRetryMs = 5000 }: FollowOptions,
  handler: (event: RecordedEvent) => Promise<void>,
): Subscription {
  let position = after;
  let current: Subscription | null = null;
  let stopped = false;
  let caughtUp = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | null = null;

  const subscribe = () => {
    if (stopped) return;
    current = log.subscribeAll(
      {
        after: position,
        onCaughtUp: () => {
          failures = 0;
          if (!caughtUp) {
            caughtUp = true;
            onCaughtUp?.();
          }
        },
        onError: (error) => {
          if (stopped) return;
          failures += 1;
          const delay = backoff(failures, { baseMs: retryMs, maxMs: maxRetryMs });
          logger.warn(
            { err: error, follower: name, retryInMs: delay, position: position?.toString() },
            "log follower interrupted",
          );
          const broken = current;
          retryTimer = setTimeout(() => void broken?.stop().finally(subscribe), delay);
        },
      },
      async (event) => {
        await handler(event);
        position = event.position;
      },
    );
  };
  subscribe();

  return {
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      await current?.stop();
    },
  };
}
