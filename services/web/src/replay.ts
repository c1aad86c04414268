import { createLogger, createReadModels, loadConfig, runCommand } from "@herald/core";
import { openEventLog, openNotificationTable } from "@herald/core/adapters";

// `npm run replay`: rebuilds every read model from the event log, the source of truth.
// - The web's read models (uploads per group, the notification table it answers from) are
//   folds kept in memory: every start of the web replays the log into them.
// - In Dapr mode the notification table also lives in the Dapr state store; this command
//   rewrites every row from the log. Running it twice writes the same rows: it is idempotent.
// It reads the log from the start and writes nothing to it.

await runCommand(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, "herald-replay");
  const { store: log } = openEventLog(config);

  const readModels = createReadModels();
  let events = 0;
  for (let after: bigint | null = null; ;) {
    const batch = await log.readAll({ after, maxCount: 1000 });
    if (batch.length === 0) break;
    for (const event of batch) readModels.apply(event);
    events += batch.length;
    after = batch.at(-1)!.position;
  }

  let rows = 0;
  if (config.HERALD_MODE === "dapr") {
    const table = openNotificationTable(config);
    for (const { queuedAt: _queuedAt, ...notification } of readModels.allNotifications()) {
      // A row a notifier holds a live lease on is work in progress: leave it to that notifier.
      const current = await table.get(notification.notificationId);
      const lease = current?.record.status === "sending" ? Date.parse(current.record.leaseUntil ?? "") : 0;
      if (lease > Date.now()) continue;
      if (!(await table.put({ ...notification, leaseUntil: null }, "any"))) {
        throw new Error(`could not write the row of ${notification.notificationId}: it kept changing`);
      }
      rows += 1;
    }
  }
  logger.info(
    { events, uploads: readModels.uploadCount(), notifications: readModels.allNotifications().length, tableRows: rows },
    "replayed the event log",
  );
  await log.close();
});
