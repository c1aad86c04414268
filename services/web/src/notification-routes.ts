import { type RequestHandler, Router } from "express";
import {
  ConcurrencyError,
  ConflictError,
  type Directory,
  ForbiddenError,
  type Logger,
  type Notification,
  type NotificationCommands,
  NotFoundError,
  type ReadModels,
  type RecordedEvent,
  UnavailableError,
} from "@herald/core";
import { currentUser, requireGroupRole } from "./auth/index.ts";

// What admins see of notifications (from the read models), each one's history (from the log,
// the source of truth), and redrive: a command to the notification's decider.

export function notificationRoutes({
  directory,
  readModels,
  commands,
  logger,
}: {
  directory: Directory;
  readModels: ReadModels;
  commands: NotificationCommands;
  logger: Logger;
}) {
  const router = Router();

  router.get("/groups/:groupId/notifications", (req, res) => {
    const group = requireGroupRole(directory, req.params.groupId, currentUser(res), "admin");
    res.json({ items: readModels.notificationsOfGroup(group.id).map(toView) });
  });

  /** The notification, if the caller is an admin of its group. */
  const adminNotification: RequestHandler = (req, res, next) => {
    const id = String(req.params.id);
    const notification = readModels.notification(id);
    if (!notification) throw new NotFoundError(`No notification ${id}.`);
    const group = directory.group(notification.groupId);
    if (!group?.admins.includes(currentUser(res).id)) {
      throw new ForbiddenError(`Only admins of the notification's group may read it.`);
    }
    res.locals.notification = notification;
    next();
  };

  router.get("/notifications/:id", adminNotification, (_req, res) => {
    res.json(toView(res.locals.notification));
  });

  // An admin sends a failed or dead-lettered notification again. The decider refuses any other
  // status (409), on the log's state, not on a read model that may be a moment behind; of two
  // admins clicking at once, one redrives. The relay queues it like a new request.
  router.post("/notifications/:id/redrive", adminNotification, async (_req, res) => {
    const notification = res.locals.notification as Notification;
    const { traceparent } = res.locals as { traceparent: string };
    const command = { type: "Redrive" as const, by: currentUser(res).id };
    const redriven = await commands.execute(notification, command, { traceparent }).catch((error) => {
      if (error instanceof ConcurrencyError) throw new ConflictError(`Notification changed meanwhile; look again.`);
      if (error instanceof ConflictError || error instanceof NotFoundError) throw error;
      throw new UnavailableError("The redrive could not be recorded. Try again.", { cause: error });
    });
    logger.info({ notificationId: notification.notificationId, from: notification.status }, "notification redriven");
    res.status(202).json(toView(redriven.state));
  });

  router.get("/notifications/:id/history", adminNotification, async (_req, res) => {
    const story = await commands.read(res.locals.notification as Notification);
    res.json({ items: (story?.events ?? []).map(toHistoryItem) });
  });

  return router;
}

/** A notification as the API shows it. */
const toView = ({ groupId: _g, recipientId: _r, queuedAt: _q, ...view }: Notification) => view;

const toHistoryItem = (event: RecordedEvent) => ({
  type: event.type,
  occurredAt: event.metadata.occurredAt,
  data: event.data,
  traceparent: event.metadata.traceparent ?? null,
});
