import express, { Router } from "express";
import {
  BadRequestError,
  digestTimePattern,
  type Directory,
  effectivePreference,
  type EventLog,
  isValidTimeZone,
  type Logger,
  type Metrics,
  type PreferenceChange,
  type ReadModels,
  type SetPreferences,
  setPreferences,
} from "@herald/core";
import { z } from "zod";
import { currentUser, requireGroupRole } from "./auth/index.ts";

// A user's notification preferences: how they hear about each group's uploads they are an
// admin of ("immediate", an email per upload, the default; a daily digest at HH:MM in their
// time zone, {"digest":{"time":"08:00","timeZone":"Europe/Berlin"}}; or "off"), per group and
// as their default. Read from the read models (a fold of preferences-{userId}); changed by
// recording NotificationPreferenceSet events (domain/preferences.ts decides which). Uploads
// read them when they choose whom to notify (upload-routes.ts); the digest runner
// (application/digests.ts) when it lists uploads for the others.

const digestChoice = z.strictObject({
  digest: z.strictObject({
    time: z.string().regex(digestTimePattern, 'must be HH:MM on a 24-hour clock, e.g. "08:00"'),
    timeZone: z
      .string()
      .refine(isValidTimeZone, 'must be an IANA time zone name this server knows, e.g. "Europe/Berlin" or "UTC"'),
  }),
});
const digestForm = '{"digest":{"time":"HH:MM","timeZone":"<IANA name>"}}';
/**
 * One of the named choices, or a digest. An object is read as a digest, so a mistake in one
 * is answered with the field it is in (default.digest.timeZone), not "none of these".
 */
const choice = <const V extends readonly [string, ...string[]]>(values: V) => {
  const named = z.enum(values, { error: `must be ${values.map((v) => `"${v}"`).join(", ")} or ${digestForm}` });
  return z.unknown().transform((input, ctx): z.output<typeof named> | z.output<typeof digestChoice> => {
    const parsed = (typeof input === "object" && input !== null ? digestChoice : named).safeParse(input);
    if (parsed.success) return parsed.data;
    for (const { path, message } of parsed.error.issues) ctx.addIssue({ code: "custom", path, message });
    return z.NEVER;
  });
};

const bodySchema = z
  .strictObject({
    /** For every group without a choice of its own. */
    default: choice(["immediate", "off"]).optional(),
    /** Per group; "default" drops the group's own choice (it follows the default again). */
    groups: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "group ids are 1-64 of A-Z a-z 0-9 _ -"),
        choice(["immediate", "off", "default"]),
      )
      .optional(),
  })
  .refine((b) => b.default !== undefined || Object.keys(b.groups ?? {}).length > 0, {
    message: 'name at least one change: "default" or "groups"',
  });

export function preferenceRoutes({
  log,
  directory,
  readModels,
  metrics,
  logger,
}: {
  log: EventLog;
  directory: Directory;
  readModels: ReadModels;
  metrics: Metrics;
  logger: Logger;
}) {
  const router = Router();

  /** The default, the effective preference for each group the user is an admin of, and the history. */
  const view = (userId: string) => {
    const { state, history } = readModels.preferencesOf(userId);
    return {
      default: state.default,
      groups: directory
        .groups()
        .filter((group) => group.admins.includes(userId))
        .map((group) => ({
          groupId: group.id,
          groupName: group.name,
          /** What applies now. */
          preference: effectivePreference(state, group.id),
          /** The group's own choice, or "default" when it follows the default. */
          setting: state.groups.get(group.id) ?? "default",
        })),
      history: history.map(({ groupId, preference, setBy, at }) => ({ groupId, preference, setBy, at })),
    };
  };

  router.get("/me/preferences", (_req, res) => {
    res.json(view(currentUser(res).id));
  });

  // Changes what the body names and leaves the rest as it is. Group choices are for groups
  // the user is an admin of (only admins are notified).
  router.put("/me/preferences", express.json({ limit: "16kb" }), async (req, res) => {
    const user = currentUser(res);
    const parsed = bodySchema.safeParse(req.body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
      throw new BadRequestError(
        `The body must be JSON like {"default":"immediate","groups":{"<groupId>":"off"}}: ${problems.join("; ")}`,
      );
    }
    const changes: PreferenceChange[] = [];
    if (parsed.data.default) changes.push({ groupId: null, preference: parsed.data.default });
    for (const [groupId, preference] of Object.entries(parsed.data.groups ?? {})) {
      requireGroupRole(directory, groupId, user, "admin");
      changes.push({ groupId, preference });
    }
    await recordPreferences(
      { log, readModels, metrics, logger },
      { type: "SetPreferences", userId: user.id, changes, setBy: "user" },
      res.locals.traceparent as string,
    );
    res.json(view(user.id));
  });

  return router;
}

/**
 * Records preference changes (from the API or an unsubscribe link) and answers once this
 * instance's read models have them, so the next upload here already leaves out whoever
 * turned a group off. Returns how many changes were recorded (0: it was already so).
 */
export async function recordPreferences(
  { log, readModels, metrics, logger }: { log: EventLog; readModels: ReadModels; metrics: Metrics; logger: Logger },
  command: SetPreferences,
  traceparent: string,
): Promise<number> {
  const { appended, position } = await setPreferences(log, command, traceparent);
  if (position === null) return 0;
  await readModels
    .applied(position)
    .catch((error) => logger.warn({ err: error }, "preferences recorded, not yet applied"));
  metrics.preferenceChanges.inc({ source: command.setBy === "user" ? "api" : "unsubscribe" }, appended.length);
  logger.info({ setBy: command.setBy, changes: appended.map((e) => e.data) }, "notification preferences changed");
  return appended.length;
}
