import { client, tokens } from "../test/support/api-client.ts";
import { launchEmbedded, logIssues, logMark } from "./lib/herald.ts";
import type { Arrivals } from "./lib/sink.ts";
import { type Summary, summarize } from "./lib/stats.ts";
import { deadlinePassed, sleep, waitUntil, withTimeout } from "./lib/wait.ts";

// P3: how long an upload waits for its 202 at a fixed offered rate. Open loop: upload i is sent
// at start + i/rate whether or not earlier ones were answered (a closed loop would slow down
// with Herald and hide the queueing), and its latency is counted from when it was due, not from
// when the benchmark got round to sending it. Each rate gets a fresh Herald embedded (warmed up
// first), so the emails of one rate's uploads are not still being sent during the next.

export type P3Result = {
  rate: number;
  offered: number;
  accepted: number;
  errors: number;
  timeouts: number;
  firstError?: string;
  /** Warnings and errors Herald logged, if any. */
  logIssues?: string;
  /** Due time → answer (or → giving up, for a timeout), in ms. */
  latency: Summary;
};

const file = { name: "bench-1k.txt", content: "y".repeat(1024) };

/**
 * A fresh process's first uploads pay for lazy loading, JIT and the first mail connection: a few
 * uploads one at a time, and their emails, before the clock starts.
 */
async function warmUp(api: ReturnType<typeof client>, arrivals: Arrivals) {
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const answer = await withTimeout(api.upload("design", tokens.carol, file), 30_000, "warm-up upload");
    if (answer.status !== 202) throw new Error(`warm-up upload answered ${answer.status}`);
    ids.push(...(answer.body.notifications as Array<{ notificationId: string }>).map((n) => n.notificationId));
  }
  await waitUntil(() => ids.every((id) => arrivals.of(id) !== undefined), 30_000);
}

export async function runP3(
  rate: number,
  o: { smtpUrl: string; arrivals: Arrivals; seconds: number; requestTimeoutMs: number; env: Record<string, string> },
): Promise<P3Result> {
  const herald = await launchEmbedded({ smtpUrl: o.smtpUrl, env: o.env });
  try {
    const api = client(herald.url);
    await warmUp(api, o.arrivals);
    const mark = logMark(herald.logs);
    const offered = Math.round(rate * o.seconds);
    const latencies: number[] = [];
    const result = { rate, offered, accepted: 0, errors: 0, timeouts: 0, firstError: undefined as string | undefined };
    const answers: Array<Promise<void>> = [];
    const start = performance.now();
    for (let i = 0; i < offered && !deadlinePassed(); i++) {
      const due = start + (i * 1000) / rate;
      await sleep(due - performance.now());
      answers.push(
        withTimeout(api.upload("design", tokens.carol, file), o.requestTimeoutMs, "upload").then(
          (answer) => {
            latencies.push(performance.now() - due);
            if (answer.status === 202) result.accepted += 1;
            else {
              result.errors += 1;
              result.firstError ??= `answered ${answer.status}`;
            }
          },
          (error: Error) => {
            latencies.push(performance.now() - due);
            if (error.name === "TimeoutError") result.timeouts += 1;
            else {
              result.errors += 1;
              result.firstError ??= error.message;
            }
          },
        ),
      );
    }
    await Promise.all(answers); // each is bounded by requestTimeoutMs
    return { ...result, latency: summarize(latencies), logIssues: logIssues(herald.logs, mark) };
  } finally {
    await herald.stop();
    o.arrivals.reset();
  }
}
