import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import type { DaprClient } from "@dapr/dapr";
import { createDaprClient, createDaprNotificationTable } from "@herald/core/adapters";
import { type Azurite, startAzurite } from "../support/azurite.ts";
import { type Sidecar, startSidecar } from "../support/daprd.ts";
import { type Redis, startRedis } from "../support/redis.ts";
import { notificationTableContract } from "./notification-table.contract.ts";

// The Dapr state-store notification table through a real daprd sidecar (scripts/get-daprd.sh;
// without it these fail and say how to get it), once per component set:
// - components/local: state.redis on a redis-server of the test's own (Debian "redis-server");
// - components/azure: state.azure.tablestorage on Azurite (npm devDependency "azurite").
// Each backend starts its own store and sidecar before its cases and stops them after.

/** The component's name in components/<set>/notification-state.yaml. */
const STORE = "notification-state";
/**
 * The component is scoped to web and notifier: the sidecar must be one of them. The web, because
 * in components/azure the notifier's sidecar also polls the queue binding, which is not tested here.
 */
const APP_ID = "web";

/** Runs each stop, last started first, even when one fails; then rethrows the first failure. */
async function stopAll(stops: Array<() => Promise<unknown> | unknown>) {
  let first: unknown;
  for (const stop of stops.reverse()) {
    try {
      await stop();
    } catch (error) {
      first ??= error;
    }
  }
  if (first) throw first;
}

async function openOnSidecar(resources: string, env: Record<string, string>, stops: Array<() => unknown>) {
  const sidecar: Sidecar = await startSidecar({ appId: APP_ID, resources, env });
  stops.push(() => sidecar.stop());
  const client: DaprClient = createDaprClient("127.0.0.1", sidecar.httpPort);
  stops.push(() => client.stop());
  return createDaprNotificationTable(client, STORE);
}

function requireRedisServer() {
  try {
    execFileSync("sh", ["-c", "command -v redis-server"], { stdio: "ignore" });
  } catch {
    throw new Error(
      "redis-server is required for the components/local state store and is not on PATH: " +
        "install the Debian package redis-server (apt-get install redis-server; .ci/run does it when missing).",
    );
  }
}

{
  const stops: Array<() => unknown> = [];
  let redis: Redis | undefined;
  notificationTableContract({
    name: "Dapr state.redis (components/local)",
    async open() {
      requireRedisServer();
      redis = await startRedis();
      const dir = redis.dir;
      stops.push(() => rmSync(dir, { recursive: true, force: true }));
      stops.push(() => redis!.stop());
      return openOnSidecar("components/local", { REDIS_HOST: redis.host }, stops);
    },
    cleanup: () => stopAll(stops.splice(0)),
  });
}

{
  const stops: Array<() => unknown> = [];
  let azurite: Azurite | undefined;
  notificationTableContract({
    name: "Dapr state.azure.tablestorage (components/azure, Azurite)",
    async open() {
      azurite = await startAzurite();
      stops.push(() => azurite!.stop());
      return openOnSidecar("components/azure", azurite.env, stops);
    },
    cleanup: () => stopAll(stops.splice(0)),
  });
}
