import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decide,
  decideDigest,
  foldNotification,
  notificationMessage,
  type DigestRequested,
  type DigestSchedule,
  type DigestState,
  latestDigestMoment,
  type NotificationEvent,
  type RequestDigest,
} from "@herald/core";

// The digest decision, Given (what the log says: when the digest was chosen, the last
// digest's end, the group's uploads) / When (a digest moment has come) / Then (the
// DigestRequested decided, or nothing). Pure: no process, no store.

const berlin8: DigestSchedule = { time: "08:00", timeZone: "Europe/Berlin" };
const at = (iso: string) => new Date(iso);
const upload = (uploadId: string, uploadedAt: string, notified: string[] = []) => ({
  uploadId,
  uploadedAt: at(uploadedAt),
  notified: new Set(notified),
});

function given(state: Partial<DigestState>) {
  const full: DigestState = { digestSince: at("2026-01-01T00:00:00Z"), lastWindowEnd: null, uploads: [], ...state };
  return {
    when: (windowEnd: string, schedule = berlin8) => {
      const command: RequestDigest = {
        type: "RequestDigest",
        notificationId: "n-1",
        groupId: "design",
        recipientId: "alice",
        recipient: "alice@example.test",
        schedule,
        windowEnd: at(windowEnd),
      };
      const decided = decideDigest(command, full);
      return {
        thenNothing: () => assert.deepEqual(decided, []),
        then: (expected: Partial<DigestRequested["data"]>) => {
          assert.equal(decided.length, 1, "one DigestRequested");
          const { data } = decided[0]!;
          for (const [key, value] of Object.entries(expected))
            assert.deepEqual(data[key as keyof typeof data], value, key);
          return data;
        },
      };
    },
  };
}

describe("the digest decision", () => {
  it("given uploads before, in and after the window, when the moment comes, then it lists those in (start, end], oldest first", () => {
    given({
      lastWindowEnd: at("2026-11-22T07:00:00Z"),
      uploads: [
        upload("before", "2026-11-22T06:59:59Z"),
        upload("at-start", "2026-11-22T07:00:00Z"),
        upload("later", "2026-11-23T06:00:00Z"),
        upload("first", "2026-11-22T07:00:00.001Z"),
        upload("at-end", "2026-11-23T07:00:00Z"),
        upload("after", "2026-11-23T07:00:00.001Z"),
      ],
    })
      .when("2026-11-23T07:00:00Z")
      .then({
        uploadIds: ["first", "later", "at-end"],
        windowStart: "2026-11-22T07:00:00.000Z",
        windowEnd: "2026-11-23T07:00:00.000Z",
        notificationId: "n-1",
        groupId: "design",
        recipientId: "alice",
        recipient: "alice@example.test",
        timeZone: "Europe/Berlin",
      });
  });

  it("names the digest by admin, group and window end: the stream a second request would find", () => {
    const data = given({ uploads: [upload("u", "2026-11-22T12:00:00Z")] })
      .when("2026-11-23T07:00:00Z")
      .then({});
    assert.equal(data.digestId, "alice:design:2026-11-23T07:00:00.000Z");
  });

  it("given the window's digest already requested, when the same moment is decided again, then nothing (none twice)", () => {
    given({ lastWindowEnd: at("2026-11-23T07:00:00Z"), uploads: [upload("u", "2026-11-22T12:00:00Z")] })
      .when("2026-11-23T07:00:00Z")
      .thenNothing();
  });

  it("given no upload in the window, when the moment comes, then nothing is requested", () => {
    given({ lastWindowEnd: at("2026-11-22T07:00:00Z"), uploads: [upload("old", "2026-11-21T12:00:00Z")] })
      .when("2026-11-23T07:00:00Z")
      .thenNothing();
  });

  it("given an empty window left unrecorded, when the next moment comes, then the window starts at the last digest and loses nothing", () => {
    given({
      lastWindowEnd: at("2026-11-21T07:00:00Z"),
      // Recorded late: stamped in the empty window, after its run had looked.
      uploads: [upload("late", "2026-11-22T06:59:59Z"), upload("today", "2026-11-22T12:00:00Z")],
    })
      .when("2026-11-23T07:00:00Z")
      .then({ uploadIds: ["late", "today"], windowStart: "2026-11-21T07:00:00.000Z" });
  });

  it("given an upload that emailed this admin directly, when the moment comes, then it is not listed again", () => {
    given({
      uploads: [upload("emailed", "2026-11-22T12:00:00Z", ["alice"]), upload("other", "2026-11-22T13:00:00Z", ["bob"])],
    })
      .when("2026-11-23T07:00:00Z")
      .then({ uploadIds: ["other"] });
  });

  it("given the digest chosen after some uploads, when the first moment comes, then only uploads since the choice are listed", () => {
    given({
      digestSince: at("2026-11-22T10:00:00Z"),
      uploads: [upload("while-immediate", "2026-11-22T09:00:00Z"), upload("since", "2026-11-22T11:00:00Z")],
    })
      .when("2026-11-23T07:00:00Z")
      .then({ uploadIds: ["since"], windowStart: "2026-11-22T10:00:00.000Z" });
  });

  it("given the digest chosen after the moment, when that moment is decided, then nothing (the first digest is the next one)", () => {
    given({ digestSince: at("2026-11-23T08:00:00Z"), uploads: [upload("u", "2026-11-23T09:00:00Z")] })
      .when("2026-11-23T07:00:00Z")
      .thenNothing();
  });
});

