import { type ErrorRequestHandler, type RequestHandler, Router } from "express";
import {
  type EventLog,
  HeraldError,
  type Logger,
  type Metrics,
  type NotificationCommands,
  NotFoundError,
  type User,
} from "@herald/core";
import type { OutboxMailer } from "@herald/core/adapters";
import { fromExpress } from "../problems.ts";
import type { Assets } from "./assets.ts";
import {
  groupActivity,
  groupsOf,
  notificationTimeline,
  type PageData,
  visibleGroup,
  visibleNotification,
} from "./page-views.ts";
import { preferencesPage, savePreferenceForm, sectionId } from "./preferences-page.ts";
import { createViews } from "./views.ts";

// The website: server-rendered pages (views/), each a GET, made current by a small script
// (public/app.js) that calls the JSON API with the session cookie. What a page changes (an
// upload, a redrive) goes through the API, with the session's CSRF token; the Notifications
// page's forms post to their own route, which calls the code the API uses.

/** What the pages need of sign-in (services/web/src/auth/). */
export type PageSignIn = {
  /** No valid session: 303 to /signin?returnTo=<this page>; else res.locals.user is set. */
  requireSignedIn: RequestHandler;
  signInOptions: () => { oidc: { label: string } | null; devUsers: User[] | null };
  /** The value if it is a path of this site ("/..." but not "//..."), else null. */
  safeReturnTo: (value: unknown) => string | null;
};

export type PageDeps = PageData & {
  commands: NotificationCommands;
  outbox?: Pick<OutboxMailer, "list" | "parts">;
  assets: Assets;
  signIn: PageSignIn;
  logger: Logger;
  /** Where the Notifications page records preference changes (as PUT /api/me/preferences does). */
  log: EventLog;
  metrics: Metrics;
};

