import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConflictError,
  decide,
  decideUpload,
  foldNotification,
  type HeraldEvent,
  NotificationAlreadyFinal,
  type NotificationCommand,
  type NotificationEvent,
} from "@herald/core";

// The notification's decider, command by command, in Given (events so far) / When (command) /
// Then (events decided, or the error) form. Pure functions: no process, no store.

const notificationId = "n-1";
const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, i)).toISOString();

const requested: NotificationEvent = {
  type: "NotificationRequested",
  data: { notificationId, uploadId: "u-1", groupId: "g", recipientId: "alice", recipient: "alice@example.test" },
};
const queued: NotificationEvent = { type: "NotificationQueued", data: { notificationId } };
const started = (attempt: number): NotificationEvent => ({
  type: "NotificationStarted",
  data: { notificationId, attempt },
});
const retry = (attempt: number): NotificationEvent => ({
  type: "NotificationRetryScheduled",
  data: { notificationId, attempt, error: "421 busy" },
});
const sent = (attempt: number): NotificationEvent => ({
  type: "NotificationSent",
  data: { notificationId, attempt, messageId: "<n-1@herald>" },
});
const failed = (attempt: number): NotificationEvent => ({
  type: "NotificationFailed",
  data: { notificationId, attempt, error: "550 no such user" },
});
const deadLettered: NotificationEvent = {
  type: "NotificationDeadLettered",
  data: { notificationId, reason: "gave up after 5 deliveries" },
};

/** Given these events, when this command is decided: the events it produces, or what it throws. */
function given(events: NotificationEvent[]) {
  const state = foldNotification(events.map((e, i) => ({ ...e, metadata: { occurredAt: at(i) } })));
  assert.ok(state, "the given events fold to a notification");
  return {
    when: (command: NotificationCommand) => ({
      then: (expected: NotificationEvent[]) => assert.deepEqual(decide(command, state), expected),
      thenThrows: (error: new (...args: never[]) => Error, message?: RegExp) =>
        assert.throws(
          () => decide(command, state),
          (e: Error) => {
            assert.ok(e instanceof error, `expected ${error.name}, got ${e.name}: ${e.message}`);
            if (message) assert.match(e.message, message);
            return true;
          },
        ),
    }),
  };
}

describe("Queue", () => {
  it("given a request, when queued, then NotificationQueued", () => {
    given([requested]).when({ type: "Queue" }).then([queued]);
  });
  it("given a redriven notification, when queued again, then NotificationQueued again", () => {
    given([
      requested,
      queued,
      started(1),
      failed(1),
      { type: "NotificationRedriven", data: { notificationId, uploadId: "u-1", by: "bob" } },
    ])
      .when({ type: "Queue" })
      .then([queued]);
  });
});

describe("StartAttempt", () => {
  it("given a queued request, when an attempt starts, then it is attempt 1", () => {
    given([requested, queued])
      .when({ type: "StartAttempt" })
      .then([started(1)]);
  });
  it("given two failed attempts, when an attempt starts, then it is attempt 3", () => {
    given([requested, started(1), retry(1), started(2), retry(2)])
      .when({ type: "StartAttempt" })
      .then([started(3)]);
  });
  it("given an attempt that never reported (its notifier died), when another starts, then it is the next number", () => {
    given([requested, started(1)])
      .when({ type: "StartAttempt" })
      .then([started(2)]);
  });
  for (const [name, end] of [
    ["sent", sent(1)],
    ["failed", failed(1)],
    ["dead-lettered", deadLettered],
  ] as const) {
    it(`given a ${name} notification, when an attempt starts, then NotificationAlreadyFinal carrying its state`, () => {
      const state = foldNotification(
        [requested, started(1), end].map((e, i) => ({ ...e, metadata: { occurredAt: at(i) } })),
      )!;
      assert.throws(
        () => decide({ type: "StartAttempt" }, state),
        (e: Error) => e instanceof NotificationAlreadyFinal && e.state.status === name && e instanceof ConflictError,
      );
    });
  }
});

