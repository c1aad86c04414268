import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DatedNotificationEvent, evolve, foldNotification, type NotificationEvent } from "@herald/core";

const id = "n-1";
let clock = 0;
const at = () => new Date(Date.UTC(2026, 0, 1, 12, 0, clock++)).toISOString();
const event = (e: NotificationEvent): DatedNotificationEvent => ({ ...e, metadata: { occurredAt: at() } });

const requested = () =>
  event({
    type: "NotificationRequested",
    data: { notificationId: id, uploadId: "u-1", groupId: "g", recipientId: "alice", recipient: "alice@example.test" },
  });
const started = (attempt: number) => event({ type: "NotificationStarted", data: { notificationId: id, attempt } });

describe("a notification's state is the fold of its events", () => {
  it("starts as requested, with nothing attempted", () => {
    const r = requested();
    const state = foldNotification([r]);
    assert.deepEqual(state, {
      notificationId: id,
      uploadId: "u-1",
      groupId: "g",
      recipientId: "alice",
      recipient: "alice@example.test",
      status: "requested",
      attempts: 0,
      requestedAt: r.metadata.occurredAt,
      queuedAt: null,
      startedAt: null,
      completedAt: null,
      lastError: null,
    });
  });

  it("goes requested → sending → sent, keeping when each happened", () => {
    const events = [
      requested(),
      event({ type: "NotificationQueued", data: { notificationId: id } }),
      started(1),
      event({ type: "NotificationSent", data: { notificationId: id, attempt: 1, messageId: "<m>" } }),
    ];
    const state = foldNotification(events)!;
    assert.equal(state.status, "sent");
    assert.equal(state.attempts, 1);
    assert.equal(state.queuedAt, events[1]!.metadata.occurredAt);
    assert.equal(state.startedAt, events[2]!.metadata.occurredAt);
    assert.equal(state.completedAt, events[3]!.metadata.occurredAt);
  });

  it("counts attempts across retries and keeps the first start and the last error", () => {
    const first = started(1);
    const state = foldNotification([
      requested(),
      first,
      event({ type: "NotificationRetryScheduled", data: { notificationId: id, attempt: 1, error: "421 busy" } }),
      started(2),
    ])!;
    assert.equal(state.status, "sending");
    assert.equal(state.attempts, 2);
    assert.equal(state.startedAt, first.metadata.occurredAt);
    assert.equal(state.lastError, "421 busy");
    const retrying = evolve(
      state,
      event({ type: "NotificationRetryScheduled", data: { notificationId: id, attempt: 2, error: "timeout" } }),
    )!;
    assert.equal(retrying.status, "retrying");
    assert.equal(retrying.lastError, "timeout");
    assert.equal(retrying.completedAt, null);
  });

  it("a success after a retry clears the error", () => {
    const state = foldNotification([
      requested(),
      started(1),
      event({ type: "NotificationRetryScheduled", data: { notificationId: id, attempt: 1, error: "421" } }),
      started(2),
      event({ type: "NotificationSent", data: { notificationId: id, attempt: 2, messageId: "<m>" } }),
    ])!;
    assert.equal(state.status, "sent");
    assert.equal(state.attempts, 2);
    assert.equal(state.lastError, null);
  });

  it("ends failed on a permanent refusal, dead-lettered when retries run out", () => {
    const failed = foldNotification([
      requested(),
      started(1),
      event({ type: "NotificationFailed", data: { notificationId: id, attempt: 1, error: "550 no such user" } }),
    ])!;
    assert.equal(failed.status, "failed");
    assert.equal(failed.lastError, "550 no such user");
    assert.ok(failed.completedAt);

    const dead = foldNotification([
      requested(),
      started(1),
      event({ type: "NotificationDeadLettered", data: { notificationId: id, reason: "gave up after 5" } }),
    ])!;
    assert.equal(dead.status, "dead-lettered");
    assert.equal(dead.lastError, "gave up after 5");
  });

  it("a redrive puts a dead-lettered notification back to requested, keeping its attempts", () => {
    const state = foldNotification([
      requested(),
      started(1),
      event({ type: "NotificationDeadLettered", data: { notificationId: id, reason: "x" } }),
      event({ type: "NotificationRedriven", data: { notificationId: id, uploadId: "u-1", by: "alice" } }),
    ])!;
    assert.equal(state.status, "requested");
    assert.equal(state.attempts, 1);
    assert.equal(state.completedAt, null);
  });

  it("ignores lifecycle events that have no request to belong to", () => {
    assert.equal(foldNotification([started(1)]), null);
  });
});
