import type { DaprClient } from "@dapr/dapr";
import { UnavailableError } from "../../domain/errors.ts";
import type { NotificationMessage } from "../../domain/queue-message.ts";
import type { WorkQueue } from "../../ports/index.ts";

// The queue in Dapr mode: a pub/sub topic (Redis Streams locally) or an output binding (Azure
// Storage Queues). The consuming side is the notifier's routes, where the sidecar delivers.

/** Publishes to a pub/sub topic (Redis Streams locally). */
export function createDaprPubSubQueue(client: DaprClient, pubsub: string, topic: string): WorkQueue {
  return {
    async publish(message: NotificationMessage) {
      const result = await client.pubsub.publish(pubsub, topic, message, { contentType: "application/json" });
      if (result.error) throw new UnavailableError(`publish to ${pubsub}/${topic} failed: ${result.error.message}`);
    },
  };
}

/** Sends to an output binding (Azure Storage Queues in the cloud). */
export function createDaprBindingQueue(client: DaprClient, binding: string): WorkQueue {
  return {
    async publish(message: NotificationMessage) {
      try {
        await client.binding.send(binding, "create", message);
      } catch (error) {
        throw new UnavailableError(`send to binding ${binding} failed: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}
