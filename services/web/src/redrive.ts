import {
  ConcurrencyError,
  ConflictError,
  evolve,
  type EventLog,
  type Notification,
  notificationStream,
  readNotification,
  UnavailableError,
} from "@herald/core";

// An admin sends a failed or dead-lettered notification again. The redrive is an event
// (NotificationRedriven); the relay queues it like a new request, and the notifier's usual
// checks make sure it is sent at most once more.

const redrivable = new Set<Notification["status"]>(["failed", "dead-lettered"]);

export async function redrive(
  log: EventLog,
  { notificationId, uploadId }: Notification,
  by: string,
  traceparent: string,
): Promise<Notification> {
  // Decide on the log itself, not on a read model that may be a moment behind it.
  const found = await readNotification(log, uploadId, notificationId);
  if (!found) throw new ConflictError(`Notification ${notificationId} is not in the log.`);
  if (!redrivable.has(found.state.status)) {
    throw new ConflictError(
      `Notification ${notificationId} is ${found.state.status}; only failed or dead-lettered ones can be redriven.`,
    );
  }
  const event = { type: "NotificationRedriven" as const, data: { notificationId, uploadId, by } };
  try {
    // At the revision we decided on: of two admins clicking at once, one redrives.
    await log.append(notificationStream(notificationId), [{ ...event, metadata: { traceparent } }], {
      expectedRevision: found.revision,
    });
  } catch (error) {
    if (error instanceof ConcurrencyError) {
      throw new ConflictError(`Notification ${notificationId} changed meanwhile; look again.`);
    }
    throw new UnavailableError("The redrive could not be recorded. Try again.", { cause: error });
  }
  return evolve(found.state, { ...event, metadata: { occurredAt: new Date().toISOString() } })!;
}
