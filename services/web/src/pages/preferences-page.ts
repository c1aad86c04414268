import {
  BadRequestError,
  digestTimePattern,
  effectivePreference,
  type EventLog,
  ForbiddenError,
  isValidTimeZone,
  type Logger,
  type Metrics,
  type NotificationPreference,
  NotFoundError,
  type User,
} from "@herald/core";
import { z } from "zod";
import { recordPreferences } from "../preference-routes.ts";
import { groupsOf, type PageData } from "./page-views.ts";

// The Notifications page (/preferences): how the signed-in user hears about the uploads of each
// group they are an admin of, and their default for the others. One form per choice (the
// default, each group), each a plain POST with the session's `_csrf`, so a save changes only
// what its form shows, and a page left open does not undo a change made elsewhere (an
// unsubscribe link) in the other sections. A save records through recordPreferences, the code
// PUT /api/me/preferences uses, then redirects back (303); a bad time or zone records nothing
// and shows the page again (400) with the problem next to its field.

export type PreferencesPageDeps = PageData & { log: EventLog; metrics: Metrics; logger: Logger };

type Choice = "immediate" | "digest" | "off" | "default";
type FieldErrors = { choice?: string; time?: string; timeZone?: string };

/** A form that could not be saved: its scope, what was sent, and what is wrong with it. */
export type RefusedForm = {
  scope: string;
  sent: { choice: string; time: string; timeZone: string };
  errors: FieldErrors;
};

export type SaveOutcome = { saved: true; scope: string; changed: boolean } | ({ saved: false } & RefusedForm);

/** Every zone the server knows by its IANA name (UTC first: Intl does not list it), for the select. */
const knownZones = ["UTC", ...Intl.supportedValuesOf("timeZone")];

/** Up to how many changes the page lists, newest first. */
const historyShown = 20;

/** A choice in words, as it reads after "In effect:" ("A daily digest at 08:00 in Europe/Berlin"). */
function choiceInWords(preference: NotificationPreference | "default"): string {
  if (preference === "immediate") return "An email per upload";
  if (preference === "off") return "No email";
  if (preference === "default") return "Same as your default";
  return `A daily digest at ${preference.digest.time} in ${preference.digest.timeZone}`;
}

const lowerFirst = (words: string) => words.charAt(0).toLowerCase() + words.slice(1);

/** A form's scope: "default", or "group:<id>" for a group's own choice. */
const groupIdOf = (scope: string) => (scope === "default" ? null : scope.slice("group:".length));

/** The id of a form's section in the page (where a save lands, with its notice). */
export const sectionId = (scope: string) => (scope === "default" ? "pref-default" : `pref-group-${groupIdOf(scope)}`);

/** The page's context: a section per form, the groups the user gets no mail for, the history. */
export function preferencesPage(
  deps: PreferencesPageDeps,
  user: User,
  {
    saved = null,
    unchanged = false,
    refused = null,
  }: { saved?: unknown; unchanged?: boolean; refused?: RefusedForm | null },
) {
  const { state, history } = deps.readModels.preferencesOf(user.id);
  const groups = groupsOf(deps, user);
  const groupName = (id: string) => deps.directory.group(id)?.name ?? id;
  const defaultWords = choiceInWords(state.default);
  const labelOf = (scope: string) => {
    const groupId = groupIdOf(scope);
    return groupId === null ? "your default" : groupName(groupId);
  };

  const section = (scope: string, label: string, own: NotificationPreference | "default", inEffect: string) => {
    const failed = refused?.scope === scope ? refused : null;
    const schedule = typeof own === "object" ? own.digest : null;
    // The zone shown: the one just sent if it is real, else the saved one, else UTC, which the
    // page's script replaces with the browser's own zone (data-guess-zone).
    const sentZone = failed && isValidTimeZone(failed.sent.timeZone) ? failed.sent.timeZone : null;
    const zone = sentZone ?? schedule?.timeZone ?? "UTC";
    return {
      id: sectionId(scope),
      scope,
      label,
      isGroup: scope !== "default",
      inEffect,
      choice: failed ? failed.sent.choice : typeof own === "object" ? "digest" : own,
      // Not `time`: that name is the views' helper for instants.
      digestTime: failed ? failed.sent.time : (schedule?.time ?? "08:00"),
      zones: (knownZones.includes(zone) ? knownZones : [zone, ...knownZones]).map((name) => ({
        name,
        selected: name === zone,
      })),
      guessZone: !sentZone && !schedule,
      errors: failed?.errors ?? {},
      notice: saved === scope ? (unchanged ? "Nothing to change: that was already your choice." : "Saved.") : null,
    };
  };

  const adminOf = groups.filter((g) => g.role === "admin");
  return {
    title: "Notifications",
    /** Whose form was refused, for the summary at the top of the page. */
    refusedLabel: refused ? labelOf(refused.scope) : null,
    defaultSection: section("default", "Your default", state.default, defaultWords),
    groups: adminOf.map((g) => {
      const own = state.groups.get(g.id) ?? "default";
      const words = choiceInWords(effectivePreference(state, g.id));
      return {
        ...section(`group:${g.id}`, g.name, own, own === "default" ? `${words} (your default)` : words),
        defaultWords: lowerFirst(defaultWords),
      };
    }),
    memberOnly: groups.filter((g) => g.role === "member"),
    history: history
      .slice(-historyShown)
      .reverse()
      .map((change) => ({
        at: change.at,
        what: `${change.groupId === null ? "Your default" : groupName(change.groupId)}: ${lowerFirst(choiceInWords(change.preference))}`,
        by: change.setBy === "user" ? "you" : "an unsubscribe link",
      })),
  };
}

