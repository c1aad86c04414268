import { execFileSync } from "node:child_process";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { describe, it } from "node:test";
import type { DaprClient } from "@dapr/dapr";
import { daprComponents, notificationMessage, UnavailableError, type WorkQueue } from "@herald/core";
import { createDaprBindingQueue, createDaprClient, createDaprPubSubQueue } from "@herald/core/adapters";
import { startAzurite } from "../support/azurite.ts";
import { type Sidecar, startSidecar } from "../support/daprd.ts";
import { freePort } from "../support/herald-process.ts";
import { type QueueConsumerApp, startQueueConsumerApp } from "../support/queue-consumer-app.ts";
import { startRedis } from "../support/redis.ts";
import { type OpenWorkQueue, workQueueContract } from "./work-queue.contract.ts";

// The Dapr queues, through real daprd sidecars, as Dapr mode runs them: the relay publishes
// through the web's sidecar (app id "web", no app), and the consumer's sidecar (app id
// "notifier") delivers to a stand-in for the notifier's routes (test/support/queue-consumer-app.ts).
//   pub/sub:  components/local on a Redis of the test's own; retries under resiliency.yaml.
//   binding:  components/azure on Azurite; redelivery after the visibility timeout (1 s here).
// Each backend starts and stops its own broker and sidecars.

/** Started things, stopped in reverse order; every one is tried, the first error is thrown. */
function stack() {
  const stops: Array<() => Promise<void>> = [];
  return {
    push: (stop: () => Promise<void>) => void stops.push(stop),
    async stopAll() {
      let first: unknown;
      for (const stop of stops.splice(0).reverse()) await stop().catch((e) => (first ??= e));
      if (first) throw first;
    },
  };
}

/** Publishes a warm-up message and waits (bounded) until the consumer's sidecar delivers it: it is listening. */
async function warmUp(queue: WorkQueue, app: QueueConsumerApp, sidecars: Sidecar[], timeoutMs = 60_000) {
  const message = warmMessage();
  try {
    await queue.publish(message);
    await app.warmedUp(message.notificationId, timeoutMs);
  } catch (error) {
    const outputs = sidecars.map((s) => `--- daprd ${s.appId}:\n${s.output().slice(-4000)}`).join("\n");
    throw new Error(`${(error as Error).message}\n${outputs}`, { cause: error });
  }
}

type Broker = { env: Record<string, string>; stop(): Promise<void> };
type DaprBackend = {
  resources: string;
  /** The adapter, publishing through the sidecar `client` talks to. */
  adapter(client: DaprClient): WorkQueue;
  /** A broker of its own (for the scenario that stops it). */
  startBroker(): Promise<Broker>;
};

const warmMessage = () => notificationMessage({ notificationId: `warmup-${randomUUID()}`, uploadId: "warmup" });

/**
 * The ways a Dapr queue loses its way to the broker. `brokerEnv` is the running backend's (the
 * consumer's sidecar answers warm-up messages published there).
 */
function unreachableScenarios(backend: DaprBackend, brokerEnv: () => Record<string, string>) {
  return {
    // The SDK polls a sidecar it has never reached (60 polls, 500 ms apart) before it fails.
    "its sidecar was never reached": async () => ({
      queue: backend.adapter(createDaprClient("127.0.0.1", await freePort())),
    }),
    "its sidecar stopped after serving": async () => {
      const web = await startSidecar({ appId: "web", resources: backend.resources, env: brokerEnv() });
      try {
        const queue = backend.adapter(createDaprClient("127.0.0.1", web.httpPort));
        await queue.publish(warmMessage()); // reached once
        return { queue };
      } finally {
        await web.stop();
      }
    },
    "its broker is down behind a live sidecar": async () => {
      const started = stack();
      try {
        const broker = await backend.startBroker();
        started.push(() => broker.stop());
        const web = await startSidecar({ appId: "web", resources: backend.resources, env: broker.env });
        started.push(() => web.stop());
        const queue = backend.adapter(createDaprClient("127.0.0.1", web.httpPort));
        await queue.publish(warmMessage()); // the broker was there
        await broker.stop();
        return { queue, close: () => started.stopAll() };
      } catch (error) {
        await started.stopAll().catch(() => {});
        throw error;
      }
    },
  };
}

async function startRedisBroker(): Promise<Broker> {
  requireRedisServer();
  const redis = await startRedis();
  let stopped: Promise<void> | undefined;
  return {
    env: { REDIS_HOST: redis.host },
    stop: () => (stopped ??= redis.stop().then(() => rmSync(redis.dir, { recursive: true, force: true }))),
  };
}

async function startAzuriteBroker(): Promise<Broker> {
  const azurite = await startAzurite();
  // The consumer's sidecar redelivers a failed message after this (whole seconds, at least 1).
  return { env: { ...azurite.env, AZURE_QUEUE_VISIBILITY_TIMEOUT: "1s" }, stop: () => azurite.stop() };
}

