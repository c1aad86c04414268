import {
  ConcurrencyError,
  type DeliveryStatus,
  type Directory,
  type EventLog,
  type FileUploaded,
  type Logger,
  MailError,
  type Mailer,
  type Metrics,
  type NewEvent,
  type Notification,
  type NotificationMessage,
  type NotificationRecord,
  type NotificationTable,
  type NotificationEvent,
  notificationStream,
  deadLetterStream,
  tapErrors,
  terminalStatuses,
  withLogContext,
  readNotification,
} from "@herald/core";
import { z } from "zod";
import { renderUploadEmail } from "./templates.ts";

// The worker: one delivery of one notification message in, one DeliveryStatus out (Dapr's
// SUCCESS / RETRY / DROP). Deliveries are at least once, so every step checks first:
// - the log (source of truth): a notification already sent, failed or dead-lettered is
//   acknowledged without sending again;
// - the notification table: an attempt is claimed there with an ETag and a lease, so two
//   deliveries of one message (two replicas, a redelivery) never send at the same time;
// - the log again: NotificationStarted is appended at the revision read, so of two racing
//   claims only one gets an attempt number.

export type NotifierDeps = {
  log: EventLog;
  mailer: Mailer;
  directory: Directory;
  metrics: Metrics;
  logger: Logger;
  table: NotificationTable;
  /** Base URL of the web UI, for the link in the email. */
  publicUrl: string;
  /** How long a claimed attempt may take before another delivery may take over (crash). */
  sendLeaseMs: number;
};

const messageSchema = z.object({
  version: z.literal(1),
  notificationId: z.string().min(1),
  uploadId: z.string().min(1),
  enqueuedAt: z.iso.datetime(),
  traceparent: z.string().optional(),
});

