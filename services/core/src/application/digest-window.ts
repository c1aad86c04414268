import { DateTime, IANAZone } from "luxon";
import type { DigestSchedule } from "../domain/events.ts";

// When an admin's daily digests fall: on every local day of their time zone, the first instant
// at which the zone's clock reads the chosen HH:MM. So a day of 23 or 25 hours still has
// exactly one, and:
// - a time the clock skips (spring forward) falls on the first instant after it, where the
//   clock jumps past it (02:30 in Europe/Berlin on the last Sunday of March: 03:00 CEST);
// - a time the clock shows twice (fall back) is taken once, the first time (01:30 EDT on the
//   first Sunday of November in America/New_York, not 01:30 EST an hour later).
// A digest covers a window (start, end]: end is a digest moment, start the end of the admin's
// previous digest of the group (see domain/digest.ts). Pure, but not part of the domain: time
// zone rules come from luxon (which reads them from the platform's Intl), and the domain imports
// nothing from outside itself.

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;

/** HH:MM on a 24-hour clock, 00:00 to 23:59. */
export const digestTimePattern = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Whether the name is an IANA time zone this platform knows (e.g. Europe/Berlin, UTC). */
export const isValidTimeZone = (name: string): boolean => IANAZone.isValidZone(name);

type LocalDate = { year: number; month: number; day: number };

/** The digest moment of one local date: the first instant at which the zone's clock reads HH:MM. */
export function digestMomentOn(schedule: DigestSchedule, date: LocalDate): Date {
  const zone = IANAZone.create(schedule.timeZone);
  const [hour, minute] = schedule.time.split(":").map(Number) as [number, number];
  // The clock reading, written as if it were UTC; the instants showing it are wall - offset.
  const wall = Date.UTC(date.year, date.month - 1, date.day, hour, minute);
  const offsetMs = (t: number) => zone.offset(t) * minuteMs;
  const clockAt = (t: number) => t + offsetMs(t);
  // Offsets run from -12 h to +14 h, so any instant showing `wall` is within 14 h of it; no
  // zone changes its offset twice within those 28 hours.
  const offsets = [...new Set([wall - 14 * hourMs, wall, wall + 14 * hourMs].map(offsetMs))];
  const showing = offsets
    .map((offset) => wall - offset)
    .filter((t) => clockAt(t) === wall)
    .sort((a, b) => a - b);
  if (showing.length > 0) return new Date(showing[0]!); // shown twice: the first
  // Skipped: the clock jumps from before `wall` to after it at one instant, between the
  // instant that would show it at the later offset and the one at the earlier offset.
  let before = wall - Math.max(...offsets);
  let after = wall - Math.min(...offsets);
  while (after - before > 1) {
    const mid = Math.floor((before + after) / 2);
    if (clockAt(mid) >= wall) after = mid;
    else before = mid;
  }
  return new Date(after);
}

/** The local date of an instant in the zone. */
function localDate(at: Date, timeZone: string): LocalDate {
  const { year, month, day } = DateTime.fromJSDate(at, { zone: timeZone });
  return { year, month, day };
}

/** Calendar arithmetic on a date, away from any zone's transitions. */
function addDays(date: LocalDate, days: number): LocalDate {
  const { year, month, day } = DateTime.fromObject(date, { zone: "UTC" }).plus({ days });
  return { year, month, day };
}

/** The latest digest moment at or before `at`. */
export function latestDigestMoment(schedule: DigestSchedule, at: Date): Date {
  const today = localDate(at, schedule.timeZone);
  const moment = digestMomentOn(schedule, today);
  return moment <= at ? moment : digestMomentOn(schedule, addDays(today, -1));
}

/** The first digest moment after `after`. */
export function nextDigestMoment(schedule: DigestSchedule, after: Date): Date {
  const today = localDate(after, schedule.timeZone);
  const moment = digestMomentOn(schedule, today);
  return moment > after ? moment : digestMomentOn(schedule, addDays(today, 1));
}

/** The digest moment before this one: with an unchanged schedule, where this digest's window starts. */
export const previousDigestMoment = (schedule: DigestSchedule, moment: Date): Date =>
  latestDigestMoment(schedule, new Date(moment.getTime() - 1));

/** An instant as the zone's clock shows it, with the zone's abbreviation: "2026-03-29 03:00 GMT+2". */
export const localTime = (at: Date, timeZone: string): string =>
  DateTime.fromJSDate(at, { zone: timeZone }).toFormat("yyyy-MM-dd HH:mm ZZZZ");
