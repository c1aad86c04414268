import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DateTime } from "luxon";
import {
  type DigestSchedule,
  digestMomentOn,
  latestDigestMoment,
  nextDigestMoment,
  previousDigestMoment,
} from "@herald/core";

// When daily digests fall, across DST changes: one digest moment per local day, the first
// instant the zone's clock reads HH:MM (a skipped time: the instant the clock jumps past it; a
// repeated time: its first occurrence). Expected instants are written in UTC, worked out by
// hand from each zone's rules.

const at = (iso: string) => new Date(iso);
const on = (timeZone: string, time: string, date: string) => {
  const [year, month, day] = date.split("-").map(Number) as [number, number, number];
  return digestMomentOn({ time, timeZone }, { year, month, day }).toISOString();
};
const hours = (a: Date, b: Date) => (b.getTime() - a.getTime()) / 3_600_000;

/** Every digest moment from `from` for `days` days, by nextDigestMoment. */
function moments(schedule: DigestSchedule, from: string, days: number): Date[] {
  const found: Date[] = [];
  let after = at(from);
  for (let i = 0; i < days; i++) {
    after = nextDigestMoment(schedule, after);
    found.push(after);
  }
  return found;
}

/** One moment per local date, in order, each where latestDigestMoment finds it. */
function assertOnePerLocalDay(schedule: DigestSchedule, found: Date[]) {
  const dates = found.map((m) => DateTime.fromJSDate(m, { zone: schedule.timeZone }).toISODate());
  assert.equal(new Set(dates).size, found.length, `one digest per local day: ${dates.join(", ")}`);
  for (let i = 1; i < found.length; i++) {
    assert.equal(
      DateTime.fromISO(dates[i]!).diff(DateTime.fromISO(dates[i - 1]!), "days").days,
      1,
      `no local day skipped: ${dates[i - 1]} then ${dates[i]}`,
    );
    assert.deepEqual(
      previousDigestMoment(schedule, found[i]!),
      found[i - 1],
      "the window starts at the previous moment",
    );
  }
  for (const moment of found) {
    assert.deepEqual(latestDigestMoment(schedule, moment), moment, "a moment is its own latest");
    assert.deepEqual(nextDigestMoment(schedule, new Date(moment.getTime() - 1)), moment);
  }
}

describe("digest moments in Europe/Berlin", () => {
  it("when the clock springs forward (29 March 2026, 02:00 CET to 03:00 CEST), then 02:30 falls at 03:00 CEST", () => {
    assert.equal(on("Europe/Berlin", "02:30", "2026-03-29"), "2026-03-29T01:00:00.000Z");
    assert.equal(on("Europe/Berlin", "02:00", "2026-03-29"), "2026-03-29T01:00:00.000Z");
    assert.equal(on("Europe/Berlin", "03:00", "2026-03-29"), "2026-03-29T01:00:00.000Z", "03:00 CEST itself");
    assert.equal(on("Europe/Berlin", "01:59", "2026-03-29"), "2026-03-29T00:59:00.000Z");
  });

  it("when the clock falls back (25 October 2026, 03:00 CEST to 02:00 CET), then 02:30 is taken once, the first (CEST)", () => {
    assert.equal(on("Europe/Berlin", "02:30", "2026-10-25"), "2026-10-25T00:30:00.000Z");
    const [day, next] = moments({ time: "02:30", timeZone: "Europe/Berlin" }, "2026-10-24T12:00:00Z", 2);
    assert.equal(day!.toISOString(), "2026-10-25T00:30:00.000Z");
    assert.equal(next!.toISOString(), "2026-10-26T01:30:00.000Z", "the next day, 02:30 CET");
    assert.equal(hours(day!, next!), 25);
  });

  it("when a day has 23 or 25 hours, then it still gets exactly one digest, and the windows are 23 and 25 hours long", () => {
    const schedule = { time: "08:00", timeZone: "Europe/Berlin" };
    const spring = moments(schedule, "2026-03-25T00:00:00Z", 8);
    assertOnePerLocalDay(schedule, spring);
    assert.deepEqual(
      spring.slice(1).map((m, i) => hours(spring[i]!, m)),
      [24, 24, 24, 23, 24, 24, 24],
    );
    const autumn = moments(schedule, "2026-10-21T00:00:00Z", 8);
    assertOnePerLocalDay(schedule, autumn);
    assert.deepEqual(
      autumn.slice(1).map((m, i) => hours(autumn[i]!, m)),
      [24, 24, 24, 25, 24, 24, 24],
    );
    for (const time of ["00:00", "01:30", "02:00", "02:30", "02:59", "03:00", "23:59"]) {
      assertOnePerLocalDay({ ...schedule, time }, moments({ ...schedule, time }, "2026-03-26T00:00:00Z", 6));
      assertOnePerLocalDay({ ...schedule, time }, moments({ ...schedule, time }, "2026-10-22T00:00:00Z", 6));
    }
  });

  it("when asked at a moment between two digests, then the latest is the one before and the next the one after", () => {
    const schedule = { time: "08:00", timeZone: "Europe/Berlin" };
    // 29 March: 08:00 CEST is 06:00Z; the day before, 08:00 CET is 07:00Z.
    assert.equal(
      latestDigestMoment(schedule, at("2026-03-29T05:59:59.999Z")).toISOString(),
      "2026-03-28T07:00:00.000Z",
    );
    assert.equal(latestDigestMoment(schedule, at("2026-03-29T06:00:00Z")).toISOString(), "2026-03-29T06:00:00.000Z");
    assert.equal(nextDigestMoment(schedule, at("2026-03-29T06:00:00Z")).toISOString(), "2026-03-30T06:00:00.000Z");
  });
});

