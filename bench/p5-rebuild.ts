import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createReadModels, type NewEvent, relayCheckpoint } from "@herald/core";
import { openSqliteEventLog } from "@herald/core/adapters";
import { scratchDir } from "./lib/cleanup.ts";
import { launchEmbedded } from "./lib/herald.ts";
import { type ProcessFigures, probeProcesses } from "./lib/proc.ts";
import { deadlinePassed } from "./lib/wait.ts";

// P5: how fast the read models are rebuilt from the log, which the web does at every start.
// A log is written through the SQLite adapter, as Herald writes it: per upload, FileUploaded +
// 2 NotificationRequested in one append, then NotificationQueued, Started and Sent for each
// notification in its own stream (9 events per upload), and the relay's checkpoint at its end,
// as a Herald stopped after delivering everything leaves it. Then: createReadModels() folding
// the whole log through readAll in batches, and a Herald started on that data dir until /readyz.

export type P5Result = {
  events: number;
  uploads: number;
  generateSeconds: number;
  rebuildSeconds: number;
  eventsPerSecond: number;
  /** Notifications the fold ends with, and how many of them are `sent` (a check of the fold). */
  notifications: number;
  sent: number;
  startSeconds: number;
  /** The same start on an empty data dir: what a start costs without the log. */
  emptyStartSeconds: number;
  processes: ProcessFigures[];
};

const eventsPerUpload = 9;
const batch = 1000;

export async function runP5(o: { events: number; smtpUrl: string; env: Record<string, string> }): Promise<P5Result> {
  const uploads = Math.ceil(o.events / eventsPerUpload);
  // Each append is an fsync'd transaction (~160/s on a disk here, ~600/s on tmpfs): write the
  // log on tmpfs when there is one, then copy it to the disk dir Herald starts from.
  const genDir = scratchDir("p5-gen", existsSync("/dev/shm") ? "/dev/shm" : undefined);
  const dataDir = scratchDir("p5-data");
  let started = performance.now();
  const log = openSqliteEventLog(genDir);
  let last = 0n;
  for (let u = 0; u < uploads; u++) {
    if (deadlinePassed()) throw new Error(`deadline passed while writing the log (${u} of ${uploads} uploads)`);
    const uploadId = randomUUID();
    const recipients = [
      { notificationId: randomUUID(), recipientId: "alice", recipient: "alice@example.test" },
      { notificationId: randomUUID(), recipientId: "bob", recipient: "bob@example.test" },
    ];
    const upload: NewEvent[] = [
      {
        type: "FileUploaded",
        data: {
          uploadId,
          groupId: "design",
          uploaderId: "carol",
          filename: `file-${u}.txt`,
          contentType: "text/plain",
          size: 1024,
          sha256: "0".repeat(64),
          blobKey: `design/${uploadId}`,
        },
      },
      ...recipients.map((r): NewEvent => ({
        type: "NotificationRequested",
        data: { ...r, uploadId, groupId: "design" },
      })),
    ];
    await log.append(`upload-${uploadId}`, upload, { expectedRevision: "no_stream" });
    for (const { notificationId } of recipients) {
      const lifecycle: NewEvent[] = [
        { type: "NotificationQueued", data: { notificationId } },
        { type: "NotificationStarted", data: { notificationId, attempt: 1 } },
        { type: "NotificationSent", data: { notificationId, attempt: 1, messageId: `<${notificationId}@herald>` } },
      ];
      last = (await log.append(`notification-${notificationId}`, lifecycle, { expectedRevision: "no_stream" }))
        .position;
    }
  }
  await log.save(relayCheckpoint, last);
  await log.close();
  copyFileSync(join(genDir, "events.db"), join(dataDir, "events.db"));
  const generateSeconds = (performance.now() - started) / 1000;

  // The fold, timed from opening the log to the last event applied.
  started = performance.now();
  const reread = openSqliteEventLog(dataDir);
  const models = createReadModels();
  let events = 0;
  try {
    for (let after: bigint | null = null; ;) {
      const page = await reread.readAll({ after, maxCount: batch });
      if (page.length === 0) break;
      for (const event of page) models.apply(event);
      events += page.length;
      after = page[page.length - 1]!.position;
    }
  } finally {
    await reread.close();
  }
  const rebuildSeconds = (performance.now() - started) / 1000;
  const notifications = models.allNotifications();

  // A Herald start on that log, and one on an empty data dir: spawn until /readyz answers
  // (polled every 100 ms). The difference is what the log costs the start.
  const timeStart = async (dir?: string) => {
    const begun = performance.now();
    const herald = await launchEmbedded({ smtpUrl: o.smtpUrl, env: o.env, ...(dir && { dataDir: dir }) });
    const seconds = (performance.now() - begun) / 1000;
    const processes = probeProcesses(herald.pids, { resetPeak: false }) // the peak of the start, replay included
      .end()
      .map(({ name, peakRssMiB }) => ({ name, peakRssMiB }));
    await herald.stop();
    return { seconds, processes };
  };
  const emptyStart = await timeStart();
  const { seconds: startSeconds, processes } = await timeStart(dataDir);

  return {
    events,
    uploads,
    generateSeconds,
    rebuildSeconds,
    eventsPerSecond: events / rebuildSeconds,
    notifications: notifications.length,
    sent: notifications.filter((n) => n.status === "sent").length,
    startSeconds,
    emptyStartSeconds: emptyStart.seconds,
    processes,
  };
}
