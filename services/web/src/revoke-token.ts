import { type AppendResult, type EventLog, userStream } from "@herald/core";

/**
 * Records that a token is no longer accepted. Every web instance folds TokenRevoked into its
 * read models as it follows the log, and again at each start, so the refusal outlives restarts.
 */
export function revokeToken(
  log: EventLog,
  revocation: { userId: string; tokenHash: string; revokedBy: string; reason: string },
  traceparent?: string,
): Promise<AppendResult> {
  return log.append(userStream(revocation.userId), [
    { type: "TokenRevoked", data: revocation, metadata: { traceparent } },
  ]);
}
