import {
  ConcurrencyError,
  type DeliveryStatus,
  type Directory,
  type EventLog,
  type FileUploaded,
  foldNotification,
  type Logger,
  MailError,
  type Mailer,
  type Metrics,
  type NotificationMessage,
  type RecordedEvent,
  type NotificationEvent,
  isNotificationEvent,
  notificationStream,
  terminalStatuses,
  uploadStream,
  withLogContext,
} from "@herald/core";
import { z } from "zod";
import { renderUploadEmail } from "./templates.ts";

// The worker: one delivery of one notification message in, one DeliveryStatus out (Dapr's
// SUCCESS / RETRY / DROP). Deliveries are at least once, so every step checks the log first:
// a notification already sent, failed or dead-lettered is acknowledged without sending again.

export type NotifierDeps = {
  log: EventLog;
  mailer: Mailer;
  directory: Directory;
  metrics: Metrics;
  logger: Logger;
  /** Base URL of the web UI, for the link in the email. */
  publicUrl: string;
};

const messageSchema = z.object({
  version: z.literal(1),
  notificationId: z.string().min(1),
  uploadId: z.string().min(1),
  enqueuedAt: z.iso.datetime(),
  traceparent: z.string().optional(),
});

export function createNotifier({ log, mailer, directory, metrics, logger, publicUrl }: NotifierDeps) {
  async function handle(raw: unknown): Promise<DeliveryStatus> {
    const parsed = messageSchema.safeParse(raw);
    if (!parsed.success) {
      // A message we cannot read will never become readable: retrying it would only block.
      metrics.notifications.inc({ outcome: "dead_lettered" });
      logger.error({ issues: parsed.error.issues, message: raw }, "unreadable notification message dropped");
      return "DROP";
    }
    const message: NotificationMessage = parsed.data;
    const { notificationId, uploadId, traceparent } = message;
    return withLogContext({ notificationId, uploadId, traceparent }, () => deliver(message));
  }

  async function deliver(message: NotificationMessage): Promise<DeliveryStatus> {
    metrics.queueLag.observe(Math.max(0, Date.now() - Date.parse(message.enqueuedAt)) / 1000);
    const { notificationId, uploadId, traceparent } = message;

    const uploadEvents = await log.readStream(uploadStream(uploadId));
    const uploaded = uploadEvents.find((e): e is RecordedEvent<FileUploaded> => e.type === "FileUploaded");
    const requested = uploadEvents.find(
      (e) => e.type === "NotificationRequested" && e.data.notificationId === notificationId,
    );
    if (!uploaded || !requested || !isNotificationEvent(requested)) {
      metrics.notifications.inc({ outcome: "dead_lettered" });
      logger.error("message names a notification the log does not know; dropped");
      return "DROP";
    }
    const lifecycle = await log.readStream(notificationStream(notificationId));
    const state = foldNotification([requested, ...lifecycle] as Array<RecordedEvent<NotificationEvent>>)!;
    if (terminalStatuses.has(state.status)) {
      metrics.notifications.inc({ outcome: "duplicate" });
      logger.info({ status: state.status }, "notification already final; duplicate delivery acknowledged");
      return "SUCCESS";
    }

    const attempt = state.attempts + 1;
    const expectedRevision = lifecycle.length > 0 ? lifecycle[lifecycle.length - 1]!.revision : "no_stream";
    let started;
    try {
      started = await log.append(
        notificationStream(notificationId),
        [{ type: "NotificationStarted", data: { notificationId, attempt }, metadata: { traceparent } }],
        { expectedRevision },
      );
    } catch (error) {
      // Someone appended since we read: look again on the next delivery rather than guess.
      if (error instanceof ConcurrencyError) return "RETRY";
      throw error;
    }

    const email = composeEmail(uploaded.data, state.recipient, state.recipientId);
    const next = { expectedRevision: started.nextRevision };
    const stopSmtpTimer = metrics.smtpDuration.startTimer();
    try {
      const { messageId } = await mailer.send({
        to: state.recipient,
        ...email,
        messageId: `<${notificationId}@herald>`,
        headers: { "X-Herald-Notification-Id": notificationId },
      });
      stopSmtpTimer({ result: "sent" });
      await log.append(
        notificationStream(notificationId),
        [{ type: "NotificationSent", data: { notificationId, attempt, messageId }, metadata: { traceparent } }],
        next,
      );
      metrics.notifications.inc({ outcome: "sent" });
      logger.info({ attempt, recipient: state.recipient }, "notification sent");
      return "SUCCESS";
    } catch (error) {
      if (!(error instanceof MailError)) throw error;
      stopSmtpTimer({ result: error.permanent ? "rejected" : "error" });
      const type = error.permanent ? "NotificationFailed" : "NotificationRetryScheduled";
      await log.append(
        notificationStream(notificationId),
        [{ type, data: { notificationId, attempt, error: error.message }, metadata: { traceparent } }],
        next,
      );
      metrics.notifications.inc({ outcome: error.permanent ? "failed" : "retried" });
      logger.warn({ attempt, err: error, permanent: error.permanent }, "notification not sent");
      return error.permanent ? "SUCCESS" : "RETRY";
    }
  }

  /** The queue gave up on a message (retries exhausted): record it, with the reason. */
  async function deadLetter(message: NotificationMessage, reason: string): Promise<void> {
    const { notificationId, traceparent } = message;
    await log.append(notificationStream(notificationId), [
      { type: "NotificationDeadLettered", data: { notificationId, reason }, metadata: { traceparent } },
    ]);
    metrics.notifications.inc({ outcome: "dead_lettered" });
    logger.error({ notificationId, reason }, "notification dead-lettered");
  }

  function composeEmail(upload: FileUploaded["data"], recipient: string, recipientId: string) {
    const group = directory.group(upload.groupId);
    const uploader = directory.user(upload.uploaderId);
    return renderUploadEmail({
      recipientName: directory.user(recipientId)?.name ?? recipient,
      uploaderName: uploader?.name ?? upload.uploaderId,
      groupName: group?.name ?? upload.groupId,
      filename: upload.filename,
      sizeBytes: upload.size,
      sha256: upload.sha256,
      link: new URL(
        `/groups/${encodeURIComponent(upload.groupId)}/uploads/${encodeURIComponent(upload.uploadId)}`,
        publicUrl,
      ).href,
    });
  }

  return { handle, deadLetter };
}

export type Notifier = ReturnType<typeof createNotifier>;
