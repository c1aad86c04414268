import type { DigestSchedule, NotificationPreference, NotificationPreferenceSet } from "./events.ts";

// A user's notification preferences as a decider: the state is a fold of their
// NotificationPreferenceSet events (stream preferences-{userId}); a change that would not
// change anything records nothing. Who is asked at an upload is decided from this state
// (effectivePreference) where the upload's recipients are chosen, in the web: only admins on
// "immediate" get a request; the digest runner (application/digests.ts) lists the uploads for
// those on a digest.

export type Preferences = {
  /** For every group without a choice of its own. */
  default: NotificationPreference;
  /** The groups with a choice of their own. */
  groups: ReadonlyMap<string, NotificationPreference>;
};

export const defaultPreferences: Preferences = { default: "immediate", groups: new Map() };

/** One change: groupId null is the user's default; "default" drops a group's own choice. */
export type PreferenceChange = { groupId: string | null; preference: NotificationPreference | "default" };

export type SetPreferences = {
  type: "SetPreferences";
  userId: string;
  changes: PreferenceChange[];
  setBy: NotificationPreferenceSet["data"]["setBy"];
};

export function evolvePreferences(state: Preferences, event: NotificationPreferenceSet): Preferences {
  const { groupId, preference } = event.data;
  if (groupId === null) return preference === "default" ? state : { ...state, default: preference };
  const groups = new Map(state.groups);
  if (preference === "default") groups.delete(groupId);
  else groups.set(groupId, preference);
  return { ...state, groups };
}

export const foldPreferences = (events: NotificationPreferenceSet[]): Preferences =>
  events.reduce(evolvePreferences, defaultPreferences);

/** How the user hears about this group's uploads now. */
export const effectivePreference = (state: Preferences, groupId: string): NotificationPreference =>
  state.groups.get(groupId) ?? state.default;

/** The schedule of a digest preference; null for "immediate" and "off". */
export const digestScheduleOf = (preference: NotificationPreference | "default"): DigestSchedule | null =>
  typeof preference === "object" ? preference.digest : null;

/** Whether two choices are the same (a digest at the same time in the same zone). */
const samePreference = (a: NotificationPreference | "default", b: NotificationPreference | "default") => {
  const [x, y] = [digestScheduleOf(a), digestScheduleOf(b)];
  return x && y ? x.time === y.time && x.timeZone === y.timeZone : a === b;
};

/** One event per change that changes something, in the order given; [] when none does. */
export function decidePreferences(command: SetPreferences, state: Preferences): NotificationPreferenceSet[] {
  const events: NotificationPreferenceSet[] = [];
  let current = state;
  for (const { groupId, preference } of command.changes) {
    if (groupId === null && preference === "default") continue; // the default has no default to follow
    const now = groupId === null ? current.default : (current.groups.get(groupId) ?? "default");
    if (samePreference(now, preference)) continue;
    const event: NotificationPreferenceSet = {
      type: "NotificationPreferenceSet",
      data: { userId: command.userId, groupId, preference, setBy: command.setBy },
    };
    events.push(event);
    current = evolvePreferences(current, event);
  }
  return events;
}