describe("digest moments in America/New_York", () => {
  it("when the clock springs forward (8 March 2026, 02:00 EST to 03:00 EDT), then 02:30 falls at 03:00 EDT", () => {
    assert.equal(on("America/New_York", "02:30", "2026-03-08"), "2026-03-08T07:00:00.000Z");
    assert.equal(on("America/New_York", "02:30", "2026-03-09"), "2026-03-09T06:30:00.000Z");
  });

  it("when the clock falls back (1 November 2026, 02:00 EDT to 01:00 EST), then 01:30 is the first, 01:30 EDT", () => {
    assert.equal(on("America/New_York", "01:30", "2026-11-01"), "2026-11-01T05:30:00.000Z");
    const schedule = { time: "01:30", timeZone: "America/New_York" };
    const found = moments(schedule, "2026-10-29T00:00:00Z", 6);
    assertOnePerLocalDay(schedule, found);
    assert.equal(found.filter((m) => m.toISOString().startsWith("2026-11-01")).length, 1, "not again at 01:30 EST");
  });

  it("when digests run every day across both changes of a year, then there is one per local day", () => {
    for (const time of ["00:00", "01:30", "02:30", "09:15", "23:59"]) {
      const schedule = { time, timeZone: "America/New_York" };
      const found = moments(schedule, "2026-01-01T12:00:00Z", 365);
      assertOnePerLocalDay(schedule, found);
    }
  });
});

describe("digest moments in Australia/Lord_Howe (a 30-minute shift)", () => {
  it("when the clock springs forward (4 October 2026, 02:00 to 02:30), then 02:15 falls at 02:30 (+11:00)", () => {
    assert.equal(on("Australia/Lord_Howe", "02:15", "2026-10-04"), "2026-10-03T15:30:00.000Z");
    assert.equal(on("Australia/Lord_Howe", "02:30", "2026-10-04"), "2026-10-03T15:30:00.000Z");
    assert.equal(on("Australia/Lord_Howe", "01:59", "2026-10-04"), "2026-10-03T15:29:00.000Z", "+10:30 still");
  });

  it("when the clock falls back (5 April 2026, 02:00 to 01:30), then 01:45 is the first (+11:00)", () => {
    assert.equal(on("Australia/Lord_Howe", "01:45", "2026-04-05"), "2026-04-04T14:45:00.000Z");
  });

  it("when the day has 23.5 or 24.5 hours, then it still gets one digest", () => {
    const schedule = { time: "08:00", timeZone: "Australia/Lord_Howe" };
    const april = moments(schedule, "2026-04-02T00:00:00Z", 5);
    assertOnePerLocalDay(schedule, april);
    assert.ok(april.slice(1).some((m, i) => hours(april[i]!, m) === 24.5));
    const october = moments(schedule, "2026-10-01T00:00:00Z", 5);
    assertOnePerLocalDay(schedule, october);
    assert.ok(october.slice(1).some((m, i) => hours(october[i]!, m) === 23.5));
    for (const time of ["01:30", "01:45", "02:00", "02:15", "02:29"])
      assertOnePerLocalDay({ ...schedule, time }, moments({ ...schedule, time }, "2026-01-01T00:00:00Z", 365));
  });
});

describe("digest moments in Asia/Kolkata (no DST, +05:30)", () => {
  it("when the year goes round, then every digest is 24 hours after the last, at HH:MM IST", () => {
    const schedule = { time: "08:00", timeZone: "Asia/Kolkata" };
    const found = moments(schedule, "2026-01-01T00:00:00Z", 365);
    assertOnePerLocalDay(schedule, found);
    assert.ok(found.slice(1).every((m, i) => hours(found[i]!, m) === 24));
    assert.ok(found.every((m) => m.toISOString().endsWith("T02:30:00.000Z")));
  });
});