describe("digests over days when the admin changes their time or zone", () => {
  // Uploads every 7 minutes for three weeks across Europe's autumn DST change and New York's;
  // the admin's schedule changes four times, at awkward moments; a run every 10 minutes
  // decides with what the previous runs requested. Every upload after the choice is listed
  // exactly once, and consecutive windows meet end to start.
  const start = at("2026-10-20T00:00:00Z");
  const end = at("2026-11-10T00:00:00Z");
  const uploads = [] as ReturnType<typeof upload>[];
  for (let t = start.getTime() + 60_000; t < end.getTime(); t += 7 * 60_000)
    uploads.push(upload(`u${uploads.length}`, new Date(t).toISOString()));
  const schedules: Array<[string, DigestSchedule]> = [
    ["2026-10-20T00:00:00Z", { time: "08:00", timeZone: "Europe/Berlin" }],
    ["2026-10-24T09:00:00Z", { time: "20:00", timeZone: "Europe/Berlin" }], // later the same day
    ["2026-10-25T19:30:00Z", { time: "02:30", timeZone: "Europe/Berlin" }], // earlier: back past the fall-back
    ["2026-10-28T03:00:00Z", { time: "06:30", timeZone: "Asia/Kolkata" }], // another zone, hours ahead
    ["2026-10-31T12:00:00Z", { time: "01:30", timeZone: "America/New_York" }], // hours behind, over its fall-back
  ];
  const scheduleAt = (t: Date) => schedules.filter(([from]) => at(from) <= t).at(-1)![1];

  it("when the runs go on for three weeks, then no upload is listed twice and none is missed", () => {
    const digests: DigestRequested["data"][] = [];
    let lastWindowEnd: Date | null = null;
    for (let t = start.getTime(); t <= end.getTime(); t += 10 * 60_000) {
      const now = new Date(t);
      const schedule = scheduleAt(now);
      const windowEnd = latestDigestMoment(schedule, now);
      const decided = decideDigest(
        {
          type: "RequestDigest",
          notificationId: `n${digests.length}`,
          groupId: "design",
          recipientId: "alice",
          recipient: "alice@example.test",
          schedule,
          windowEnd,
        },
        { digestSince: start, lastWindowEnd, uploads: uploads.filter((u) => u.uploadedAt <= now) },
      );
      for (const { data } of decided) {
        digests.push(data);
        lastWindowEnd = new Date(data.windowEnd);
      }
    }
    const listed = digests.flatMap((d) => d.uploadIds);
    assert.equal(new Set(listed).size, listed.length, "no upload listed twice");
    const due = uploads.filter((u) => u.uploadedAt <= lastWindowEnd!).map((u) => u.uploadId);
    assert.deepEqual(listed, due, "every upload up to the last digest listed, in order");
    for (let i = 1; i < digests.length; i++)
      assert.equal(digests[i]!.windowStart, digests[i - 1]!.windowEnd, "each window starts where the last ended");
    assert.ok(digests.length >= 20, `${digests.length} digests`);
  });
});

describe("a digest as a notification", () => {
  const requested: DigestRequested = {
    type: "DigestRequested",
    data: {
      notificationId: "n-d",
      digestId: "alice:design:2026-11-23T07:00:00.000Z",
      groupId: "design",
      recipientId: "alice",
      recipient: "alice@example.test",
      timeZone: "Europe/Berlin",
      windowStart: "2026-11-22T07:00:00.000Z",
      windowEnd: "2026-11-23T07:00:00.000Z",
      uploadIds: ["u1"],
    },
  };
  const dated = (events: NotificationEvent[]) =>
    events.map((e, i) => ({ ...e, metadata: { occurredAt: new Date(Date.UTC(2026, 10, 23, 7, 0, i)).toISOString() } }));

  it("given its request, then it is a requested notification of the admin, naming its digest and no upload", () => {
    const state = foldNotification(dated([requested]))!;
    assert.equal(state.status, "requested");
    assert.equal(state.digestId, requested.data.digestId);
    assert.equal(state.uploadId, "");
    assert.equal(state.recipient, "alice@example.test");
    assert.deepEqual(notificationMessage(state, new Date(0)), {
      version: 1,
      notificationId: "n-d",
      uploadId: "",
      digestId: requested.data.digestId,
      enqueuedAt: "1970-01-01T00:00:00.000Z",
      traceparent: undefined,
    });
  });

  it("given it dead-lettered, when an admin redrives it, then NotificationRedriven names the digest, so the relay finds its request", () => {
    const state = foldNotification(
      dated([
        requested,
        { type: "NotificationQueued", data: { notificationId: "n-d" } },
        { type: "NotificationStarted", data: { notificationId: "n-d", attempt: 1 } },
        { type: "NotificationDeadLettered", data: { notificationId: "n-d", reason: "gave up" } },
      ]),
    )!;
    assert.deepEqual(decide({ type: "Redrive", by: "bob" }, state), [
      {
        type: "NotificationRedriven",
        data: { notificationId: "n-d", uploadId: "", by: "bob", digestId: requested.data.digestId },
      },
    ]);
  });
});
