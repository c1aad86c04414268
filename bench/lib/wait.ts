// Every wait in the benchmark is bounded twice: by its own timeout and by one global deadline
// for the whole run, so that a Herald that stops delivering ends the run instead of hanging it.

let globalEnd = Number.POSITIVE_INFINITY;

export function setGlobalDeadline(ms: number) {
  globalEnd = performance.now() + ms;
}

/** How long is left of the run. */
export const remainingMs = () => Math.max(0, globalEnd - performance.now());
export const deadlinePassed = () => remainingMs() === 0;

/** `ms`, or less if the global deadline comes first. */
export const bounded = (ms: number) => Math.min(ms, remainingMs());

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Polls `check` until it says true; false if `timeoutMs` (capped by the deadline) ran out first. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 25) {
  const end = performance.now() + bounded(timeoutMs);
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= end) return false;
    await sleep(Math.min(intervalMs, end - performance.now()));
  }
}

/** Rejects if `promise` has not settled within `ms` (capped by the deadline). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const limit = bounded(ms);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${Math.round(limit)} ms`)), limit);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export class TimeoutError extends Error {
  override name = "TimeoutError";
}