describe("RecordSent / RecordRetry / RecordFailure", () => {
  it("given a started attempt, when the server took the email, then NotificationSent with its Message-ID", () => {
    given([requested, started(1)])
      .when({ type: "RecordSent", attempt: 1, messageId: "<n-1@herald>" })
      .then([sent(1)]);
  });
  it("given a started attempt, when the server said 4xx, then NotificationRetryScheduled with the error", () => {
    given([requested, started(1)])
      .when({ type: "RecordRetry", attempt: 1, error: "421 busy" })
      .then([retry(1)]);
  });
  it("given a started attempt, when the server refused for good, then NotificationFailed with the error", () => {
    given([requested, started(1)])
      .when({ type: "RecordFailure", attempt: 1, error: "550 no such user" })
      .then([failed(1)]);
  });
  it("given a notification another attempt already sent, when a late attempt reports its send, then it is still recorded (an email left)", () => {
    given([requested, started(1), started(2), sent(2)])
      .when({ type: "RecordSent", attempt: 1, messageId: "<n-1@herald>" })
      .then([sent(1)]);
  });
});

describe("DeadLetter", () => {
  it("given retries used up, when the queue gives up, then NotificationDeadLettered with the reason", () => {
    given([requested, started(1), retry(1)])
      .when({ type: "DeadLetter", reason: "gave up after 5 deliveries" })
      .then([deadLettered]);
  });
  it("given a notification that got sent after all, when the queue gives up on a stale copy, then nothing", () => {
    given([requested, started(1), sent(1)])
      .when({ type: "DeadLetter", reason: "late" })
      .then([]);
  });
});

describe("Redrive", () => {
  const redriven: NotificationEvent = {
    type: "NotificationRedriven",
    data: { notificationId, uploadId: "u-1", by: "bob" },
  };
  it("given a failed notification, when an admin redrives it, then NotificationRedriven naming the admin", () => {
    given([requested, started(1), failed(1)])
      .when({ type: "Redrive", by: "bob" })
      .then([redriven]);
  });
  it("given a dead-lettered notification, when an admin redrives it, then NotificationRedriven", () => {
    given([requested, started(1), deadLettered])
      .when({ type: "Redrive", by: "bob" })
      .then([redriven]);
  });
  for (const [status, events] of [
    ["requested", [requested]],
    ["sending", [requested, started(1)]],
    ["retrying", [requested, started(1), retry(1)]],
    ["sent", [requested, started(1), sent(1)]],
  ] as const) {
    it(`given a ${status} notification, when an admin redrives it, then 409 naming the status`, () => {
      given([...events])
        .when({ type: "Redrive", by: "bob" })
        .thenThrows(ConflictError, new RegExp(`is ${status}; only failed or dead-lettered`));
    });
  }
  it("given a redriven notification, when redriven again before it ran, then 409 (of two admins clicking, one redrives)", () => {
    given([requested, started(1), failed(1), redriven])
      .when({ type: "Redrive", by: "carol" })
      .thenThrows(ConflictError);
  });
});

describe("RecordUpload (the upload's decider)", () => {
  const upload = {
    uploadId: "u-1",
    groupId: "g",
    uploaderId: "carol",
    filename: "plan.pdf",
    contentType: "application/pdf",
    size: 3,
    sha256: "abc",
    blobKey: "g/u-1",
  };
  const recipients = [
    { notificationId: "n-1", recipientId: "alice", recipient: "alice@example.test" },
    { notificationId: "n-2", recipientId: "bob", recipient: "bob@example.test" },
  ];
  it("given no upload, when recorded, then FileUploaded and one NotificationRequested per admin, in that order", () => {
    const events: HeraldEvent[] = decideUpload({ type: "RecordUpload", upload, recipients }, { recorded: false });
    assert.deepEqual(
      events.map((e) => e.type),
      ["FileUploaded", "NotificationRequested", "NotificationRequested"],
    );
    assert.deepEqual(events[0]!.data, upload);
    assert.deepEqual(events[2]!.data, { ...recipients[1], uploadId: "u-1", groupId: "g" });
  });
  it("given a group with no admins, when recorded, then only FileUploaded", () => {
    const events = decideUpload({ type: "RecordUpload", upload, recipients: [] }, { recorded: false });
    assert.deepEqual(
      events.map((e) => e.type),
      ["FileUploaded"],
    );
  });
  it("given the upload is already recorded, when recorded again, then 409", () => {
    assert.throws(
      () => decideUpload({ type: "RecordUpload", upload, recipients }, { recorded: true }),
      (e: Error) => e instanceof ConflictError && /already recorded/.test(e.message),
    );
  });
});
