import { createMemoryQueue } from "@herald/core/adapters";
import { workQueueContract } from "./work-queue.contract.ts";

// The in-process queue of embedded mode. Retries are quick here (retryBaseMs), so a redelivery
// the contract must not see would come within a few hundred milliseconds.

const options = { concurrency: 4, maxAttempts: 5, retryBaseMs: 20, retryMaxMs: 200 };

workQueueContract({
  name: "in-process (createMemoryQueue)",
  async open() {
    const queue = createMemoryQueue(options);
    return {
      queue,
      consume: (handler) =>
        queue.consume(
          (message) => handler(message),
          async () => {},
        ),
      close: () => queue.close(),
    };
  },
  unreachable: {
    // No broker to lose: the only way it refuses work is after close().
    "the queue was closed": async () => {
      const queue = createMemoryQueue(options);
      await queue.close();
      return { queue };
    },
  },
  timing: { deliveryMs: 5_000, redeliveryMs: 2_000, quietMs: 1_500, unreachableMs: 2_000 },
});
