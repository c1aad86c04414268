import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decidePreferences,
  defaultPreferences,
  effectivePreference,
  foldPreferences,
  type NotificationPreferenceSet,
  type PreferenceChange,
  type Preferences,
} from "@herald/core";

// The preferences decider, Given (events) / When (a change) / Then (events recorded).

const given = (...changes: PreferenceChange[]): Preferences => foldPreferences(changes.map((data) => set(data)));
const set = (change: PreferenceChange, setBy: "user" | "unsubscribe-link" = "user"): NotificationPreferenceSet => ({
  type: "NotificationPreferenceSet",
  data: { userId: "alice", ...change, setBy },
});
const when = (state: Preferences, changes: PreferenceChange[], setBy: "user" | "unsubscribe-link" = "user") =>
  decidePreferences({ type: "SetPreferences", userId: "alice", changes, setBy }, state);

describe("notification preferences", () => {
  it("are immediate for every group until the user chooses", () => {
    assert.equal(effectivePreference(defaultPreferences, "design"), "immediate");
  });

  it("take a group's own choice over the default, and the default for the others", () => {
    const state = given({ groupId: null, preference: "off" }, { groupId: "design", preference: "immediate" });
    assert.equal(effectivePreference(state, "design"), "immediate");
    assert.equal(effectivePreference(state, "research"), "off");
    const back = given(
      { groupId: null, preference: "off" },
      { groupId: "design", preference: "immediate" },
      { groupId: "design", preference: "default" },
    );
    assert.equal(effectivePreference(back, "design"), "off", '"default" drops the group\'s own choice');
  });

  it("records one event per change, with who made it", () => {
    assert.deepEqual(when(defaultPreferences, [{ groupId: "design", preference: "off" }], "unsubscribe-link"), [
      set({ groupId: "design", preference: "off" }, "unsubscribe-link"),
    ]);
    assert.deepEqual(
      when(defaultPreferences, [
        { groupId: null, preference: "off" },
        { groupId: "design", preference: "immediate" },
      ]),
      [set({ groupId: null, preference: "off" }), set({ groupId: "design", preference: "immediate" })],
    );
  });

  it("records nothing for a change that changes nothing", () => {
    const state = given({ groupId: "design", preference: "off" });
    assert.deepEqual(when(state, [{ groupId: "design", preference: "off" }]), []);
    assert.deepEqual(when(state, [{ groupId: null, preference: "immediate" }]), []);
    assert.deepEqual(when(state, [{ groupId: "research", preference: "default" }]), []);
    assert.deepEqual(when(state, [{ groupId: null, preference: "default" }]), [], "the default has no default");
  });

  it("records a group's own 'off' even when the default is already off: a later default keeps it off", () => {
    const state = given({ groupId: null, preference: "off" });
    assert.deepEqual(when(state, [{ groupId: "design", preference: "off" }], "unsubscribe-link"), [
      set({ groupId: "design", preference: "off" }, "unsubscribe-link"),
    ]);
  });

  it("take a digest like any other choice: per group or as the default, and 'immediate' again drops it", () => {
    const digest = { digest: { time: "08:00", timeZone: "Europe/Berlin" } };
    const state = given({ groupId: null, preference: digest }, { groupId: "design", preference: "immediate" });
    assert.deepEqual(effectivePreference(state, "research"), digest);
    assert.equal(effectivePreference(state, "design"), "immediate");
    assert.equal(
      effectivePreference(given({ groupId: null, preference: digest }, { groupId: null, preference: "off" }), "x"),
      "off",
    );
  });

  it("record a digest at another time or in another zone, and nothing for the same one again", () => {
    const berlin = { digest: { time: "08:00", timeZone: "Europe/Berlin" } };
    const state = given({ groupId: "design", preference: berlin });
    assert.deepEqual(
      when(state, [{ groupId: "design", preference: { digest: { time: "08:00", timeZone: "Europe/Berlin" } } }]),
      [],
    );
    const later = { digest: { time: "20:00", timeZone: "Europe/Berlin" } };
    const kolkata = { digest: { time: "08:00", timeZone: "Asia/Kolkata" } };
    assert.deepEqual(when(state, [{ groupId: "design", preference: later }]), [
      set({ groupId: "design", preference: later }),
    ]);
    assert.deepEqual(when(state, [{ groupId: "design", preference: kolkata }]), [
      set({ groupId: "design", preference: kolkata }),
    ]);
  });

  it("read events recorded before digests existed as they were", () => {
    const old = [set({ groupId: null, preference: "off" }), set({ groupId: "design", preference: "immediate" })];
    const state = foldPreferences(JSON.parse(JSON.stringify(old)));
    assert.equal(effectivePreference(state, "design"), "immediate");
    assert.equal(effectivePreference(state, "research"), "off");
  });
});