const formSchema = z.object({
  scope: z.string().regex(/^(default|group:[A-Za-z0-9_-]{1,64})$/),
  choice: z.string().optional().default(""),
  time: z.string().optional().default(""),
  timeZone: z.string().optional().default(""),
});

/** Records what one form chose, or says what is wrong with it and records nothing. */
export async function savePreferenceForm(
  deps: PreferencesPageDeps,
  user: User,
  body: unknown,
  traceparent: string,
): Promise<SaveOutcome> {
  const parsed = formSchema.safeParse(body ?? {});
  if (!parsed.success) throw new BadRequestError("This form is not one of the Notifications page's: reload the page.");
  const { scope, choice, time, timeZone } = parsed.data;
  const groupId = groupIdOf(scope);
  if (groupId !== null) requireAdmin(deps, groupId, user);

  const choices: Choice[] =
    groupId === null ? ["immediate", "digest", "off"] : ["immediate", "digest", "off", "default"];
  const errors: FieldErrors = {};
  const digestTime = normaliseTime(time);
  if (!choices.includes(choice as Choice)) errors.choice = "Choose how you want to hear about uploads.";
  else if (choice === "digest") {
    if (time.trim() === "") errors.time = "Give the time of day for the digest, e.g. 08:00.";
    else if (!digestTime)
      errors.time = `“${shorten(time)}” is not a time of day: give it as HH:MM on a 24-hour clock, e.g. 08:00 or 17:30.`;
    if (timeZone === "") errors.timeZone = "Choose the time zone of the digest.";
    else if (!isValidTimeZone(timeZone))
      errors.timeZone = `“${shorten(timeZone)}” is not a time zone this server knows: choose one from the list, e.g. Europe/Berlin or UTC.`;
  }
  if (Object.keys(errors).length > 0) return { saved: false, scope, sent: { choice, time, timeZone }, errors };

  const preference: NotificationPreference | "default" =
    choice === "digest" ? { digest: { time: digestTime!, timeZone } } : (choice as Exclude<Choice, "digest">);
  const recorded = await recordPreferences(
    deps,
    { type: "SetPreferences", userId: user.id, changes: [{ groupId, preference }], setBy: "user" },
    traceparent,
  );
  return { saved: true, scope, changed: recorded > 0 };
}

/** Only a group's admins are emailed, so only they have a choice to make for it. */
function requireAdmin({ directory }: PageData, groupId: string, user: User) {
  const group = directory.group(groupId);
  if (!group) throw new NotFoundError(`There is no group ${groupId}.`);
  if (!group.admins.includes(user.id))
    throw new ForbiddenError(`You are not an admin of ${group.name}: only its admins are emailed about its uploads.`);
}

/**
 * HH:MM as the digest stores it, from what a time field sends ("07:30", or "07:30:00" where
 * the browser adds seconds) or a person types into a plain text field ("7:30"); else null.
 */
function normaliseTime(value: string): string | null {
  const match = /^\s*(\d{1,2}):(\d{2})(?::00(?:\.0+)?)?\s*$/.exec(value);
  const time = match ? `${match[1]!.padStart(2, "0")}:${match[2]}` : null;
  return time && digestTimePattern.test(time) ? time : null;
}

const shorten = (value: string) => (value.length > 60 ? `${value.slice(0, 60)}…` : value);
