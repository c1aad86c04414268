import {
  attemptsSinceRedrive,
  backoff,
  ConcurrencyError,
  type DeliveryStatus,
  type Directory,
  type FileUploaded,
  isFinal,
  type EventLog,
  type Logger,
  MailError,
  type Mailer,
  type Metrics,
  type Notification,
  NotificationAlreadyFinal,
  type NotificationCommand,
  createNotificationCommands,
  type NotificationMessage,
  type NotificationRecord,
  type NotificationRef,
  type NotificationSnapshot,
  type NotificationStory,
  type NotificationTable,
  deadLetterStream,
  type DigestRequested,
  localTime,
  type RecordedEvent,
  signUnsubscribeToken,
  uploadStream,
  tapErrors,
  unsubscribeTokenTtlMs,
  withLogContext,
} from "@herald/core";
import { z } from "zod";
import { renderDigestEmail, renderUploadEmail } from "./templates.ts";

// The worker: one delivery of one notification message in, one DeliveryStatus out (Dapr's
// SUCCESS / RETRY / DROP). Deliveries are at least once, so every step checks first:
// - the log (source of truth): a notification already sent, failed or dead-lettered is
//   acknowledged without sending again;
// - the notification table: an attempt is claimed there with an ETag and a lease, so two
//   deliveries of one message (two replicas, a redelivery) never send at the same time;
// - the log again: NotificationStarted is appended at the revision read, so of two racing
//   claims only one gets an attempt number.
// What each step records is decided by the notification's decider (domain/notification.ts),
// through the one command handler (application/notification-commands.ts). A digest is a
// notification like the others, and takes the same path; only its email differs.

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
  /** Send attempts a notification gets before it is dead-lettered (HERALD_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Publishes a message again, when the queue gave up on it too early (see deadLetter). */
  requeue: (message: NotificationMessage) => Promise<void>;
  /** Signs each email's one-click unsubscribe link (HERALD_UNSUBSCRIBE_SECRET; the web verifies). */
  unsubscribeSecret: string;
};

/**
 * What became of a message the queue gave up on: the notification dead-lettered (or the
 * message was, when it names none), published again, or it had already settled.
 */
export type GiveUpOutcome = "dead-lettered" | "requeued" | "settled";

