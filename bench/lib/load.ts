import type { Arrivals } from "./sink.ts";
import { type Summary, summarize } from "./stats.ts";
import { bounded, deadlinePassed, sleep, waitUntil } from "./wait.ts";

// The P1 load, the same for Herald and for the baselines: `count` sends (an upload, or the two
// jobs a baseline's producer adds for one), `inFlight` of them at a time (closed loop), each
// returning the ids of the emails it asks for; then wait until the sink has every id.

export type LoadResult = {
  /** Emails asked for (ids returned by successful sends). */
  requested: number;
  /** Distinct ids received. */
  received: number;
  lost: number;
  /** Copies beyond the first, over all ids. */
  duplicates: number;
  failedSends: number;
  firstError?: string;
  /** First send → last send answered: how long the producer (the uploads) took. */
  sendSeconds: number;
  /** First send → last first-copy arrival. */
  seconds: number;
  emailsPerSecond: number;
  /** Send start → first copy at the sink, in ms. */
  latency: Summary;
  timedOut: boolean;
  ids: string[];
};

export type LoadOptions = {
  count: number;
  inFlight: number;
  /** One send; resolves with the ids of the emails it asked for. Must be bounded itself. */
  send: (i: number) => Promise<string[]>;
  arrivals: Arrivals;
  /** For sending and delivery together, from the first send. */
  timeoutMs: number;
  /** Names the load in the progress lines printed to stderr every 15 s. */
  label: string;
};

/** Runs the load and waits for delivery; `summary()` reads the arrivals when called (call it after a settle time to see late duplicates). */
export async function driveLoad({ count, inFlight, send, arrivals, timeoutMs, label }: LoadOptions) {
  const sentAt = new Map<string, number>();
  let failedSends = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const end = t0 + bounded(timeoutMs);
  let next = 0;
  const progress = setInterval(() => {
    const received = [...sentAt.keys()].filter((id) => arrivals.of(id) !== undefined).length;
    const seconds = ((performance.now() - t0) / 1000).toFixed(0);
    console.error(`bench: ${label}: ${seconds} s, ${next} of ${count} sends, ${received} of ${sentAt.size} emails in`);
  }, 15_000).unref();
  const lane = async () => {
    while (next < count && performance.now() < end && !deadlinePassed()) {
      const i = next++;
      const start = performance.now();
      try {
        for (const id of await send(i)) sentAt.set(id, start);
      } catch (error) {
        failedSends += 1;
        firstError ??= (error as Error).message.split("\n")[0];
        await sleep(10); // a failing target answers at once: don't spin on it
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
  const sendSeconds = (performance.now() - t0) / 1000;
  const ids = [...sentAt.keys()];
  let missing = ids;
  const delivered = await waitUntil(
    () => {
      missing = missing.filter((id) => arrivals.of(id) === undefined);
      return missing.length === 0;
    },
    end - performance.now(),
    50,
  );
  const drainedAt = performance.now();
  clearInterval(progress);

  return {
    drainedAt,
    summary(): LoadResult {
      const latencies: number[] = [];
      let lastArrival = t0;
      let duplicates = 0;
      for (const [id, start] of sentAt) {
        const times = arrivals.of(id);
        if (!times) continue;
        latencies.push(times[0]! - start);
        lastArrival = Math.max(lastArrival, times[0]!);
        duplicates += times.length - 1;
      }
      const received = latencies.length;
      // A run cut short is measured up to when it was cut, on the emails that had come by then.
      const windowEnd = delivered ? lastArrival : drainedAt;
      const inWindow = delivered
        ? received
        : ids.filter((id) => (arrivals.of(id)?.[0] ?? Infinity) <= drainedAt).length;
      const seconds = (windowEnd - t0) / 1000;
      return {
        requested: ids.length,
        received,
        lost: ids.length - received,
        duplicates,
        failedSends,
        firstError,
        sendSeconds,
        seconds,
        emailsPerSecond: seconds > 0 ? inWindow / seconds : 0,
        latency: summarize(latencies),
        timedOut: !delivered || next < count,
        ids,
      };
    },
  };
}
