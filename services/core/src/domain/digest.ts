import type { DigestRequested, DigestSchedule } from "./events.ts";

// The digest decision, pure: given what the log says about one admin and one group, is a
// digest due, over which window, and which uploads does it list?
//
// The window is (start, end]: end is the digest moment that has come
// (application/digest-window.ts), start the end of the admin's previous digest of the group,
// so consecutive digests tile time with no gap and no overlap, whatever the admin does to
// their time or zone in between. Before their first digest (or after a spell of "immediate"
// or "off"), start is when they chose the digest: earlier uploads were emailed one by one, or
// not wanted.
//
// An upload is listed by the time it was recorded (its FileUploaded's occurredAt), unless it
// requested an email for this admin directly (a web instance that had not read the change to
// "digest" yet): nobody hears of one upload twice.
//
// A window without uploads records nothing: an empty digest is neither sent nor worth an
// event a day per admin and group, and nothing depends on it: the next digest starts where
// the last one recorded ended, and an empty stretch has nothing to list.

export type RequestDigest = {
  type: "RequestDigest";
  /** The id the digest's notification gets, if one is requested. */
  notificationId: string;
  groupId: string;
  recipientId: string;
  recipient: string;
  schedule: DigestSchedule;
  /** The digest moment that has come: the window's end. */
  windowEnd: Date;
};

/** What the log says, as far as this digest is concerned. */
export type DigestState = {
  /** When the admin's preference for the group last became a digest. */
  digestSince: Date;
  /** The end of the admin's last digest of the group; null before the first. */
  lastWindowEnd: Date | null;
  /** The group's uploads: when each was recorded, and whom it notified directly. */
  uploads: Iterable<{ uploadId: string; uploadedAt: Date; notified: ReadonlySet<string> }>;
};

/** The digest's id: it names the admin, the group and the window's end, and so its stream. */
export const digestId = (recipientId: string, groupId: string, windowEnd: Date) =>
  `${encodeURIComponent(recipientId)}:${encodeURIComponent(groupId)}:${windowEnd.toISOString()}`;

/** The digest's window start: the previous digest's end, or when the digest was chosen. */
const digestWindowStart = ({ digestSince, lastWindowEnd }: Pick<DigestState, "digestSince" | "lastWindowEnd">) =>
  lastWindowEnd && lastWindowEnd > digestSince ? lastWindowEnd : digestSince;

/** DigestRequested for a window that has uploads to list; [] when none is due or it is empty. */
export function decideDigest(command: RequestDigest, state: DigestState): DigestRequested[] {
  const start = digestWindowStart(state);
  const end = command.windowEnd;
  if (end <= start) return []; // this moment's digest is done, or came before the choice
  const listed = [...state.uploads]
    .filter((u) => u.uploadedAt > start && u.uploadedAt <= end && !u.notified.has(command.recipientId))
    .sort((a, b) => a.uploadedAt.getTime() - b.uploadedAt.getTime());
  if (listed.length === 0) return [];
  const { notificationId, groupId, recipientId, recipient, schedule } = command;
  return [
    {
      type: "DigestRequested",
      data: {
        notificationId,
        digestId: digestId(recipientId, groupId, end),
        groupId,
        recipientId,
        recipient,
        timeZone: schedule.timeZone,
        windowStart: start.toISOString(),
        windowEnd: end.toISOString(),
        uploadIds: listed.map((u) => u.uploadId),
      },
    },
  ];
}
