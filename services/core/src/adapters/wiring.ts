import { join, resolve } from "node:path";
import type { Config } from "../platform/config.ts";
import { daprComponents } from "../platform/dapr-components.ts";
import type { Metrics } from "../platform/metrics.ts";
import type {
  LeaseStore,
  BlobStore,
  CheckpointStore,
  EventLog,
  Mailer,
  NotificationTable,
  PoisonQueue,
  QueueInspector,
  WorkQueue,
} from "../ports/index.ts";
import { createAzureBlobStore } from "./blob-store/azure.ts";
import { createFsBlobStore } from "./blob-store/folder.ts";
import { createDaprClient } from "./dapr-client.ts";
import { openEventStoreEventLog } from "./event-log/eventstore.ts";
import { instrumentEventLog } from "./event-log/instrumented.ts";
import { openSqliteEventLog } from "./event-log/sqlite.ts";
import { createDaprLeaseStore } from "./lease/dapr-state.ts";
import { createMemoryLeaseStore } from "./lease/memory.ts";
import { createOutboxMailer, type OutboxMailer } from "./mailer/outbox.ts";
import { createSmtpMailer } from "./mailer/smtp.ts";
import { createDaprNotificationTable } from "./notification-table/dapr-state.ts";
import { createMemoryNotificationTable } from "./notification-table/memory.ts";
import { createDaprPoisonQueue } from "./poison-queue/dapr-binding.ts";
import { createAzureQueueInspector } from "./queue-inspector/azure-queue.ts";
import { createRedisStreamInspector } from "./queue-inspector/redis-stream.ts";
import { createDaprBindingQueue, createDaprPubSubQueue } from "./work-queue/dapr.ts";

// Which adapter backs each port is decided here, from config, for every entry point. Nothing
// else in Herald looks at HERALD_MODE, EVENTSTORE_URL, SMTP_URL or the connection strings.

const dataDirOf = (config: Config) => resolve(config.HERALD_DATA_DIR);

/**
 * EventStoreDB when EVENTSTORE_URL is set, else the SQLite file in the data dir. `store` is the
 * backend itself (checkpoints, close); `log` is the same with appends timed and counted in
 * `metrics`, when given.
 */
export function openEventLog(config: Config, metrics?: Metrics): { log: EventLog; store: EventLog & CheckpointStore } {
  const store = config.EVENTSTORE_URL
    ? openEventStoreEventLog(config.EVENTSTORE_URL)
    : openSqliteEventLog(dataDirOf(config));
  return { log: metrics ? instrumentEventLog(store, metrics) : store, store };
}

/** Azure Blob Storage when a connection string is set, else a folder in the data dir. */
export async function openBlobStore(config: Config): Promise<BlobStore> {
  return config.AZURE_STORAGE_CONNECTION_STRING
    ? createAzureBlobStore(config.AZURE_STORAGE_CONNECTION_STRING, config.HERALD_BLOB_CONTAINER)
    : createFsBlobStore(join(dataDirOf(config), "blobs"));
}

/** The local outbox, when no SMTP server is configured; the web shows it at /outbox. */
export const openOutbox = (config: Config): OutboxMailer | undefined =>
  config.SMTP_URL ? undefined : createOutboxMailer(join(dataDirOf(config), "outbox"), config.MAIL_FROM);

/** SMTP when SMTP_URL is set, else the local outbox. */
export const openMailer = (config: Config): Mailer =>
  config.SMTP_URL
    ? createSmtpMailer(config.SMTP_URL, config.MAIL_FROM, {
        maxConnections: config.HERALD_SMTP_MAX_CONNECTIONS,
        allowPlaintextAuth: config.HERALD_SMTP_ALLOW_PLAINTEXT_AUTH,
      })
    : openOutbox(config)!;

const daprClientOf = (config: Config) => createDaprClient(config.DAPR_HOST, config.DAPR_HTTP_PORT);

/** Dapr mode: the queue the relay publishes to (pub/sub topic or Storage Queue binding). */
export function openDaprQueue(config: Config): WorkQueue {
  const client = daprClientOf(config);
  return config.HERALD_QUEUE === "binding"
    ? createDaprBindingQueue(client, daprComponents.queueOut)
    : createDaprPubSubQueue(client, daprComponents.pubsub, daprComponents.topic);
}

/** The notifier's table: the Dapr state store in Dapr mode, memory in embedded mode. */
export const openNotificationTable = (config: Config): NotificationTable =>
  config.HERALD_MODE === "dapr"
    ? createDaprNotificationTable(daprClientOf(config), daprComponents.stateStore)
    : createMemoryNotificationTable();

/** Dapr mode: leases in the state store every web replica reaches (the relay runs in one). */
export const openLeaseStore = (config: Config): LeaseStore =>
  config.HERALD_MODE === "dapr"
    ? createDaprLeaseStore(daprClientOf(config), daprComponents.stateStore)
    : createMemoryLeaseStore();

/** Dapr mode with the Storage Queue binding: where given-up messages go. */
export const openPoisonQueue = (config: Config): PoisonQueue =>
  createDaprPoisonQueue(daprClientOf(config), daprComponents.poison);

/**
 * Dapr mode: something that can tell the queue gauges how the broker is doing, if config
 * says where it is (Redis for pub/sub; the storage account for the binding).
 */
export function openQueueInspector(config: Config): QueueInspector | null {
  if (config.HERALD_MODE !== "dapr") return null;
  if (config.HERALD_QUEUE === "pubsub" && config.HERALD_QUEUE_REDIS_HOST) {
    return createRedisStreamInspector(
      config.HERALD_QUEUE_REDIS_HOST,
      daprComponents.topic,
      daprComponents.consumerGroup,
    );
  }
  if (config.HERALD_QUEUE === "binding" && config.AZURE_STORAGE_CONNECTION_STRING) {
    return createAzureQueueInspector(config.AZURE_STORAGE_CONNECTION_STRING, daprComponents.queueName);
  }
  return null;
}
