import { randomUUID } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { type Request, type Response, Router } from "express";
import {
  type AppendResult,
  type BlobStore,
  type Directory,
  type EventLog,
  type Group,
  InsufficientStorageError,
  type Metrics,
  NotFoundError,
  type Logger,
  PayloadTooLargeError,
  type ReadModels,
  recordUpload,
  UnavailableError,
  type User,
  addLogContext,
} from "@herald/core";
import { currentUser, requireGroupRole } from "./auth/index.ts";
import { createUploadRateLimits, type UploadRateLimits } from "./rate-limits.ts";
import { receiveUpload } from "./receive-upload.ts";

// Step 1 of an upload's story: the file is streamed to the blob store, then recorded in ONE
// append (FileUploaded + a NotificationRequested per admin, decided by domain/upload.ts), and
// the client is answered at once. The relay takes it from the log (application/relay.ts).
// Admins who turned the group's mail off or chose a digest (their preferences, in the read
// models) are left out.
// An upload is let in only within the limits on users and groups: uploads per minute (429,
// rate-limits.ts) and the group's storage quota (507); a refused one leaves nothing behind.

export type UploadRoutesDeps = {
  log: EventLog;
  blobs: BlobStore;
  directory: Directory;
  readModels: ReadModels;
  metrics: Metrics;
  logger: Logger;
  maxUploadBytes: number;
  uploadIdleTimeoutMs: number;
  /** Uploads one user, and one group, may take per minute (rate-limits.ts). */
  uploadRateLimits: UploadRateLimits;
  /** Bytes of recorded uploads one group may hold; undefined = no quota. */
  groupQuotaBytes?: number;
};

