/**
 * The pause before try number `n` (1-based): baseMs, doubling each time, capped at maxMs.
 * Every wait-and-try-again in Herald (queue retries, log followers, recording an outcome
 * while the log is away) uses this one rule.
 */
export const backoff = (n: number, { baseMs, maxMs }: { baseMs: number; maxMs: number }) =>
  Math.min(baseMs * 2 ** Math.max(0, n - 1), maxMs);
