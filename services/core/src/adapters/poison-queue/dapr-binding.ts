import type { DaprClient } from "@dapr/dapr";
import { UnavailableError } from "../../domain/errors.ts";
import type { PoisonQueue } from "../../ports/index.ts";

/** The poison queue behind a Dapr output binding (a Storage Queue in components/azure). */
export function createDaprPoisonQueue(client: DaprClient, binding: string): PoisonQueue {
  return {
    async put(message) {
      try {
        await client.binding.send(binding, "create", message);
      } catch (error) {
        throw new UnavailableError(`send to binding ${binding} failed: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}