/** Broker, consumer app, the notifier's and the web's sidecars; warmed up. */
async function openDaprQueue(backend: DaprBackend, onBroker: (env: Record<string, string>) => void) {
  const started = stack();
  try {
    const broker = await backend.startBroker();
    started.push(() => broker.stop());
    onBroker(broker.env);
    const app = await startQueueConsumerApp();
    started.push(() => app.stop());
    // Both sidecars' /v1.0/healthz/outbound answer before startSidecar returns.
    const notifier = await startSidecar({
      appId: "notifier",
      appPort: app.port,
      resources: backend.resources,
      env: broker.env,
    });
    started.push(() => notifier.stop());
    const web = await startSidecar({ appId: "web", resources: backend.resources, env: broker.env });
    started.push(() => web.stop());
    const queue = backend.adapter(createDaprClient("127.0.0.1", web.httpPort));
    await warmUp(queue, app, [notifier, web]);
    const opened: OpenWorkQueue & { app: QueueConsumerApp } = {
      app,
      queue,
      consume: (handler) => app.setHandler(handler),
      async close() {
        await started.stopAll();
        if (app.unexpected.length) throw new Error(`the sidecar made unexpected calls: ${app.unexpected.join(", ")}`);
      },
    };
    return opened;
  } catch (error) {
    await started.stopAll().catch(() => {});
    throw error;
  }
}

function requireRedisServer() {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(
      "redis-server is required for the Dapr pub/sub contract (components/local) and was not found on PATH: " +
        "install the Debian package redis-server (apt-get install redis-server), as .ci/run does.",
    );
  }
}

const pubsub: DaprBackend = {
  resources: "components/local",
  adapter: (client) => createDaprPubSubQueue(client, daprComponents.pubsub, daprComponents.topic),
  startBroker: startRedisBroker,
};
let redisEnv: Record<string, string> = {};
workQueueContract({
  name: "Dapr pub/sub (createDaprPubSubQueue, components/local on Redis)",
  open: () => openDaprQueue(pubsub, (env) => (redisEnv = env)),
  unreachable: unreachableScenarios(pubsub, () => redisEnv),
  unavailableError: UnavailableError,
  timing: {
    deliveryMs: 30_000,
    // resiliency.yaml: the first retry comes after about 500 ms.
    redeliveryMs: 15_000,
    // A message not acknowledged stays pending in the stream and is handed out again once it has
    // been pending for processingTimeout (60 s), at the next redeliverInterval tick (15 s).
    quietMs: 80_000,
    // The longest scenario: a sidecar never reached (the SDK's 30 s of polls).
    unreachableMs: 60_000,
  },
});

// Specific to pub/sub on Redis: the dead-letter topic's own delivery can fail too.
describe("Dapr pub/sub (components/local): a dead letter the notifier cannot take yet", () => {
  it("comes round again after a whole retry cycle refused, instead of being acknowledged and lost", async () => {
    const opened = await openDaprQueue(pubsub, () => undefined);
    try {
      const message = notificationMessage({ notificationId: randomUUID(), uploadId: "dead-letter-loop" });
      // One delivery and resiliency.yaml's 6 retries: the whole first cycle is refused.
      const { refused } = opened.app.refuseDeadLetters(7);
      opened.consume(async () => "RETRY"); // the main topic gives up on it: to the dead-letter topic
      await opened.queue.publish(message);
      const isOurs = (m: unknown) => (m as { notificationId?: string })?.notificationId === message.notificationId;
      const deadline = Date.now() + 90_000;
      while (!opened.app.deadLetters.some(isOurs)) {
        assert.ok(Date.now() < deadline, `the dead letter never came back (${refused()} deliveries refused)`);
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(refused(), 7, "it came back only after the first cycle was refused in full");
    } finally {
      await opened.close();
    }
  });
});

const binding: DaprBackend = {
  resources: "components/azure",
  adapter: (client) => createDaprBindingQueue(client, daprComponents.queueOut),
  startBroker: startAzuriteBroker,
};
let azureEnv: Record<string, string> = {};
workQueueContract({
  name: "Dapr output binding (createDaprBindingQueue, components/azure on Azurite Storage Queues)",
  open: () => openDaprQueue(binding, (env) => (azureEnv = env)),
  unreachable: unreachableScenarios(binding, () => azureEnv),
  unavailableError: UnavailableError,
  timing: {
    deliveryMs: 60_000,
    // The visibility timeout (1 s), then the binding's next poll (pollingInterval 1 s).
    redeliveryMs: 15_000,
    // A message not deleted comes back after the visibility timeout and a poll.
    quietMs: 6_000,
    unreachableMs: 60_000,
  },
});
