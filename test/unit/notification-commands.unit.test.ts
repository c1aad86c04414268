import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  ConcurrencyError,
  createNotificationCommands,
  type EventLog,
  NotificationAlreadyFinal,
  type NotificationCommand,
  type NotificationEvent,
  NotificationNotFound,
  type NotificationRef,
  notificationStream,
} from "@herald/core";
import { openSqliteEventLog, type SqliteEventLog } from "@herald/core/adapters";
import { tempDir } from "../support/herald-process.ts";
import { recordTestUpload } from "../support/uploads.ts";

// The command handler (read, fold, decide, append at the revision read) on a SQLite event log,
// in Given (events in the log) / When (command executed) / Then (what the log holds, or what
// it throws) form. Races are real: a competing writer appends to the notification stream
// between the handler's read and its append, so the log itself refuses the stale append.

let store: SqliteEventLog;
before(() => {
  store = openSqliteEventLog(tempDir("notification-commands"));
});
after(() => store.close());

const queued = (notificationId: string): NotificationEvent => ({
  type: "NotificationQueued",
  data: { notificationId },
});
const started = (notificationId: string, attempt: number): NotificationEvent => ({
  type: "NotificationStarted",
  data: { notificationId, attempt },
});
const sent = (notificationId: string, attempt: number): NotificationEvent => ({
  type: "NotificationSent",
  data: { notificationId, attempt, messageId: `<${notificationId}@herald>` },
});

/** An upload for one recipient, so the log holds its NotificationRequested. */
async function requestNotification(): Promise<NotificationRef> {
  const { uploadId, notificationIds } = await recordTestUpload(store, ["alice"]);
  return { notificationId: notificationIds[0]!, uploadId };
}

/**
 * The log, with another writer that appends `competing(i)` to the notification stream just
 * before each of the handler's first `races` appends to it (i = 1, 2, …): each of those
 * appends then expects a revision the stream has moved past.
 */
function racedLog(ref: NotificationRef, races: number, competing: (i: number) => NotificationEvent[]) {
  const stream = notificationStream(ref.notificationId);
  let appends = 0;
  const competed: NotificationEvent[] = [];
  const log: EventLog = {
    async append(name, events, options) {
      if (name === stream && ++appends <= races) {
        const theirs = competing(appends);
        await store.append(name, theirs);
        competed.push(...theirs);
      }
      return store.append(name, events, options);
    },
    readStream: (name, options) => store.readStream(name, options),
    readAll: (options) => store.readAll(options),
    subscribeAll: (options, handler) => store.subscribeAll(options, handler),
    ping: () => store.ping(),
    close: async () => {},
  };
  return { log, competed, appends: () => appends };
}

/** The notification stream's events, without their metadata. */
async function lifecycle(ref: NotificationRef): Promise<NotificationEvent[]> {
  const events = await store.readStream(notificationStream(ref.notificationId));
  return events.map(({ type, data }) => ({ type, data }) as NotificationEvent);
}

/** Given a requested notification and then these events of its own in the log. */
async function given(events: (notificationId: string) => NotificationEvent[]) {
  const ref = await requestNotification();
  const own = events(ref.notificationId);
  if (own.length > 0) await store.append(notificationStream(ref.notificationId), own);
  return { ref, own };
}

describe("execute: an unknown notification", () => {
  it("given no request for it in the log, when a command is executed, then NotificationNotFound and nothing appended", async () => {
    const ref: NotificationRef = { notificationId: randomUUID(), uploadId: randomUUID() };
    const commands = createNotificationCommands(store);
    for (const command of [{ type: "Queue" }, { type: "StartAttempt" }] satisfies NotificationCommand[]) {
      await assert.rejects(commands.execute(ref, command), (e: Error) => {
        assert.ok(e instanceof NotificationNotFound, `expected NotificationNotFound, got ${e.name}: ${e.message}`);
        assert.equal(e.notificationId, ref.notificationId);
        return true;
      });
    }
    assert.deepEqual(await lifecycle(ref), []);
  });

  it("given an upload that requested other notifications, when a command names one it did not request, then NotificationNotFound", async () => {
    const { ref } = await given(() => []);
    const stranger: NotificationRef = { notificationId: randomUUID(), uploadId: ref.uploadId };
    await assert.rejects(createNotificationCommands(store).execute(stranger, { type: "Queue" }), NotificationNotFound);
  });
});

