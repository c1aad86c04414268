import { QueueClient } from "@azure/storage-queue";
import type { QueueInspector } from "../../ports/index.ts";

// What an SRE asks of the queue between relay and notifier: how many messages wait, how many
// a notifier has taken but not finished, and how old the oldest one is. Dapr does not say, so
// each broker is asked directly (as KEDA's scalers do): read-only, at scrape time.

/** Azure Storage Queues: the approximate count, and the oldest message's insertion time. */
export function createAzureQueueInspector(connectionString: string, queueName: string): QueueInspector {
  const queue = new QueueClient(connectionString, queueName);
  return {
    async stats() {
      const { approximateMessagesCount = 0 } = await queue.getProperties();
      const [oldest] = (await queue.peekMessages({ numberOfMessages: 1 })).peekedMessageItems;
      const oldestAgeSeconds = oldest ? Math.max(0, (Date.now() - oldest.insertedOn.getTime()) / 1000) : 0;
      // Storage Queues do not tell taken messages apart: invisible ones are counted as waiting.
      return { waiting: approximateMessagesCount, inFlight: 0, oldestAgeSeconds };
    },
    async close() {},
  };
}
