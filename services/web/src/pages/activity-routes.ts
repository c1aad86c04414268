import { Router } from "express";
import type { NotificationCommands } from "@herald/core";
import { currentUser } from "../auth/index.ts";
import { groupActivity, notificationTimeline, type PageData, visibleGroup, visibleNotification } from "./page-views.ts";

// What the pages' script polls to keep a page current, under /api (bearer or session): the
// same rows the server rendered the page with (page-views.ts), so names, file names and errors
// in plain words need no second implementation in the browser. Any client may use them; the
// resource routes (/api/groups/:id/uploads, /api/notifications/:id) stay the plain records.

export function activityRoutes(data: PageData & { commands: NotificationCommands }) {
  const router = Router();

  router.get("/groups/:groupId/activity", (req, res) => {
    const user = currentUser(res);
    const group = visibleGroup(data, req.params.groupId, user);
    const highlight = typeof req.query.upload === "string" ? req.query.upload : null;
    res.set("Cache-Control", "private, no-store").json(groupActivity(data, group, user, highlight));
  });

  router.get("/notifications/:id/timeline", async (req, res) => {
    const notification = visibleNotification(data, req.params.id, currentUser(res));
    res.set("Cache-Control", "private, no-store").json(await notificationTimeline(data, notification));
  });

  return router;
}