describe("execute: losing a race reads again and decides again on the new state", () => {
  it("given a queued notification, when StartAttempt races another delivery's Started, then it takes attempt 2", async () => {
    const { ref, own } = await given((id) => [queued(id)]);
    const raced = racedLog(ref, 1, () => [started(ref.notificationId, 1)]);

    const executed = await createNotificationCommands(raced.log).execute(ref, { type: "StartAttempt" });

    assert.deepEqual(executed.appended, [started(ref.notificationId, 2)]);
    assert.equal(executed.state.attempts, 2);
    assert.equal(executed.state.status, "sending");
    assert.equal(raced.appends(), 2, "one lost append, one that held");
    assert.deepEqual(await lifecycle(ref), [...own, ...raced.competed, started(ref.notificationId, 2)]);
    assert.equal(executed.revision, 2n, "the revision returned is the stream's last");
  });

  it("given a queued notification, when StartAttempt races a delivery that started and sent, then NotificationAlreadyFinal and nothing appended", async () => {
    const { ref, own } = await given((id) => [queued(id)]);
    const raced = racedLog(ref, 1, () => [started(ref.notificationId, 1), sent(ref.notificationId, 1)]);

    await assert.rejects(
      createNotificationCommands(raced.log).execute(ref, { type: "StartAttempt" }),
      NotificationAlreadyFinal,
    );
    assert.deepEqual(await lifecycle(ref), [...own, ...raced.competed]);
  });

  it("given a sending notification, when DeadLetter races the Sent of a late success, then nothing is appended", async () => {
    const { ref, own } = await given((id) => [queued(id), started(id, 1)]);
    const raced = racedLog(ref, 1, () => [sent(ref.notificationId, 1)]);

    const executed = await createNotificationCommands(raced.log).execute(ref, {
      type: "DeadLetter",
      reason: "gave up after 5 deliveries",
    });

    assert.deepEqual(executed.appended, []);
    assert.equal(executed.result, null);
    assert.equal(executed.state.status, "sent");
    assert.deepEqual(await lifecycle(ref), [...own, ...raced.competed]);
  });

  it("given a stale snapshot passed as known, when StartAttempt is executed, then it reads the log again and takes the next attempt", async () => {
    const { ref } = await given((id) => [queued(id)]);
    const commands = createNotificationCommands(store);
    const known = (await commands.read(ref))!;
    await store.append(notificationStream(ref.notificationId), [started(ref.notificationId, 1)]);

    const executed = await commands.execute(ref, { type: "StartAttempt" }, { known });

    assert.deepEqual(executed.appended, [started(ref.notificationId, 2)]);
  });
});

describe("execute: losing race after race", () => {
  it("given a queued notification, when StartAttempt loses 4 races in a row, then the 5th try appends attempt 5", async () => {
    const { ref } = await given((id) => [queued(id)]);
    const raced = racedLog(ref, 4, (i) => [started(ref.notificationId, i)]);

    const executed = await createNotificationCommands(raced.log).execute(ref, { type: "StartAttempt" });

    assert.equal(raced.appends(), 5);
    assert.deepEqual(executed.appended, [started(ref.notificationId, 5)]);
  });

  it("given a queued notification, when StartAttempt loses 5 races in a row, then the ConcurrencyError is thrown and none of its events is appended", async () => {
    const { ref, own } = await given((id) => [queued(id)]);
    const raced = racedLog(ref, Number.POSITIVE_INFINITY, (i) => [started(ref.notificationId, i)]);

    await assert.rejects(createNotificationCommands(raced.log).execute(ref, { type: "StartAttempt" }), (e: Error) => {
      assert.ok(e instanceof ConcurrencyError, `expected ConcurrencyError, got ${e.name}: ${e.message}`);
      assert.equal(e.stream, notificationStream(ref.notificationId));
      return true;
    });
    assert.equal(raced.appends(), 5, "tried 5 times, no more");
    assert.deepEqual(await lifecycle(ref), [...own, ...raced.competed], "only the competing writer's events");
  });
});

/** The log, noting the name of every stream read. */
function countingReads() {
  const reads: string[] = [];
  const counted: EventLog = {
    ...store,
    readStream: (name, options) => {
      reads.push(name);
      return store.readStream(name, options);
    },
  };
  return { reads, counted };
}

describe("read: an upload's stream is read once for all its notifications", () => {
  it("given an upload for three admins, when each notification is read, then the upload stream is read once and every story is whole", async () => {
    const { uploadId, notificationIds } = await recordTestUpload(store, ["ann", "bea", "cid"]);
    const { reads, counted } = countingReads();
    const commands = createNotificationCommands(counted);
    for (const notificationId of notificationIds) {
      const story = await commands.read({ notificationId, uploadId });
      assert.equal(story?.about.type, "FileUploaded");
      assert.equal(story?.state.notificationId, notificationId);
      assert.equal(story?.state.status, "requested");
    }
    assert.equal(reads.filter((name) => name === `upload-${uploadId}`).length, 1);
    assert.equal(
      reads.filter((name) => name.startsWith("notification-")).length,
      3,
      "each notification's own stream, every time",
    );
  });

  it("given an upload not in the log yet, when it is read, then nothing is kept: a later read finds it", async () => {
    const { reads, counted } = countingReads();
    const commands = createNotificationCommands(counted);
    const uploadId = randomUUID();
    assert.equal(await commands.read({ notificationId: randomUUID(), uploadId }), null);
    assert.equal(await commands.read({ notificationId: randomUUID(), uploadId }), null);
    assert.equal(reads.filter((name) => name === `upload-${uploadId}`).length, 2);
  });
});
