import { type Logger, type Metrics, TooManyRequestsError } from "@herald/core";

// Fixed-window counters, kept in this process's memory: failed authentications per client
// address (auth/bearer.ts) and uploads per user and per group (upload-routes.ts). With several web
// instances each counts on its own, so a client spread over N instances gets N times the limit.

export type RateWindow = ReturnType<typeof createRateWindow>;

/**
 * Counts per key in fixed windows of `windowMs`. Keys whose window is over are forgotten as
 * they are met, and all at once when there are many, so a scan from many keys (addresses)
 * cannot grow it unbounded.
 */
export function createRateWindow(windowMs: number) {
  const windows = new Map<string, { startedAt: number; count: number }>();
  const current = (key: string, now: number) => {
    const window = windows.get(key);
    if (!window || now - window.startedAt >= windowMs) return undefined;
    return window;
  };
  return {
    /**
     * Counts one for `key`. Returns `undo`, which takes it back, as long as its window is
     * still the current one (a later window starts from zero anyway).
     */
    add(key: string): () => void {
      const now = Date.now();
      if (windows.size >= 10_000) {
        for (const [k, w] of windows) if (now - w.startedAt >= windowMs) windows.delete(k);
      }
      const window = current(key, now) ?? { startedAt: now, count: 0 };
      window.count += 1;
      windows.set(key, window);
      let undone = false;
      return () => {
        if (undone || windows.get(key) !== window) return;
        undone = true;
        window.count -= 1;
      };
    },
    /** Seconds until `key` may go again; 0 while it is under `limit`. */
    blockedFor(key: string, limit: number): number {
      const now = Date.now();
      const window = current(key, now);
      if (!window || window.count < limit) return 0;
      return Math.ceil((window.startedAt + windowMs - now) / 1000);
    },
  };
}

export type UploadRateLimits = { perUserPerMinute: number; perGroupPerMinute: number };

/**
 * Uploads per user and per group, in windows of a minute.
 *
 * What counts is every upload let in, from the moment it is let in, and a refused one (400,
 * 413, 503, 507, ...) gives its slot back: so the limits count accepted uploads plus those in
 * flight. Counting only at acceptance would let a client start hundreds at once and have them
 * all pass, since none is accepted yet when the others are checked: the flood this is for.
 * Counting every attempt for good would be simpler, but would leave a user who retries
 * through an outage (503s) locked out once it is over; a rejected upload sends no email and
 * keeps nothing, and its bytes are bounded by HERALD_MAX_UPLOAD_BYTES and the connection limit.
 */
export function createUploadRateLimits(
  { perUserPerMinute, perGroupPerMinute }: UploadRateLimits,
  { metrics, logger }: { metrics: Metrics; logger: Logger },
) {
  const byUser = createRateWindow(60_000);
  const byGroup = createRateWindow(60_000);
  /** Counted, and logged with who and where (the log context has the user), never as labels. */
  const refuse = (reason: "user_rate" | "group_rate", groupId: string, error: TooManyRequestsError) => {
    metrics.uploadRefusals.inc({ reason });
    logger.warn({ reason, groupId, retryAfterSeconds: error.retryAfterSeconds }, "upload refused: too many");
    return error;
  };
  return {
    /**
     * Lets one upload by `userId` to `groupId` in, or refuses it with 429 (then it counts for
     * nothing). Returns `giveBack`, to call when the upload is not accepted after all.
     */
    admit(userId: string, groupId: string): () => void {
      const userWait = byUser.blockedFor(userId, perUserPerMinute);
      if (userWait > 0) {
        throw refuse(
          "user_rate",
          groupId,
          new TooManyRequestsError(
            `You may upload ${perUserPerMinute} files a minute; wait before uploading again.`,
            userWait,
          ),
        );
      }
      const groupWait = byGroup.blockedFor(groupId, perGroupPerMinute);
      if (groupWait > 0) {
        throw refuse(
          "group_rate",
          groupId,
          new TooManyRequestsError(
            `Group ${groupId} may receive ${perGroupPerMinute} files a minute; wait before uploading again.`,
            groupWait,
          ),
        );
      }
      const undoUser = byUser.add(userId);
      const undoGroup = byGroup.add(groupId);
      return () => {
        undoUser();
        undoGroup();
      };
    },
  };
}