export function uploadRoutes(deps: UploadRoutesDeps) {
  const { log, blobs, directory, readModels, metrics, logger, groupQuotaBytes } = deps;
  const uploadRates = createUploadRateLimits(deps.uploadRateLimits, { metrics, logger });
  const router = Router();

  router.post("/groups/:groupId/uploads", async (req, res) => {
    const uploader = currentUser(res);
    const group = requireGroupRole(directory, req.params.groupId, uploader, "member");
    // The limits refuse before a byte of the body is read (the problem handler drops the rest).
    const giveBack = uploadRates.admit(uploader.id, group.id);
    try {
      await acceptUpload(req, res, uploader, group);
    } catch (error) {
      giveBack();
      throw error;
    }
  });

  async function acceptUpload(req: Request, res: Response, uploader: User, group: Group) {
    const room = roomLeftIn(group.id);
    if (room <= 0) throw groupIsFull(group.id);
    const file = await receiveUpload(req, {
      blobs,
      groupId: group.id,
      maxBytes: Math.min(deps.maxUploadBytes, room),
      idleTimeoutMs: deps.uploadIdleTimeoutMs,
    }).catch((error: unknown) => {
      // receiveUpload cut the file off at the smaller limit. When that was the quota's, the
      // file itself is fine and the group is full: 507, not 413.
      if (error instanceof PayloadTooLargeError && room < deps.maxUploadBytes) throw doesNotFit(group.id);
      throw error;
    });
    addLogContext({ uploadId: file.uploadId });
    // Other uploads to the group may have been recorded while this one streamed in. The check
    // and the append are not atomic, and each web instance sees the others' uploads only once
    // it has read them from the log: concurrent uploads can overshoot the quota by at most
    // what is in flight at that moment.
    if (roomLeftIn(group.id) < file.size) {
      await blobs.delete(file.blobKey).catch(() => undefined);
      throw doesNotFit(group.id);
    }
    // Who is notified is settled here, at upload time, from this instance's read models: only
    // admins whose preference for the group is "immediate" get a request; "off" gets nothing,
    // and a digest lists the upload later (application/digests.ts). A change this instance has
    // not read from the log yet applies from the next upload. The decider (domain/upload.ts)
    // records whom it is given.
    const admins = group.admins.map((id) => directory.user(id)).filter((admin) => admin !== undefined);
    const recipients = admins
      .filter((admin) => readModels.notificationPreference(admin.id, group.id) === "immediate")
      .map((admin) => ({ notificationId: randomUUID(), recipientId: admin.id, recipient: admin.email }));
    const { uploadId, blobKey, filename, contentType, size, sha256 } = file;
    const upload = {
      uploadId,
      groupId: group.id,
      uploaderId: uploader.id,
      filename,
      contentType,
      size,
      sha256,
      blobKey,
    };
    let recorded: AppendResult;
    try {
      recorded = await recordUpload(
        log,
        { type: "RecordUpload", upload, recipients },
        res.locals.traceparent as string,
      );
    } catch (error) {
      // Not in the log: nothing of it may stay behind.
      await blobs.delete(blobKey).catch(() => undefined);
      throw new UnavailableError("The upload could not be recorded; nothing was kept. Try again.", { cause: error });
    }
    if (groupQuotaBytes !== undefined) {
      // Answered once the read models count it, so the client's next upload is checked
      // against a quota that includes this one.
      await readModels
        .applied(recorded.position)
        .catch((error) => logger.warn({ err: error }, "upload recorded, not yet counted against the quota"));
    }
    metrics.uploads.inc();
    metrics.uploadBytes.inc(size);
    logger.info(
      { size, recipients: recipients.length, notImmediate: admins.length - recipients.length },
      "upload accepted",
    );
    res
      .status(202)
      .location(`/api/groups/${group.id}/uploads/${uploadId}`)
      .json({
        uploadId,
        groupId: group.id,
        filename,
        size,
        sha256,
        notifications: recipients.map(({ notificationId, recipient }) => ({ notificationId, recipient })),
      });
  }

  /** Bytes the group may still store: its quota less its recorded uploads; Infinity without a quota. */
  function roomLeftIn(groupId: string): number {
    return groupQuotaBytes === undefined ? Infinity : groupQuotaBytes - readModels.bytesOfGroup(groupId);
  }

  /** 507 for any upload to a group at or over its quota: refused before its body is read. */
  function groupIsFull(groupId: string): InsufficientStorageError {
    const used = readModels.bytesOfGroup(groupId);
    return refusedForQuota(
      groupId,
      used,
      `Group ${groupId} has used ${used} bytes of its storage quota of ${groupQuotaBytes} bytes; nothing more can be uploaded to it.`,
    );
  }

  /** 507 for a file larger than what is left of the group's quota. */
  function doesNotFit(groupId: string): InsufficientStorageError {
    const used = readModels.bytesOfGroup(groupId);
    const left = Math.max(0, groupQuotaBytes! - used);
    return refusedForQuota(
      groupId,
      used,
      `The file is larger than the ${left} bytes left of group ${groupId}'s storage quota (${used} of ${groupQuotaBytes} bytes used).`,
    );
  }

  function refusedForQuota(groupId: string, used: number, detail: string): InsufficientStorageError {
    metrics.uploadRefusals.inc({ reason: "group_quota" });
    logger.warn({ reason: "group_quota", groupId, used, quota: groupQuotaBytes }, "upload refused: group quota");
    return new InsufficientStorageError(detail);
  }

  router.get("/groups/:groupId/uploads", (req, res) => {
    const group = requireGroupRole(directory, req.params.groupId, currentUser(res), "member");
    res.json({ items: readModels.uploadsOfGroup(group.id).map(({ blobKey: _, ...upload }) => upload) });
  });

  /** The upload, if it is in this group and the caller is a member of it. */
  const uploadOf = (groupId: string, uploadId: string, res: Parameters<typeof currentUser>[0]) => {
    const group = requireGroupRole(directory, groupId, currentUser(res), "member");
    const upload = readModels.upload(uploadId);
    if (!upload || upload.groupId !== group.id) throw new NotFoundError(`No upload ${uploadId} in ${group.id}.`);
    return upload;
  };

  router.get("/groups/:groupId/uploads/:uploadId", (req, res) => {
    const { blobKey: _, ...view } = uploadOf(req.params.groupId, req.params.uploadId, res);
    res.json(view);
  });

  router.get("/groups/:groupId/uploads/:uploadId/content", async (req, res) => {
    const upload = uploadOf(req.params.groupId, req.params.uploadId, res);
    const content = await blobs.get(upload.blobKey);
    res.attachment(upload.filename).type("application/octet-stream").set("Content-Length", String(upload.size));
    // pipeline, not pipe: when the client goes away the blob stream is destroyed, which closes
    // its file (or connection); and a read error cuts the response off instead of going
    // unhandled and taking the process down.
    try {
      await pipeline(content, res);
    } catch (error) {
      if (clientWentAway(error)) return;
      throw error;
    }
  });

  return router;
}

/** The response closed before it was all sent: the client stopped reading, not our fault. */
const clientWentAway = (error: unknown) => (error as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE";
