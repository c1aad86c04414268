// The one message that travels on the queue: ids only. Everything else the notifier reads
// from the log, so a message can never disagree with it.

export type NotificationMessage = {
  version: 1;
  notificationId: string;
  uploadId: string;
  /** A digest's notification: its request is in digest-{digestId}, and uploadId is "". */
  digestId?: string;
  /** When it was handed to the queue (ISO 8601): queue lag is measured from here. */
  enqueuedAt: string;
  /** The upload request's W3C trace context, so the notifier's work joins its trace. */
  traceparent?: string;
};

export function notificationMessage(
  {
    notificationId,
    uploadId,
    digestId,
    traceparent,
  }: { notificationId: string; uploadId: string; digestId?: string; traceparent?: string },
  enqueuedAt: Date = new Date(),
): NotificationMessage {
  return {
    version: 1,
    notificationId,
    uploadId,
    ...(digestId ? { digestId } : {}),
    enqueuedAt: enqueuedAt.toISOString(),
    traceparent,
  };
}
