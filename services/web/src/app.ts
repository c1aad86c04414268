import { randomUUID } from "node:crypto";
import express, { type RequestHandler } from "express";
import helmet from "helmet";
import {
  type BlobStore,
  type Directory,
  type EventLog,
  ForbiddenError,
  isValidTraceparent,
  type Logger,
  type Metrics,
  type Notification,
  newTraceparent,
  NotFoundError,
  readNotification,
  type ReadModels,
  type RecordedEvent,
  UnavailableError,
  withLogContext,
  addLogContext,
} from "@herald/core";
import { authenticate, currentUser, requireGroupRole } from "./auth.ts";
import { problemHandler, unknownRoute } from "./problems.ts";
import { receiveUpload } from "./receive-upload.ts";
import { recordUpload } from "./record-upload.ts";
import { redrive } from "./redrive.ts";
import { revokeToken } from "./revoke-token.ts";
import { uiRoutes } from "./ui.ts";

export type WebDeps = {
  log: EventLog;
  blobs: BlobStore;
  directory: Directory;
  readModels: ReadModels;
  metrics: Metrics;
  logger: Logger;
  maxUploadBytes: number;
  uploadIdleTimeoutMs: number;
  /** True once the read models have replayed the log; /readyz waits for it. */
  isCaughtUp: () => boolean;
  /** The local outbox, when mail is not sent to an SMTP server. */
  outbox?: Parameters<typeof uiRoutes>[0]["outbox"];
};

export function createWebApp(deps: WebDeps) {
  const { log, blobs, directory, readModels, metrics, logger } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.use(helmet());
  app.use(requestContext(metrics, logger));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    if (!deps.isCaughtUp()) throw new UnavailableError("Replaying the event log.");
    await log.ping().catch((error) => {
      throw new UnavailableError("The event log does not answer.", { cause: error });
    });
    res.json({ status: "ready" });
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const api = express.Router();
  api.use(authenticate(directory, readModels.isTokenRevoked));

  // Revokes the token this request carries (it leaked, or a device is given up): from the
  // answer on, this instance refuses it; other instances as soon as they read the event.
  api.delete("/me/token", async (_req, res) => {
    const user = currentUser(res);
    const { position } = await revokeToken(
      log,
      {
        userId: user.id,
        tokenHash: res.locals.tokenHash as string,
        revokedBy: user.id,
        reason: "revoked by its holder",
      },
      res.locals.traceparent as string,
    );
    await readModels
      .applied(position)
      .catch((error) => logger.warn({ err: error }, "revocation recorded, not yet applied"));
    logger.info("token revoked by its holder");
    res.status(204).end();
  });

  api.post("/groups/:groupId/uploads", async (req, res) => {
    const user = currentUser(res);
    const group = requireGroupRole(directory, req.params.groupId, user, "member");
    const file = await receiveUpload(req, {
      blobs,
      groupId: group.id,
      maxBytes: deps.maxUploadBytes,
      idleTimeoutMs: deps.uploadIdleTimeoutMs,
    });
    addLogContext({ uploadId: file.uploadId });
    const traceparent = res.locals.traceparent as string;
    const accepted = await recordUpload({ log, blobs, directory }, { file, group, uploader: user, traceparent });
    metrics.uploads.inc();
    metrics.uploadBytes.inc(file.size);
    logger.info({ size: file.size, recipients: accepted.notifications.length }, "upload accepted");
    res.status(202).location(`/api/groups/${group.id}/uploads/${file.uploadId}`).json(accepted);
  });

  api.get("/groups/:groupId/uploads", (req, res) => {
    const group = requireGroupRole(directory, req.params.groupId, currentUser(res), "member");
    res.json({ items: readModels.uploadsOfGroup(group.id).map(({ blobKey: _, ...upload }) => upload) });
  });

  api.get("/groups/:groupId/uploads/:uploadId", (req, res) => {
    const group = requireGroupRole(directory, req.params.groupId, currentUser(res), "member");
    const upload = readModels.upload(req.params.uploadId);
    if (!upload || upload.groupId !== group.id)
      throw new NotFoundError(`No upload ${req.params.uploadId} in ${group.id}.`);
    const { blobKey: _, ...view } = upload;
    res.json(view);
  });

  api.get("/groups/:groupId/uploads/:uploadId/content", async (req, res) => {
    const group = requireGroupRole(directory, req.params.groupId, currentUser(res), "member");
    const upload = readModels.upload(req.params.uploadId);
    if (!upload || upload.groupId !== group.id)
      throw new NotFoundError(`No upload ${req.params.uploadId} in ${group.id}.`);
    const content = await blobs.get(upload.blobKey);
    res.attachment(upload.filename).type("application/octet-stream").set("Content-Length", String(upload.size));
    content.pipe(res);
  });

  api.get("/groups/:groupId/notifications", (req, res) => {
    const group = requireGroupRole(directory, req.params.groupId, currentUser(res), "admin");
    res.json({ items: readModels.notificationsOfGroup(group.id).map(toView) });
  });

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

  api.get("/notifications/:id", adminNotification, (_req, res) => {
    res.json(toView(res.locals.notification));
  });

  api.post("/notifications/:id/redrive", adminNotification, async (_req, res) => {
    const notification = res.locals.notification as Notification;
    const redriven = await redrive(log, notification, currentUser(res).id, res.locals.traceparent as string);
    logger.info({ notificationId: notification.notificationId, from: notification.status }, "notification redriven");
    res.status(202).json(toView(redriven));
  });

  api.get("/notifications/:id/history", adminNotification, async (_req, res) => {
    const { notificationId, uploadId } = res.locals.notification;
    const found = await readNotification(log, uploadId, notificationId);
    res.json({ items: (found?.events ?? []).map(toHistoryItem) });
  });

  app.use("/api", api);
  app.use(uiRoutes({ outbox: deps.outbox }));
  app.use(unknownRoute);
  app.use(problemHandler(logger));
  return app;
}

/** A notification as the API shows it. */
const toView = ({ groupId: _g, recipientId: _r, queuedAt: _q, ...view }: Notification) => view;

const toHistoryItem = (event: RecordedEvent) => ({
  type: event.type,
  occurredAt: event.metadata.occurredAt,
  data: event.data,
  traceparent: event.metadata.traceparent ?? null,
});

/** Request id, traceparent and HTTP metrics for every request; all log lines inside carry them. */
function requestContext(metrics: Metrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get("traceparent");
    const traceparent = isValidTraceparent(incoming) ? incoming : newTraceparent();
    res.locals.traceparent = traceparent;
    const requestId = randomUUID();
    res.set("X-Request-Id", requestId);
    const stop = metrics.httpRequestDuration.startTimer({ method: req.method });
    res.on("finish", () => {
      const route = req.route ? `${req.baseUrl}${req.route.path}` : "unmatched";
      stop({ route, status: String(res.statusCode) });
      if (res.statusCode >= 500) logger.warn({ status: res.statusCode, path: req.path }, "request failed");
    });
    withLogContext({ requestId, traceparent }, next);
  };
}
