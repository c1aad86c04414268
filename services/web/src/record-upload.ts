import { randomUUID } from "node:crypto";
import {
  type BlobStore,
  type Directory,
  type EventLog,
  type Group,
  type HeraldEvent,
  UnavailableError,
  type User,
  uploadStream,
} from "@herald/core";
import type { ReceivedFile } from "./receive-upload.ts";

// An accepted upload is ONE append: FileUploaded and a NotificationRequested per group admin,
// in the upload's own stream. Either all of it is in the log (and the relay will queue every
// notification) or none of it is, and the stored blob is removed.

export type UploadAccepted = {
  uploadId: string;
  groupId: string;
  filename: string;
  size: number;
  sha256: string;
  notifications: Array<{ notificationId: string; recipient: string }>;
};

export async function recordUpload(
  { log, blobs, directory }: { log: EventLog; blobs: BlobStore; directory: Directory },
  { file, group, uploader, traceparent }: { file: ReceivedFile; group: Group; uploader: User; traceparent: string },
): Promise<UploadAccepted> {
  const recipients = group.admins.map((id) => directory.user(id)!).filter(Boolean);
  const notifications = recipients.map((admin) => ({
    notificationId: randomUUID(),
    recipientId: admin.id,
    recipient: admin.email,
  }));
  const events: HeraldEvent[] = [
    {
      type: "FileUploaded",
      data: {
        uploadId: file.uploadId,
        groupId: group.id,
        uploaderId: uploader.id,
        filename: file.filename,
        contentType: file.contentType,
        size: file.size,
        sha256: file.sha256,
        blobKey: file.blobKey,
      },
    },
    ...notifications.map((n): HeraldEvent => ({
      type: "NotificationRequested",
      data: { ...n, uploadId: file.uploadId, groupId: group.id },
    })),
  ];
  try {
    await log.append(
      uploadStream(file.uploadId),
      events.map((e) => ({ ...e, metadata: { traceparent } })),
      { expectedRevision: "no_stream" },
    );
  } catch (error) {
    await blobs.delete(file.blobKey).catch(() => undefined);
    throw new UnavailableError("The upload could not be recorded; nothing was kept. Try again.", { cause: error });
  }
  return {
    uploadId: file.uploadId,
    groupId: group.id,
    filename: file.filename,
    size: file.size,
    sha256: file.sha256,
    notifications: notifications.map(({ notificationId, recipient }) => ({ notificationId, recipient })),
  };
}