const messageSchema: z.ZodType<NotificationMessage> = z
  .object({
    version: z.literal(1),
    notificationId: z.string().min(1),
    /** "" for a digest, which names its digestId instead. */
    uploadId: z.string(),
    digestId: z.string().min(1).optional(),
    enqueuedAt: z.iso.datetime(),
    traceparent: z.string().optional(),
  })
  .refine((m) => (m.uploadId === "") === (m.digestId !== undefined), {
    path: ["uploadId"],
    message: 'names an upload (uploadId) or a digest (digestId and uploadId ""), not both or neither',
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
  maxAttempts,
  requeue,
  unsubscribeSecret,
}: NotifierDeps) {
  const commands = createNotificationCommands(log);
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
    const { notificationId, uploadId, digestId, traceparent } = message;
    const ref = { notificationId, uploadId, digestId };

    const story = await commands.read(ref);
    if (!story) {
      const of = digestId ? `digest ${digestId}` : `upload ${uploadId}`;
      return dropMessage(message, `names notification ${notificationId} of ${of}, unknown to the log`);
    }
    const claim = await claimAttempt(ref, story, traceparent);
    if (claim.kind === "contended") return "RETRY";
    if (claim.kind === "final") {
      await table.put(toRecord(claim.state), "any"); // heals a table write lost to a crash
      metrics.notifications.inc({ outcome: "duplicate" });
      logger.info({ status: claim.state.status }, "notification already final; duplicate delivery acknowledged");
      return "SUCCESS";
    }
    const { attempt } = claim;
    const { recipient, recipientId, groupId } = claim.state;

    const { about } = story;
    const email =
      about.type === "FileUploaded"
        ? composeEmail(about.data, recipient, recipientId)
        : await composeDigest(about.data, recipient, recipientId);
    const stopSmtpTimer = metrics.smtpDuration.startTimer();
    let outcome: NotificationCommand & { type: "RecordSent" | "RecordRetry" | "RecordFailure" };
    try {
      const { messageId } = await mailer.send({
        to: recipient,
        ...email,
        messageId: `<${notificationId}@herald>`,
        headers: { "X-Herald-Notification-Id": notificationId },
        unsubscribeUrl: unsubscribeUrl(recipientId, groupId),
      });
      stopSmtpTimer({ result: "sent" });
      outcome = { type: "RecordSent", attempt, messageId };
    } catch (error) {
      if (!(error instanceof MailError)) throw error;
      stopSmtpTimer({ result: error.permanent ? "rejected" : "error" });
      // Capped: the reply becomes the table row's lastError, and Azure Table Storage refuses a
      // property over 64 KiB (the row would never be written).
      const reason = error.message.length > 2000 ? `${error.message.slice(0, 2000)}…` : error.message;
      outcome = { type: error.permanent ? "RecordFailure" : "RecordRetry", attempt, error: reason };
    }
    const recorded = await recordOutcome(ref, outcome, { traceparent, known: claim.snapshot });
    await syncTable(recorded);
    if (outcome.type === "RecordSent") {
      metrics.notifications.inc({ outcome: "sent" });
      if (about.type === "DigestRequested") metrics.digestsSent.inc();
      logger.info({ attempt, recipient }, "notification sent");
      return "SUCCESS";
    }
    const permanent = outcome.type === "RecordFailure";
    metrics.notifications.inc({ outcome: permanent ? "failed" : "retried" });
    logger.warn({ attempt, permanent, error: outcome.error }, "notification not sent");
    return permanent ? "SUCCESS" : "RETRY";
  }

  /**
   * Takes the next attempt: first in the table (an ETag write with a lease, so two deliveries
   * never send at once), then in the log (NotificationStarted at the revision read).
   */
  async function claimAttempt(
    ref: NotificationRef,
    story: NotificationStory,
    traceparent: string | undefined,
  ): Promise<
    | { kind: "claimed"; state: Notification; attempt: number; snapshot: NotificationSnapshot }
    | { kind: "final"; state: Notification }
    | { kind: "contended" }
  > {
    const { state } = story;
    if (isFinal(state)) return { kind: "final", state };
    if (!(await claimInTable(state, state.attempts + 1))) return { kind: "contended" };
    try {
      const started = await commands.execute(ref, { type: "StartAttempt" }, { traceparent, known: story });
      return { kind: "claimed", state: started.state, attempt: started.state.attempts, snapshot: started };
    } catch (error) {
      // Nothing was sent: give the lease back, or the next delivery would wait it out.
      if (error instanceof NotificationAlreadyFinal) {
        await table.put(toRecord(error.state), "any").catch(() => undefined);
        return { kind: "final", state: error.state };
      }
      await table.put(toRecord(state), "any").catch(() => undefined);
      if (error instanceof ConcurrencyError) return { kind: "contended" };
      throw error;
    }
  }

  /**
   * Claims the attempt in the table: status "sending" with a lease, written only if nobody
   * wrote since we read. While another delivery holds a live lease, waits for it (bounded):
   * it is either about to finish, or it died and its lease will run out.
   */
  async function claimInTable(state: Notification, attempt: number): Promise<boolean> {
    const deadline = Date.now() + sendLeaseMs + 1000;
    const claimFrom = (now: Date): NotificationRecord => ({
      ...toRecord(state),
      status: "sending",
      attempts: attempt,
      startedAt: state.startedAt ?? now.toISOString(),
      leaseUntil: new Date(now.getTime() + sendLeaseMs).toISOString(),
    });
    // A first attempt usually finds no row: claim by creating it, one round trip instead of a
    // read and a write. A row that exists (an earlier delivery's) refuses the create: every row
    // Herald writes is first-write, and state.redis refuses a create only over such a row.
    if (state.attempts === 0 && (await table.put(claimFrom(new Date()), "absent"))) return true;
    for (;;) {
      const row = await table.get(state.notificationId);
      const leaseUntil =
        row?.record.status === "sending" && row.record.leaseUntil ? Date.parse(row.record.leaseUntil) : 0;
      if (leaseUntil > Date.now()) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, Math.min(500, leaseUntil - Date.now())));
        continue;
      }
      return table.put(claimFrom(new Date()), row ? { etag: row.etag } : "absent");
    }
  }

  /** Writes the table row from the state the log now folds to. */
  async function syncTable(state: Notification) {
    await table.put(toRecord(state), "any").catch((error) => {
      // The log has it; the row catches up on the next delivery or replay.
      logger.warn({ err: error }, "could not update the notification table");
    });
  }

  /**
   * Once an email has left, its outcome must reach the log, or a redelivery would send it
   * again: keep trying while the log is away.
   */
  async function recordOutcome(
    ref: NotificationRef,
    outcome: NotificationCommand,
    { traceparent, known }: { traceparent?: string; known: NotificationSnapshot },
  ) {
    for (let tries = 1; ; tries++) {
      try {
        // The attempt is ours, so the log is where our Started left it (read again if not).
        return (await commands.execute(ref, outcome, { traceparent, known: tries === 1 ? known : undefined })).state;
      } catch (error) {
        const pause = backoff(tries, { baseMs: 100, maxMs: 5000 });
        logger.warn({ err: error, retryInMs: pause, type: outcome.type }, "could not record the outcome yet");
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

  /**
   * The queue gave up on a message (its retries used up). The queue counts deliveries; the
   * notification is given up on only once it has had maxAttempts send attempts of its own
   * (the log counts them). Before that, the deliveries failed for reasons that were not the
   * email's (the notifier killed or restarting while its sidecar retried), and the message is
   * published again, with the queue's retries fresh. Dead-lettering records the last error seen.
   */
  async function deadLetter(raw: unknown, reason: string): Promise<GiveUpOutcome> {
    const parsed = messageSchema.safeParse(raw);
    const story = parsed.success ? await commands.read(parsed.data) : null;
    if (!parsed.success || !story) {
      // handle() recorded it (MessageDeadLettered) when it dropped it.
      logger.warn({ reason }, "dead letter for no known notification; already recorded");
      return "dead-lettered";
    }
    if (isFinal(story.state)) return story.state.status === "dead-lettered" ? "dead-lettered" : "settled";
    const attempts = attemptsSinceRedrive(story.events);
    if (attempts < maxAttempts) {
      await requeue(parsed.data);
      metrics.notifications.inc({ outcome: "requeued" });
      logger.warn(
        { notificationId: story.state.notificationId, attempts, maxAttempts, reason },
        "queue gave up before the notification's attempts were spent; published again",
      );
      return "requeued";
    }
    const { traceparent } = parsed.data;
    const lastRetry = story.events.findLast((e) => e.type === "NotificationRetryScheduled");
    const lastError = lastRetry?.type === "NotificationRetryScheduled" ? `; last error: ${lastRetry.data.error}` : "";
    const command = { type: "DeadLetter" as const, reason: `${reason}, ${attempts} send attempts${lastError}` };
    const { state, appended } = await commands.execute(parsed.data, command, { traceparent, known: story });
    if (appended.length === 0) return "settled"; // it got there after all
    await syncTable(state);
    metrics.notifications.inc({ outcome: "dead_lettered" });
    logger.error({ notificationId: state.notificationId, reason: command.reason }, "notification dead-lettered");
    return "dead-lettered";
  }

  /**
   * The one-click link that turns this group's mail off for this admin (RFC 8058): signed,
   * and good for unsubscribeTokenTtlMs from this send.
   */
  function unsubscribeUrl(userId: string, groupId: string): string {
    const expiresAt = new Date(Date.now() + unsubscribeTokenTtlMs);
    const url = new URL("/unsubscribe", publicUrl);
    url.searchParams.set("token", signUnsubscribeToken(unsubscribeSecret, { userId, groupId, expiresAt }));
    return url.href;
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
      link: uploadLink(upload),
    });
  }

  const uploadLink = (upload: { groupId: string; uploadId: string }) =>
    new URL(`/groups/${encodeURIComponent(upload.groupId)}/uploads/${encodeURIComponent(upload.uploadId)}`, publicUrl)
      .href;

  /** The digest's email: each upload it lists read from the log, times on the admin's clock. */
  async function composeDigest(digest: DigestRequested["data"], recipient: string, recipientId: string) {
    const { groupId, timeZone } = digest;
    // Read 50 at a time: a busy group's digest lists hundreds, and each is a read of the log.
    const uploads: Array<RecordedEvent<FileUploaded>> = [];
    for (let i = 0; i < digest.uploadIds.length; i += 50) {
      const batch = digest.uploadIds.slice(i, i + 50);
      const streams = await Promise.all(batch.map((id) => log.readStream(uploadStream(id), { maxCount: 1 })));
      uploads.push(...streams.flat().filter((e): e is RecordedEvent<FileUploaded> => e.type === "FileUploaded"));
    }
    return renderDigestEmail({
      recipientName: directory.user(recipientId)?.name ?? recipient,
      groupName: directory.group(groupId)?.name ?? groupId,
      windowStart: localTime(new Date(digest.windowStart), timeZone),
      windowEnd: localTime(new Date(digest.windowEnd), timeZone),
      timeZone,
      uploads: uploads.map(({ data: upload, metadata }) => ({
        filename: upload.filename,
        sizeBytes: upload.size,
        uploaderName: directory.user(upload.uploaderId)?.name ?? upload.uploaderId,
        time: localTime(new Date(metadata.occurredAt), timeZone),
        link: uploadLink(upload),
      })),
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

function toRecord(state: Notification): NotificationRecord {
  const { queuedAt: _queuedAt, ...record } = state;
  return { ...record, leaseUntil: null };
}
