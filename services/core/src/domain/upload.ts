import { ConflictError } from "./errors.ts";
import type { FileUploaded, HeraldEvent, NotificationRequested } from "./events.ts";

// An upload as a decider. Recording one is a single command whose events go in ONE append to
// the upload's stream: the file, and a request per admin to notify. Either the log has the
// upload and every request (and the relay will queue each), or it has none of them.

export type RecordUpload = {
  type: "RecordUpload";
  upload: FileUploaded["data"];
  /** The group's admins at the time of the upload, each with the id of their notification. */
  recipients: Array<{ notificationId: string; recipientId: string; recipient: string }>;
};

/** Whether the upload's stream already exists (upload ids are never reused). */
export type UploadState = { recorded: boolean };

export function decideUpload(command: RecordUpload, state: UploadState): HeraldEvent[] {
  const { upload, recipients } = command;
  if (state.recorded) throw new ConflictError(`Upload ${upload.uploadId} is already recorded.`);
  const requests = recipients.map((r): NotificationRequested => ({
    type: "NotificationRequested",
    data: { ...r, uploadId: upload.uploadId, groupId: upload.groupId },
  }));
  return [{ type: "FileUploaded", data: upload }, ...requests];
}
