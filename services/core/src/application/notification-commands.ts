import {
  ConcurrencyError,
  decide,
  decidePreferences,
  decideUpload,
  type DigestRequested,
  digestStream,
  evolve,
  foldPreferences,
  type FileUploaded,
  foldNotification,
  isNotificationEvent,
  type Notification,
  type NotificationCommand,
  type NotificationEvent,
  NotificationNotFound,
  type NotificationPreferenceSet,
  notificationStream,
  preferencesStream,
  type RecordedEvent,
  type RecordUpload,
  type SetPreferences,
  uploadStream,
} from "../domain/index.ts";
import type { AppendResult, EventLog, ExpectedRevision } from "../ports/index.ts";

// The one place that writes uploads and notification events: read the stream, fold, decide,
// append at the revision read. When someone else appended in between (the relay's Queued
// racing a delivery's Started, two admins redriving at once), it reads again and decides
// again on the new state: the decider, not a lucky order, says what happens.

/**
 * Which notification: its request lives in the upload's stream, or a digest's in the digest's
 * (digestId set, uploadId ""); the rest in its own.
 */
export type NotificationRef = { notificationId: string; uploadId: string; digestId?: string };

/** One notification as the log tells it. */
export type NotificationStory = {
  /** What it is about: the upload, or the digest's request (which lists the uploads). */
  about: RecordedEvent<FileUploaded> | RecordedEvent<DigestRequested>;
  /** The request, then the notification's own events, in order. */
  events: Array<RecordedEvent<NotificationEvent>>;
  state: Notification;
  /** The notification stream's last revision: append here to act on exactly this state. */
  revision: ExpectedRevision;
};

/** Where a notification stands: enough to decide the next command and append after it. */
export type NotificationSnapshot = Pick<NotificationStory, "state" | "revision">;

/** What a command did, and the snapshot after it (to pass as `known` to the next command). */
export type Executed = NotificationSnapshot & { appended: NotificationEvent[]; result: AppendResult | null };

/** How often a command is decided again after losing a race before the loss is reported. */
const maxTries = 5;

/** Upload streams kept in memory: an upload notifies all of its group's admins at about once. */
const uploadStreamsKept = 1000;

export function createNotificationCommands(log: EventLog) {
  // An upload stream is written once (FileUploaded and every request, in one append with "no
  // stream" expected) and never again, so what was read of it stays true: each of an upload's
  // notifications after the first reads only its own stream.
  const uploads = new Map<string, Promise<RecordedEvent[]>>();
  function readUpload(uploadId: string): Promise<RecordedEvent[]> {
    const kept = uploads.get(uploadId);
    if (kept) return kept;
    const reading = log.readStream(uploadStream(uploadId));
    uploads.set(uploadId, reading);
    if (uploads.size > uploadStreamsKept) uploads.delete(uploads.keys().next().value!);
    // A failed read or an upload not (yet) in the log is not kept.
    reading.then(
      (events) => events.length === 0 && uploads.delete(uploadId),
      () => uploads.delete(uploadId),
    );
    return reading;
  }

  /** The notification's story from the log; null when the log has no such request. */
  async function read({ uploadId, digestId, notificationId }: NotificationRef): Promise<NotificationStory | null> {
    const [origin, lifecycle] = await Promise.all([
      digestId ? log.readStream(digestStream(digestId)) : readUpload(uploadId),
      log.readStream(notificationStream(notificationId)),
    ]);
    const requested = origin.find(
      (e): e is RecordedEvent<NotificationEvent> =>
        (e.type === "NotificationRequested" || e.type === "DigestRequested") &&
        e.data.notificationId === notificationId,
    );
    const about = origin.find(
      (e): e is RecordedEvent<FileUploaded> | RecordedEvent<DigestRequested> =>
        e.type === "FileUploaded" || e === requested,
    );
    if (!about || !requested) return null;
    const events = [requested, ...lifecycle.filter((e) => isNotificationEvent(e))];
    return { about, events, state: foldNotification(events)!, revision: lifecycle.at(-1)?.revision ?? "no_stream" };
  }

  /**
   * Runs one command against a notification. `known` is where the caller last saw it (a story
   * it read, or what its previous command returned), to decide on without reading the log
   * again; it is read again only if it turns out stale.
   * Throws the decider's errors, NotificationNotFound, or ConcurrencyError after maxTries races.
   */
  async function execute(
    ref: NotificationRef,
    command: NotificationCommand,
    { traceparent, known }: { traceparent?: string; known?: NotificationSnapshot } = {},
  ): Promise<Executed> {
    let story: NotificationSnapshot | null = known ?? (await read(ref));
    for (let tries = 1; ; tries++) {
      if (!story) throw new NotificationNotFound(ref.notificationId);
      const appended = decide(command, story.state);
      if (appended.length === 0) return { ...story, appended, result: null };
      // occurredAt is fixed here, so the state returned is exactly what the log now folds to.
      const metadata = { occurredAt: new Date().toISOString(), traceparent };
      try {
        const result = await log.append(
          notificationStream(ref.notificationId),
          appended.map((event) => ({ ...event, metadata })),
          { expectedRevision: story.revision },
        );
        const state = appended.reduce((s, event) => evolve(s, { ...event, metadata })!, story.state);
        return { state, revision: result.nextRevision, appended, result };
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || tries >= maxTries) throw error;
        story = await read(ref);
      }
    }
  }

  return { read, execute };
}

export type NotificationCommands = ReturnType<typeof createNotificationCommands>;

/** Records an upload: the file and a request per recipient, in one append to a new stream. */
export async function recordUpload(log: EventLog, command: RecordUpload, traceparent?: string): Promise<AppendResult> {
  const events = decideUpload(command, { recorded: false });
  try {
    return await log.append(
      uploadStream(command.upload.uploadId),
      events.map((e) => ({ ...e, metadata: { traceparent } })),
      { expectedRevision: "no_stream" },
    );
  } catch (error) {
    // The stream exists after all: let the decider say what that means.
    if (error instanceof ConcurrencyError) decideUpload(command, { recorded: true });
    throw error;
  }
}

/**
 * Records a user's preference changes: read their preferences stream, fold, decide, append at
 * the revision read (again on a race). `appended` is [] when nothing changed, and then
 * `position` is null.
 */
export async function setPreferences(
  log: EventLog,
  command: SetPreferences,
  traceparent?: string,
): Promise<{ appended: NotificationPreferenceSet[]; position: bigint | null }> {
  const stream = preferencesStream(command.userId);
  for (let tries = 1; ; tries++) {
    const recorded = await log.readStream(stream);
    const events = recorded.filter(
      (e): e is RecordedEvent<NotificationPreferenceSet> => e.type === "NotificationPreferenceSet",
    );
    const appended = decidePreferences(command, foldPreferences(events));
    if (appended.length === 0) return { appended, position: null };
    try {
      const result = await log.append(
        stream,
        appended.map((e) => ({ ...e, metadata: { traceparent } })),
        { expectedRevision: recorded.at(-1)?.revision ?? "no_stream" },
      );
      return { appended, position: result.position };
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || tries >= maxTries) throw error;
    }
  }
}
