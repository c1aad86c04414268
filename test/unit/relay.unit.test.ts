import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  type CheckpointStore,
  createLogger,
  createMetrics,
  createNotificationCommands,
  type EventLog,
  type NotificationMessage,
  notificationStream,
  startRelay,
} from "@herald/core";
import { openEventStoreEventLog, openSqliteEventLog } from "@herald/core/adapters";
import { type EsdbTestServer, startEsdbTestServer } from "../support/esdb-test-server.ts";
import { eventually, tempDir } from "../support/herald-process.ts";
import { recordTestUpload } from "../support/uploads.ts";

// The relay on each event log: herald_relay_lag_events counts the notification requests it
// has not handed to the queue yet, nothing else, and reads 0 once it is caught up; and a relay
// with nothing to do writes no checkpoints (on EventStoreDB each checkpoint is itself an event
// in $all, which the relay reads: it must not answer it with another checkpoint).

let esdb: EsdbTestServer | undefined;
after(async () => esdb?.stop());

const stores: Array<{ name: string; open: () => Promise<EventLog & CheckpointStore> }> = [
  { name: "SQLite", open: async () => openSqliteEventLog(tempDir("relay")) },
  {
    name: "EventStoreDB",
    open: async () => {
      esdb ??= await startEsdbTestServer();
      return openEventStoreEventLog(esdb.url);
    },
  },
];

/** A queue that takes messages only while it is open. */
function gatedQueue() {
  const published: NotificationMessage[] = [];
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    published,
    open,
    async publish(message: NotificationMessage) {
      await opened;
      published.push(message);
    },
  };
}

/** An upload for two admins, then what a notifier appends for each: started, then sent. */
async function uploadForTwoAdmins(log: EventLog) {
  const { notificationIds } = await recordTestUpload(log, ["ann", "bea"]);
  return notificationIds;
}

const sentBy = (notificationId: string) =>
  [
    { type: "NotificationStarted", data: { notificationId, attempt: 1 } },
    { type: "NotificationSent", data: { notificationId, attempt: 1, messageId: `<${notificationId}@test>` } },
  ] as const;

for (const store of stores) {
  describe(`relay on ${store.name}`, () => {
    it("herald_relay_lag_events counts the requests not yet queued, and reads 0 once they are", async () => {
      const log = await store.open();
      let checkpointsSaved = 0;
      const checkpoints: CheckpointStore = {
        load: (name) => log.load(name),
        save: async (name, position) => {
          checkpointsSaved += 1;
          await log.save(name, position);
        },
      };
      const metrics = createMetrics();
      const lag = async () => (await metrics.relayLagEvents.get()).values[0]?.value;
      const queue = gatedQueue();
      const relay = await startRelay({
        log,
        commands: createNotificationCommands(log),
        checkpoints,
        queue,
        metrics,
        logger: createLogger("silent"),
      });
      try {
        const notificationIds = await uploadForTwoAdmins(log);
        await eventually(async () => ((await lag()) === 2 ? true : undefined), 5000, "both requests counted");

        queue.open();
        await eventually(async () => (queue.published.length === 2 ? true : undefined), 5000, "both queued");
        for (const id of notificationIds) await log.append(notificationStream(id), [...sentBy(id)]);
        await eventually(async () => ((await lag()) === 0 ? true : undefined), 5000, "the lag back to 0");

        const saved = checkpointsSaved;
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(await lag(), 0);
        assert.equal(checkpointsSaved, saved, "an idle relay writes no checkpoints");
        assert.ok(saved <= 2, `at most one checkpoint per request relayed, ${saved} saved`);
      } finally {
        queue.open();
        await relay.stop();
        await log.close();
      }
    });
  });
}
