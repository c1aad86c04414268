import { createDaprClient, createDaprLeaseStore } from "@herald/core/adapters";
import { daprComponents } from "@herald/core";
import { type Azurite, startAzurite } from "../support/azurite.ts";
import { startSidecar } from "../support/daprd.ts";
import { type Redis, startRedis } from "../support/redis.ts";
import { leaseStoreContract } from "./lease-store.contract.ts";

// Leases in the Dapr state store through a real daprd, for both component sets: state.redis on
// a redis-server of the test's own, and state.azure.tablestorage on Azurite. The sidecar is
// the web's (the component is scoped to web and notifier; the web runs the relay).

async function openOnSidecar(resources: string, env: Record<string, string>, stops: Array<() => Promise<unknown>>) {
  const sidecar = await startSidecar({ appId: "web", resources, env });
  stops.push(() => sidecar.stop());
  const client = createDaprClient("127.0.0.1", sidecar.httpPort);
  stops.push(() => client.stop());
  return createDaprLeaseStore(client, daprComponents.stateStore);
}

const stopAll = async (stops: Array<() => Promise<unknown>>) => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
};

{
  const stops: Array<() => Promise<unknown>> = [];
  let redis: Redis;
  leaseStoreContract({
    name: "Dapr state.redis (components/local)",
    async open() {
      redis = await startRedis();
      stops.push(() => redis.stop());
      return openOnSidecar("components/local", { REDIS_HOST: redis.host }, stops);
    },
    cleanup: () => stopAll(stops),
  });
}

{
  const stops: Array<() => Promise<unknown>> = [];
  let azurite: Azurite;
  leaseStoreContract({
    name: "Dapr state.azure.tablestorage (components/azure, Azurite)",
    async open() {
      azurite = await startAzurite();
      stops.push(() => azurite.stop());
      return openOnSidecar("components/azure", azurite.env, stops);
    },
    cleanup: () => stopAll(stops),
  });
}
