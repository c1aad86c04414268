import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import {
  ConcurrencyError,
  decideDigest,
  defaultPreferences,
  digestScheduleOf,
  digestStream,
  effectivePreference,
  evolvePreferences,
  type Preferences,
  type RecordedEvent,
} from "../domain/index.ts";
import { latestDigestMoment } from "./digest-window.ts";
import { repeatEvery } from "../platform/lifecycle.ts";
import type { Metrics } from "../platform/metrics.ts";
import type { Directory, EventLog } from "../ports/index.ts";

// The daily digests: runDigests(now) requests every digest that is due, and whatever
// schedules it calls it (embedded mode: a timer, every HERALD_DIGEST_TICK_SECONDS; Dapr mode:
// a cron binding or the Jobs API, later). For each admin on a digest for a group whose digest
// moment has come (and its grace passed), it decides the digest (domain/digest.ts) and appends
// it to the stream named by (admin, group, window end), expecting no stream. That stream is
// the guard, not a lock: a second replica, a repeated trigger or a run after a restart finds
// it and does nothing; a run that stopped half-way leaves the rest to the next one. The
// request then goes the way of every notification: relay, queue, notifier.
//
// What it decides on is a fold of the log it reads itself, up to the log's end, at the start
// of every run: no follower lag between an upload recorded and the digest that lists it.

export type DigestRunnerDeps = {
  log: EventLog;
  directory: Directory;
  metrics: Metrics;
  logger: Logger;
  /** HERALD_DIGEST_GRACE_SECONDS, in ms: a digest is requested this long after its moment. */
  graceMs: number;
};

/** What one run did: digests requested, windows already requested elsewhere, appends that failed. */
export type DigestRun = { requested: number; alreadyRequested: number; failed: number };

type UploadEntry = { uploadId: string; uploadedAt: Date; notified: Set<string> };

export function createDigestRunner({ log, directory, metrics, logger, graceMs }: DigestRunnerDeps) {
  const model = createDigestModel();
  for (const result of ["ok", "error"]) metrics.digestRuns.labels({ result }).inc(0);
  // Stale is counted from the runner's start until its first run (the cron binding's first
  // call comes a minute after the sidecar starts): a fresh replica is not late.
  metrics.digestLastRun.set(Date.now() / 1000);

  async function catchUp() {
    for (;;) {
      const events = await log.readAll({ after: model.position(), maxCount: 1000 });
      for (const event of events) model.apply(event);
      if (events.length < 1000) return;
    }
  }

  async function runDigests(now: Date = new Date()): Promise<DigestRun> {
    const run: DigestRun = { requested: 0, alreadyRequested: 0, failed: 0 };
    try {
      await catchUp();
    } catch (error) {
      metrics.digestRuns.inc({ result: "error" });
      throw error;
    }
    const settled = new Date(now.getTime() - graceMs);
    for (const group of directory.groups()) {
      for (const adminId of group.admins) {
        const admin = directory.user(adminId);
        const schedule = digestScheduleOf(effectivePreference(model.preferencesOf(adminId), group.id));
        if (!admin || !schedule) continue;
        const windowEnd = latestDigestMoment(schedule, settled);
        const command = {
          type: "RequestDigest" as const,
          notificationId: randomUUID(),
          groupId: group.id,
          recipientId: admin.id,
          recipient: admin.email,
          schedule,
          windowEnd,
        };
        const events = decideDigest(command, {
          digestSince: model.digestSince(adminId, group.id),
          lastWindowEnd: model.lastWindowEnd(adminId, group.id),
          uploads: model.uploadsOf(group.id),
        });
        const [requested] = events;
        if (!requested) continue;
        try {
          await log.append(digestStream(requested.data.digestId), events, { expectedRevision: "no_stream" });
        } catch (error) {
          if (error instanceof ConcurrencyError) {
            run.alreadyRequested += 1;
            continue;
          }
          run.failed += 1;
          logger.warn(
            { err: error, digestId: requested.data.digestId },
            "could not request a digest; the next run will",
          );
          continue;
        }
        run.requested += 1;
        const lateness = (now.getTime() - windowEnd.getTime()) / 1000;
        metrics.digestsRequested.inc();
        metrics.digestUploads.observe(requested.data.uploadIds.length);
        metrics.digestLateness.observe(lateness);
        logger.info(
          {
            notificationId: requested.data.notificationId,
            digestId: requested.data.digestId,
            uploads: requested.data.uploadIds.length,
            latenessSeconds: lateness,
          },
          "digest requested",
        );
      }
    }
    metrics.digestRuns.inc({ result: "ok" });
    metrics.digestLastRun.set(Date.now() / 1000);
    return run;
  }

  return { runDigests };
}

