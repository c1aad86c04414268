import {
  type FileUploaded,
  isNotificationEvent,
  type NotificationEvent,
  notificationStream,
  type RecordedEvent,
  uploadStream,
} from "./events.ts";
import { foldNotification, type Notification } from "./notification.ts";
import type { ExpectedRevision, EventLog } from "./ports.ts";

/**
 * One notification as the log tells it: its request (in the upload's stream), its own stream,
 * the state they fold to, and the revision to append at. null when the log has no such request.
 */
export async function readNotification(
  log: EventLog,
  uploadId: string,
  notificationId: string,
): Promise<{
  uploaded: RecordedEvent<FileUploaded>;
  /** The request, then the notification's own events, in order. */
  events: Array<RecordedEvent<NotificationEvent>>;
  state: Notification;
  /** The notification stream's last revision: append here to act on exactly this state. */
  revision: ExpectedRevision;
} | null> {
  const [upload, lifecycle] = await Promise.all([
    log.readStream(uploadStream(uploadId)),
    log.readStream(notificationStream(notificationId)),
  ]);
  const uploaded = upload.find((e): e is RecordedEvent<FileUploaded> => e.type === "FileUploaded");
  const requested = upload.find(
    (e): e is RecordedEvent<NotificationEvent> =>
      isNotificationEvent(e) && e.type === "NotificationRequested" && e.data.notificationId === notificationId,
  );
  if (!uploaded || !requested) return null;
  const events = [requested, ...lifecycle.filter((e): e is RecordedEvent<NotificationEvent> => isNotificationEvent(e))];
  return { uploaded, events, state: foldNotification(events)!, revision: lifecycle.at(-1)?.revision ?? "no_stream" };
}
