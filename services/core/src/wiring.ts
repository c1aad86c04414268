import { join, resolve } from "node:path";
import { createAzureBlobStore } from "./adapters/azure-blob-store.ts";
import { createDaprBindingQueue, createDaprClient, createDaprPubSubQueue } from "./adapters/dapr.ts";
import { openEventStoreEventLog } from "./adapters/eventstore-event-log.ts";
import { createFsBlobStore } from "./adapters/fs-blob-store.ts";
import { createOutboxMailer, createSmtpMailer, type OutboxMailer } from "./adapters/mailers.ts";
import { openSqliteEventLog } from "./adapters/sqlite-event-log.ts";
import {
  createAzureQueueInspector,
  createRedisStreamInspector,
  type QueueInspector,
} from "./adapters/queue-inspectors.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import { daprComponents } from "./dapr-components.ts";
import type { BlobStore, CheckpointStore, EventLog, Mailer, WorkQueue } from "./ports.ts";

// Which adapter backs each port is decided here, from config, for every entry point. The
// domain code never sees the choice.

export const dataDirOf = (config: Config) => resolve(config.HERALD_DATA_DIR);

/** EventStoreDB when EVENTSTORE_URL is set, else the SQLite file in the data dir. */
export function openEventLog(config: Config): EventLog & CheckpointStore {
  return config.EVENTSTORE_URL ? openEventStoreEventLog(config.EVENTSTORE_URL) : openSqliteEventLog(dataDirOf(config));
}

/** Azure Blob Storage when a connection string is set, else a folder in the data dir. */
export async function openBlobStore(config: Config): Promise<BlobStore> {
  return config.AZURE_STORAGE_CONNECTION_STRING
    ? createAzureBlobStore(config.AZURE_STORAGE_CONNECTION_STRING, config.HERALD_BLOB_CONTAINER)
    : createFsBlobStore(join(dataDirOf(config), "blobs"));
}

/** SMTP when SMTP_URL is set, else the local outbox (which the web then shows). */
export function createMailer(config: Config): { mailer: Mailer; outbox?: OutboxMailer } {
  if (config.SMTP_URL) return { mailer: createSmtpMailer(config.SMTP_URL, config.MAIL_FROM) };
  const outbox = createOutboxMailer(join(dataDirOf(config), "outbox"), config.MAIL_FROM);
  return { mailer: outbox, outbox };
}

export const daprClientOf = (config: Config) => createDaprClient(config.DAPR_HOST, config.DAPR_HTTP_PORT);

/** Dapr mode: the queue the relay publishes to. */
export function openDaprQueue(config: Config): WorkQueue {
  const client = daprClientOf(config);
  return config.HERALD_QUEUE === "binding"
    ? createDaprBindingQueue(client, daprComponents.queueOut)
    : createDaprPubSubQueue(client, daprComponents.pubsub, daprComponents.topic);
}

/**
 * Dapr mode: something that can tell the queue gauges how the broker is doing, if config
 * says where it is (Redis for pub/sub; the storage account for the binding).
 */
export function openQueueInspector(config: Config): QueueInspector | null {
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

/** A setting that cannot work stops the process (exit 2) with a message naming it, not a stack trace. */
/**
 * Shutdown is bounded: a call that never returns (a sidecar or store that stopped answering
 * mid-request) must not keep a stopping process alive. Whatever was in flight is redelivered.
 */
export function exitWithin(ms: number, logger: Logger): void {
  setTimeout(() => {
    logger.warn({ graceMs: ms }, "shutdown did not finish in time; exiting");
    process.exit(1);
  }, ms).unref();
}

export function startupStep<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}