export type DigestRunner = ReturnType<typeof createDigestRunner>;

/**
 * What the digest decision needs from the log: each user's preferences with when they
 * changed, each group's uploads with whom they notified directly, and where each admin's last
 * digest of each group ended. Events at or before the last applied position are skipped.
 */
function createDigestModel() {
  let position: bigint | null = null;
  const preferenceHistory = new Map<string, Array<{ at: Date; state: Preferences }>>();
  const uploadsByGroup = new Map<string, UploadEntry[]>();
  const uploadsById = new Map<string, UploadEntry>();
  const lastWindowEnds = new Map<string, Date>();
  const key = (userId: string, groupId: string) => `${userId}\n${groupId}`;

  return {
    position: () => position,
    apply(event: RecordedEvent) {
      if (position !== null && event.position <= position) return;
      position = event.position;
      const at = new Date(event.metadata.occurredAt);
      switch (event.type) {
        case "NotificationPreferenceSet": {
          const history = preferenceHistory.get(event.data.userId) ?? [];
          const state = evolvePreferences(history.at(-1)?.state ?? defaultPreferences, event);
          history.push({ at, state });
          preferenceHistory.set(event.data.userId, history);
          return;
        }
        case "FileUploaded": {
          const entry = { uploadId: event.data.uploadId, uploadedAt: at, notified: new Set<string>() };
          uploadsById.set(entry.uploadId, entry);
          const uploads = uploadsByGroup.get(event.data.groupId) ?? [];
          uploads.push(entry);
          uploadsByGroup.set(event.data.groupId, uploads);
          return;
        }
        case "NotificationRequested":
          uploadsById.get(event.data.uploadId)?.notified.add(event.data.recipientId);
          return;
        case "DigestRequested": {
          const k = key(event.data.recipientId, event.data.groupId);
          const end = new Date(event.data.windowEnd);
          const last = lastWindowEnds.get(k);
          if (!last || end > last) lastWindowEnds.set(k, end);
          return;
        }
      }
    },
    preferencesOf: (userId: string) => preferenceHistory.get(userId)?.at(-1)?.state ?? defaultPreferences,
    /**
     * When the user's preference for the group last became a digest (from immediate or off):
     * a change of time or zone keeps it a digest, and does not move this.
     */
    digestSince(userId: string, groupId: string): Date {
      const history = preferenceHistory.get(userId) ?? [];
      let since = new Date(0);
      for (let i = history.length - 1; i >= 0; i--) {
        if (!digestScheduleOf(effectivePreference(history[i]!.state, groupId))) break;
        since = history[i]!.at;
      }
      return since;
    },
    lastWindowEnd: (userId: string, groupId: string) => lastWindowEnds.get(key(userId, groupId)) ?? null,
    uploadsOf: (groupId: string): UploadEntry[] => uploadsByGroup.get(groupId) ?? [],
  };
}

/**
 * Embedded mode's scheduler: runDigests now and then every tickMs, one run at a time. A run
 * that fails (the log away) is logged; the next tick tries again. stop() waits for the run
 * under way.
 */
export function startDigestTimer(runner: DigestRunner, { tickMs, logger }: { tickMs: number; logger: Logger }) {
  return repeatEvery(tickMs, () =>
    runner.runDigests().then(
      (run) => void (run.requested + run.failed > 0 && logger.info(run, "digest run")),
      (error) => logger.warn({ err: error }, "digest run failed; the next tick tries again"),
    ),
  );
}
