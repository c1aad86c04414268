import { randomUUID } from "node:crypto";
import express, { type RequestHandler } from "express";
import {
  ConflictError,
  isValidTraceparent,
  type Logger,
  type Metrics,
  newTraceparent,
  type NotificationCommands,
  UnavailableError,
  withLogContext,
} from "@herald/core";
import type { OutboxMailer } from "@herald/core/adapters";
import {
  authenticate,
  createSignIn,
  currentUser,
  requireSignedIn,
  safeReturnTo,
  sessionContext,
  type SignInSettings,
} from "./auth/index.ts";
import { notificationRoutes } from "./notification-routes.ts";
import { outboxRoutes } from "./outbox-routes.ts";
import { activityRoutes } from "./pages/activity-routes.ts";
import { loadAssets } from "./pages/assets.ts";
import { pageRoutes, type PageSignIn } from "./pages/page-routes.ts";
import { securityHeaders } from "./pages/security-headers.ts";
import { preferenceRoutes } from "./preference-routes.ts";
import { problemHandler, unknownRoute } from "./problems.ts";
import { revokeToken } from "./revoke-token.ts";
import { unsubscribeRoutes } from "./unsubscribe-routes.ts";
import { uploadRoutes, type UploadRoutesDeps } from "./upload-routes.ts";

// The web's HTTP surface: health, metrics, the /api routes behind bearer authentication, the
// page, and the one error handler that turns every error into problem+json.

export type WebDeps = UploadRoutesDeps & {
  commands: NotificationCommands;
  /** True once the read models have replayed the log; /readyz waits for it. */
  isCaughtUp: () => boolean;
  /** The local outbox, when mail is not sent to an SMTP server. */
  outbox?: OutboxMailer;
  /** Failed authentications a client address may make per minute before it gets 429. */
  authFailuresPerMinute: number;
  /** Verifies the one-click unsubscribe links the notifier signs (HERALD_UNSUBSCRIBE_SECRET). */
  unsubscribeSecret: string;
  /** Sessions, the identity provider, dev sign-in (auth/settings.ts). */
  signIn: SignInSettings;
  /** Which proxies' X-Forwarded-* to believe (HERALD_TRUST_PROXY): express's `trust proxy`. */
  trustProxy: boolean | number | string[];
};

export function createWebApp(deps: WebDeps) {
  const { log, directory, readModels, metrics, logger } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy);
  app.use(securityHeaders);
  app.use(requestContext(metrics, logger));
  const assets = loadAssets();
  app.use(assets.routes());

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

  // Every page and API request from here on knows its session (if any) and its CSRF token.
  const signIn = createSignIn({ directory, settings: deps.signIn, logger });
  app.use(sessionContext(directory, deps.signIn.session));

  const api = express.Router();
  api.use(
    authenticate(directory, {
      isRevoked: readModels.isTokenRevoked,
      metrics,
      failuresPerMinute: deps.authFailuresPerMinute,
      verifyAccessToken: signIn.verifyAccessToken,
    }),
  );

  // Revokes the token this request carries (it leaked, or a device is given up): from the
  // answer on, this instance refuses it; other instances as soon as they read the event.
  api.delete("/me/token", async (_req, res) => {
    const user = currentUser(res);
    if (res.locals.credential !== "token")
      throw new ConflictError("Only a static bearer token can be revoked here; a session ends with sign-out.");
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

  api.use(preferenceRoutes({ log, directory, readModels, metrics, logger }));
  api.use(uploadRoutes(deps));
  api.use(notificationRoutes({ directory, readModels, commands: deps.commands, logger }));

  api.use(activityRoutes({ directory, readModels, commands: deps.commands }));

  if (deps.outbox) api.use(outboxRoutes(deps.outbox));

  app.use("/api", api);
  // Outside /api: the link in an email works without sign-in; its signed token is the credential.
  app.use(
    unsubscribeRoutes({
      log,
      directory,
      readModels,
      metrics,
      logger,
      secret: deps.unsubscribeSecret,
      failuresPerMinute: deps.authFailuresPerMinute,
    }),
  );
  app.use(signIn.routes);
  const pageSignIn: PageSignIn = { requireSignedIn, signInOptions: signIn.signInOptions, safeReturnTo };
  app.use(
    pageRoutes({
      directory,
      readModels,
      commands: deps.commands,
      outbox: deps.outbox,
      assets,
      signIn: pageSignIn,
      logger,
      log,
      metrics,
    }),
  );
  app.use(unknownRoute);
  app.use(problemHandler(logger));
  return app;
}

/**
 * Request id, traceparent and HTTP metrics for every request; all log lines inside carry them.
 *
 * The metrics' `route` label is bounded, never the raw path: the template of the route that
 * matched, with its mount path (`/api/groups/:groupId/uploads`); for a request under /api that
 * matched none, `/api (unauthenticated)` when authentication refused it (it runs before any
 * route is matched) and `/api (unmatched)` otherwise; `unmatched` for any other path.
 */
function requestContext(metrics: Metrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get("traceparent");
    const traceparent = isValidTraceparent(incoming) ? incoming : newTraceparent();
    res.locals.traceparent = traceparent;
    const requestId = randomUUID();
    res.set("X-Request-Id", requestId);

    // The template is taken when express matches the route, while req.baseUrl is the
    // router's mount path: an error then leaves the router for the problem handler, which
    // resets req.baseUrl and would drop the /api prefix.
    let matchedRoute: string | null = null;
    let route: { path: string } | undefined;
    Object.defineProperty(req, "route", {
      configurable: true,
      enumerable: true,
      get: () => route,
      set(value: { path: string }) {
        route = value;
        matchedRoute = `${req.baseUrl}${value.path}`;
      },
    });
    /** Where a request that no route took stopped. */
    const unmatchedLabel = () => {
      // Express matches paths case-insensitively: /API/... is routed to the API too.
      if (!/^\/api(\/|\?|$)/i.test(req.originalUrl)) return "unmatched";
      return res.locals.user ? "/api (unmatched)" : "/api (unauthenticated)";
    };

    const stop = metrics.httpRequestDuration.startTimer({ method: req.method });
    res.on("finish", () => {
      stop({ route: matchedRoute ?? unmatchedLabel(), status: String(res.statusCode) });
      if (res.statusCode >= 500) logger.warn({ status: res.statusCode, path: req.path }, "request failed");
    });
    withLogContext({ requestId, traceparent }, next);
  };
}
