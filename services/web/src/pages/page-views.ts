import {
  type Directory,
  ForbiddenError,
  type Group,
  type Notification,
  type NotificationCommands,
  NotFoundError,
  type ReadModels,
  redrivableStatuses,
  type User,
} from "@herald/core";
import { errorInWords, statusInWords, type TimelineStep, timelineStep, traceIdOf } from "./plain-words.ts";

// What the pages show, built from the read models and the directory: the same rows are
// rendered into the page by the server and sent as JSON to the page's script, which keeps
// them current (activity-routes.ts). Names, not ids; errors in words; every time as ISO, for
// <time datetime> and the reader's own time zone.

export type PageData = { directory: Directory; readModels: ReadModels };

export type UploadRow = {
  uploadId: string;
  filename: string;
  size: string;
  uploadedAt: string;
  uploaderName: string;
  href: string;
  downloadHref: string;
  highlighted: boolean;
};

export type NotificationRow = {
  notificationId: string;
  uploadId: string;
  filename: string;
  recipient: string;
  recipientName: string;
  status: Notification["status"];
  statusWords: string;
  attempts: number;
  requestedAt: string;
  completedAt: string | null;
  error: { words: string; detail: string } | null;
  href: string;
  redrivable: boolean;
  highlighted: boolean;
};

export type GroupActivity = {
  group: { id: string; name: string };
  isAdmin: boolean;
  uploads: UploadRow[];
  /** The group's notifications, for its admins; null for members. */
  notifications: NotificationRow[] | null;
};

const isAdminOf = (group: Group, user: User) => group.admins.includes(user.id);
const isMemberOf = (group: Group, user: User) => isAdminOf(group, user) || group.members.includes(user.id);

/** The groups the user belongs to (as member or admin), by name. */
export function groupsOf({ directory }: PageData, user: User) {
  return directory
    .groups()
    .filter((group) => isMemberOf(group, user))
    .map((group) => ({ id: group.id, name: group.name, role: isAdminOf(group, user) ? "admin" : "member" }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The group's uploads (and, for its admins, notifications), newest first. */
export function groupActivity(
  { directory, readModels }: PageData,
  group: Group,
  user: User,
  highlightUploadId: string | null = null,
): GroupActivity {
  const userName = (id: string) => directory.user(id)?.name ?? id;
  const uploadPath = (uploadId: string) =>
    `/groups/${encodeURIComponent(group.id)}/uploads/${encodeURIComponent(uploadId)}`;
  const uploads = readModels
    .uploadsOfGroup(group.id)
    .map((upload): UploadRow => ({
      uploadId: upload.uploadId,
      filename: upload.filename,
      size: formatSize(upload.size),
      uploadedAt: upload.uploadedAt,
      uploaderName: userName(upload.uploaderId),
      href: uploadPath(upload.uploadId),
      downloadHref: `/api${uploadPath(upload.uploadId)}/content`,
      highlighted: upload.uploadId === highlightUploadId,
    }))
    .reverse();
  const notifications = isAdminOf(group, user)
    ? readModels
        .notificationsOfGroup(group.id)
        .map((n) => notificationRow({ directory, readModels }, n, highlightUploadId))
        .reverse()
    : null;
  return { group: { id: group.id, name: group.name }, isAdmin: isAdminOf(group, user), uploads, notifications };
}

function notificationRow(
  { directory, readModels }: PageData,
  n: Notification,
  highlightUploadId: string | null = null,
): NotificationRow {
  const words = errorInWords(n.lastError);
  return {
    notificationId: n.notificationId,
    uploadId: n.uploadId,
    // A digest is about a day's uploads, not one file (its uploadId is empty).
    filename: n.digestId ? "Daily digest" : (readModels.upload(n.uploadId)?.filename ?? "(unknown file)"),
    recipient: n.recipient,
    recipientName: directory.user(n.recipientId)?.name ?? n.recipient,
    status: n.status,
    statusWords: statusInWords(n.status),
    attempts: n.attempts,
    requestedAt: n.requestedAt,
    completedAt: n.completedAt,
    error: words && n.lastError ? { words, detail: n.lastError } : null,
    href: `/notifications/${encodeURIComponent(n.notificationId)}`,
    redrivable: redrivableStatuses.has(n.status),
    highlighted: highlightUploadId !== null && n.uploadId === highlightUploadId,
  };
}

/** The group, if the user may see it: 404 for none, 403 for a group they are not in. */
export function visibleGroup({ directory }: PageData, groupId: string, user: User): Group {
  const group = directory.group(groupId);
  if (!group) throw new NotFoundError(`There is no group ${groupId}.`);
  if (!isMemberOf(group, user)) throw new ForbiddenError(`You are not a member of group ${group.name}.`);
  return group;
}

/** The notification, if the user is an admin of its group (only they see notifications). */
export function visibleNotification({ directory, readModels }: PageData, id: string, user: User): Notification {
  const notification = readModels.notification(id);
  if (!notification) throw new NotFoundError(`There is no notification ${id}.`);
  const group = directory.group(notification.groupId);
  if (!group || !isAdminOf(group, user))
    throw new ForbiddenError("Only admins of the notification's group may see it.");
  return notification;
}

export type Timeline = {
  notification: NotificationRow;
  group: { id: string; name: string };
  uploadHref: string;
  /** The trace the upload started, which every step of the first send carries. */
  traceId: string | null;
  steps: TimelineStep[];
};

/** The notification's whole story, from the log (the source of truth), as readable steps. */
export async function notificationTimeline(
  data: PageData & { commands: NotificationCommands },
  notification: Notification,
): Promise<Timeline> {
  const story = await data.commands.read(notification);
  const events = story?.events ?? [];
  const userName = (id: string) => data.directory.user(id)?.name ?? id;
  const group = data.directory.group(notification.groupId);
  return {
    notification: notificationRow(data, notification),
    group: { id: notification.groupId, name: group?.name ?? notification.groupId },
    uploadHref: `/groups/${encodeURIComponent(notification.groupId)}/uploads/${encodeURIComponent(notification.uploadId)}`,
    traceId: traceIdOf(events[0]?.metadata.traceparent),
    // A step names its trace only where the trace changes (a redrive starts a new one).
    steps: events
      .map((event) => timelineStep(event, { userName }))
      .map((step, i, all) => (i > 0 && step.traceId === all[i - 1]!.traceId ? { ...step, traceId: null } : step)),
  };
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