export function createNotifier({
  log,
  mailer,
  directory,
  metrics,
  logger,
  table,
  publicUrl,
  sendLeaseMs,
}: NotifierDeps) {
  async function handle(raw: unknown): Promise<DeliveryStatus> {
    const parsed = messageSchema.safeParse(raw);
    if (!parsed.success) {
      // A message we cannot read will never become readable: retrying it would only block.
      const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`);
      return dropMessage(raw, `unreadable message (${problems.join("; ")})`);
    }
    const message: NotificationMessage = parsed.data;
    const { notificationId, uploadId, traceparent } = message;
    return withLogContext({ notificationId, uploadId, traceparent }, () => deliver(message));
  }

  async function deliver(message: NotificationMessage): Promise<DeliveryStatus> {
    metrics.queueLag.observe(Math.max(0, Date.now() - Date.parse(message.enqueuedAt)) / 1000);
    const { notificationId, uploadId, traceparent } = message;

    const found = await readNotification(log, uploadId, notificationId);
    if (!found)
      return dropMessage(message, `names notification ${notificationId} of upload ${uploadId}, unknown to the log`);
    const { uploaded } = found;
    const claim = await claimAttempt(uploadId, notificationId, traceparent);
    if (claim.kind === "contended") return "RETRY";
    if (claim.kind === "final") {
      await table.put(toRecord(claim.state), "any"); // heals a table write lost to a crash
      metrics.notifications.inc({ outcome: "duplicate" });
      logger.info({ status: claim.state.status }, "notification already final; duplicate delivery acknowledged");
      return "SUCCESS";
    }
    const { attempt } = claim;
    const { recipient, recipientId } = claim.state;

    const email = composeEmail(uploaded.data, recipient, recipientId);
    const stopSmtpTimer = metrics.smtpDuration.startTimer();
    let outcome: NotificationEvent;
    try {
      const { messageId } = await mailer.send({
        to: recipient,
        ...email,
        messageId: `<${notificationId}@herald>`,
        headers: { "X-Herald-Notification-Id": notificationId },
      });
      stopSmtpTimer({ result: "sent" });
      outcome = { type: "NotificationSent", data: { notificationId, attempt, messageId } };
    } catch (error) {
      if (!(error instanceof MailError)) throw error;
      stopSmtpTimer({ result: error.permanent ? "rejected" : "error" });
      const type = error.permanent ? "NotificationFailed" : "NotificationRetryScheduled";
      outcome = { type, data: { notificationId, attempt, error: error.message } };
    }
    await recordOutcome({ ...outcome, metadata: { traceparent } });
    await syncTable(uploadId, notificationId);
    if (outcome.type === "NotificationSent") {
      metrics.notifications.inc({ outcome: "sent" });
      logger.info({ attempt, recipient }, "notification sent");
      return "SUCCESS";
    }
    const permanent = outcome.type === "NotificationFailed";
    metrics.notifications.inc({ outcome: permanent ? "failed" : "retried" });
    logger.warn({ attempt, permanent, error: (outcome.data as { error: string }).error }, "notification not sent");
    return permanent ? "SUCCESS" : "RETRY";
  }

  /**
   * Takes the next attempt by appending NotificationStarted at the revision we read: of two
   * deliveries racing, one wins.
   */
  async function claimAttempt(
    uploadId: string,
    notificationId: string,
    traceparent: string | undefined,
  ): Promise<
    | { kind: "claimed"; state: Notification; attempt: number }
    | { kind: "final"; state: Notification }
    | { kind: "contended" }
  > {
    for (let tries = 0; tries < 3; tries++) {
      const { state, revision } = (await readNotification(log, uploadId, notificationId))!;
      if (terminalStatuses.has(state.status)) return { kind: "final", state };
      const attempt = state.attempts + 1;
      if (!(await claimInTable(state, attempt))) continue;
      try {
        await log.append(
          notificationStream(notificationId),
          [{ type: "NotificationStarted", data: { notificationId, attempt }, metadata: { traceparent } }],
          { expectedRevision: revision },
        );
        return { kind: "claimed", state, attempt };
      } catch (error) {
        // Nothing was sent: give the lease back, or the next delivery would wait it out.
        await table.put(toRecord(state), "any").catch(() => undefined);
        if (!(error instanceof ConcurrencyError)) throw error;
      }
    }
    return { kind: "contended" };
  }

  /**
   * Claims the attempt in the table: status "sending" with a lease, written only if nobody
   * wrote since we read. While another delivery holds a live lease, waits for it (bounded):
   * it is either about to finish, or it died and its lease will run out.
   */
  async function claimInTable(state: Notification, attempt: number): Promise<boolean> {
    const deadline = Date.now() + sendLeaseMs + 1000;
    for (;;) {
      const row = await table.get(state.notificationId);
      const leaseUntil =
        row?.record.status === "sending" && row.record.leaseUntil ? Date.parse(row.record.leaseUntil) : 0;
      if (leaseUntil > Date.now()) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, Math.min(500, leaseUntil - Date.now())));
        continue;
      }
      const now = new Date();
      const claim: NotificationRecord = {
        ...toRecord(state),
        status: "sending",
        attempts: attempt,
        startedAt: state.startedAt ?? now.toISOString(),
        leaseUntil: new Date(now.getTime() + sendLeaseMs).toISOString(),
      };
      return table.put(claim, row ? { etag: row.etag } : "absent");
    }
  }

  /** Writes the table row from the log, once the outcome is recorded there. */
  async function syncTable(uploadId: string, notificationId: string) {
    const found = await readNotification(log, uploadId, notificationId);
    if (!found) return;
    await table.put(toRecord(found.state), "any").catch((error) => {
      // The log has it; the row catches up on the next delivery or replay.
      logger.warn({ err: error }, "could not update the notification table");
    });
  }

  /**
   * Once an email has left, its outcome must reach the log, or a redelivery would send it
   * again: keep trying while the log is away. The attempt is ours (we appended its Started),
   * so the outcome needs no expected revision.
   */
  async function recordOutcome(event: NewEvent & NotificationEvent) {
    for (let pause = 100; ; pause = Math.min(pause * 2, 5000)) {
      try {
        await log.append(notificationStream(event.data.notificationId), [event]);
        return;
      } catch (error) {
        logger.warn({ err: error, retryInMs: pause, type: event.type }, "could not record the outcome yet");
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  /**
   * Records a message that names no notification we can act on, then asks the queue to drop it
   * (Dapr moves it to the dead-letter topic; the binding route to the poison queue). If the
   * record cannot be written, the append throws and the message is retried: never lost unseen.
   */
  async function dropMessage(raw: unknown, reason: string): Promise<DeliveryStatus> {
    const text = typeof raw === "string" ? raw : (JSON.stringify(raw) ?? String(raw));
    const limit = 4096;
    await log.append(deadLetterStream, [
      {
        type: "MessageDeadLettered",
        data: { reason, message: text.slice(0, limit), truncated: text.length > limit },
      },
    ]);
    metrics.notifications.inc({ outcome: "dead_lettered" });
    logger.error({ reason }, "queue message dead-lettered");
    return "DROP";
  }

  /** The queue gave up on a message (retries exhausted): record it, with the last error seen. */
  async function deadLetter(raw: unknown, reason: string): Promise<void> {
    const parsed = messageSchema.safeParse(raw);
    const found = parsed.success ? await readNotification(log, parsed.data.uploadId, parsed.data.notificationId) : null;
    if (!parsed.success || !found) {
      // handle() recorded it (MessageDeadLettered) when it dropped it.
      logger.warn({ reason }, "dead letter for no known notification; already recorded");
      return;
    }
    const { notificationId, uploadId, traceparent } = parsed.data;
    if (terminalStatuses.has(found.state.status)) return; // it got there after all
    const lastRetry = found.events.findLast((e) => e.type === "NotificationRetryScheduled");
    const lastError = lastRetry?.type === "NotificationRetryScheduled" ? `; last error: ${lastRetry.data.error}` : "";
    await log.append(notificationStream(notificationId), [
      {
        type: "NotificationDeadLettered",
        data: { notificationId, reason: `${reason}${lastError}` },
        metadata: { traceparent },
      },
    ]);
    await syncTable(uploadId, notificationId);
    metrics.notifications.inc({ outcome: "dead_lettered" });
    logger.error({ notificationId, reason: `${reason}${lastError}` }, "notification dead-lettered");
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

  /**
   * A delivery that could not be handled at all (the event log or the state store away) is
   * counted as outcome="error" and thrown on: the queue retries it. It says nothing about the
   * email, so it is not counted as a send outcome.
   */
  const countError = () => metrics.notifications.inc({ outcome: "error" });
  return { handle: tapErrors(handle, countError), deadLetter: tapErrors(deadLetter, countError) };
}

export type Notifier = ReturnType<typeof createNotifier>;

function toRecord(state: Notification & { revision?: unknown }): NotificationRecord {
  const { queuedAt: _queuedAt, revision: _revision, ...record } = state;
  return { ...record, leaseUntil: null };
}
