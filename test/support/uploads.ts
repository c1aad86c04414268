import { randomUUID } from "node:crypto";
import { type EventLog, recordUpload } from "@herald/core";

// Uploads written straight to a log, for tests of what follows one (the relay, the command
// handler): a one-byte file in group "g" by "cy", with a notification per recipient.

/** Records the upload and its requests; returns the upload's id and the notification ids, in order. */
export async function recordTestUpload(log: EventLog, recipientIds: string[]) {
  const uploadId = randomUUID();
  const recipients = recipientIds.map((id) => ({
    notificationId: randomUUID(),
    recipientId: id,
    recipient: `${id}@example.test`,
  }));
  await recordUpload(log, {
    type: "RecordUpload",
    upload: {
      uploadId,
      groupId: "g",
      uploaderId: "cy",
      filename: "a.txt",
      contentType: "text/plain",
      size: 1,
      sha256: "0".repeat(64),
      blobKey: `g/${uploadId}`,
    },
    recipients,
  });
  return { uploadId, notificationIds: recipients.map((r) => r.notificationId) };
}