export function pageRoutes(deps: PageDeps) {
  const { signIn, outbox, logger } = deps;
  const views = createViews(deps.assets);
  const signedIn = signIn.requireSignedIn;
  const user = (res: { locals: Record<string, unknown> }) => res.locals.user as User;
  const router = Router();

  router.get("/signin", (req, res) => {
    const returnTo = signIn.safeReturnTo(req.query.returnTo) ?? "/";
    const { oidc, devUsers } = signIn.signInOptions();
    views.render(res, "signin", {
      title: "Sign in",
      returnTo,
      oidc: oidc ? { label: oidc.label, href: `/signin/oidc?returnTo=${encodeURIComponent(returnTo)}` } : null,
      devUsers,
      nothingConfigured: !oidc && !devUsers,
    });
  });

  router.get("/", signedIn, (_req, res) => {
    views.render(res, "home", { title: "Your groups", groups: groupsOf(deps, user(res)) });
  });

  router.get("/groups/:groupId", signedIn, (req, res) => {
    const group = visibleGroup(deps, String(req.params.groupId), user(res));
    renderGroup(res, groupActivity(deps, group, user(res)), null);
  });

  // The link in every notification email: the group's page with that upload, and its
  // notifications, marked.
  router.get("/groups/:groupId/uploads/:uploadId", signedIn, (req, res) => {
    const group = visibleGroup(deps, String(req.params.groupId), user(res));
    const upload = deps.readModels.upload(String(req.params.uploadId));
    if (!upload || upload.groupId !== group.id) {
      throw new NotFoundError(`There is no such upload in ${group.name}; it may not have been recorded yet.`);
    }
    renderGroup(res, groupActivity(deps, group, user(res), upload.uploadId), upload.uploadId);
  });

  function renderGroup(
    res: Parameters<typeof views.render>[0],
    activity: ReturnType<typeof groupActivity>,
    highlight: string | null,
  ) {
    const { id } = activity.group;
    const query = highlight ? `?upload=${encodeURIComponent(highlight)}` : "";
    views.render(res, "group", {
      title: activity.group.name,
      ...activity,
      highlighted: highlight ? (activity.uploads.find((u) => u.highlighted) ?? null) : null,
      uploadAction: `/api/groups/${encodeURIComponent(id)}/uploads`,
      activityUrl: `/api/groups/${encodeURIComponent(id)}/activity${query}`,
    });
  }

  router.get("/notifications/:id", signedIn, async (req, res) => {
    const notification = visibleNotification(deps, String(req.params.id), user(res));
    const timeline = await notificationTimeline(deps, notification);
    views.render(res, "timeline", {
      title: `Email to ${timeline.notification.recipientName} about ${timeline.notification.filename}`,
      ...timeline,
      timelineUrl: `/api/notifications/${encodeURIComponent(notification.notificationId)}/timeline`,
      redriveAction: `/api/notifications/${encodeURIComponent(notification.notificationId)}/redrive`,
    });
  });

  router.get("/preferences", signedIn, (req, res) => {
    const page = preferencesPage(deps, user(res), { saved: req.query.saved, unchanged: req.query.unchanged === "1" });
    views.render(res, "preferences", page);
  });

  // A form of the page above (urlencoded, `_csrf` checked by signedIn): saved, then back to
  // the page at that form (303); refused, the page again with the problem at its field (400).
  router.post("/preferences", signedIn, async (req, res) => {
    const outcome = await savePreferenceForm(deps, user(res), req.body, res.locals.traceparent as string);
    if (!outcome.saved) {
      views.render(res, "preferences", preferencesPage(deps, user(res), { refused: outcome }), 400);
      return;
    }
    const query = `saved=${encodeURIComponent(outcome.scope)}${outcome.changed ? "" : "&unchanged=1"}`;
    res.redirect(303, `/preferences?${query}#${sectionId(outcome.scope)}`);
  });

  // The development mail catcher: the signed-in user's own mail, as their mail client would
  // show it. Mail to others is not theirs to read (404, as for a file that is not there).
  const myMail = async (res: Parameters<typeof user>[0]) => {
    const { email } = user(res);
    return outbox ? (await outbox.list()).filter((m) => m.to === email) : [];
  };

  router.get("/outbox", signedIn, async (_req, res) => {
    const mail = (await myMail(res)).map((m) => ({ ...m, href: `/outbox/${encodeURIComponent(m.file)}` }));
    views.render(res, "outbox", { title: "Your outbox", hasOutbox: Boolean(outbox), mail });
  });

  router.get("/outbox/:file", signedIn, async (req, res) => {
    const entry = (await myMail(res)).find((m) => m.file === req.params.file);
    if (!entry || !outbox) throw new NotFoundError("There is no such email in your outbox.");
    const parts = await outbox.parts(entry.file);
    views.render(res, "email", {
      title: entry.subject,
      email: entry,
      text: parts?.text ?? null,
      htmlHref: parts ? `/outbox/${encodeURIComponent(entry.file)}/html` : null,
    });
  });

  // The email's HTML, for the sandboxed frame of the page above: no script, no requests
  // anywhere, only its own inline styles; a click on a link may open it in the page.
  router.get("/outbox/:file/html", signedIn, async (req, res) => {
    const entry = (await myMail(res)).find((m) => m.file === req.params.file);
    const parts = entry && outbox ? await outbox.parts(entry.file) : null;
    if (!parts) throw new NotFoundError("There is no such email in your outbox.");
    res
      .set(
        "Content-Security-Policy",
        "sandbox allow-top-navigation-by-user-activation; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
      )
      .set("Cache-Control", "private, no-store")
      .type("html")
      .send(parts.html);
  });

  // A page that cannot be shown is a page that says why, in the layout, with its status.
  const pageError: ErrorRequestHandler = (error, req, res, _next) => {
    const known = error instanceof HeraldError ? error : fromExpress(error);
    if (!known) logger.error({ err: error, path: req.path }, "page failed");
    else if (known.status === 403) logger.warn({ status: 403, reason: known.message, path: req.path }, "page refused");
    views.render(
      res,
      "error",
      {
        title: known?.title ?? "Something went wrong",
        message: known?.message ?? "Something went wrong on our side; it has been logged. Try again in a moment.",
      },
      known?.status ?? 500,
    );
  };
  router.use(pageError);
  return router;
}
