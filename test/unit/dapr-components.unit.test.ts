import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { parseAllDocuments } from "yaml";
import { daprComponents } from "@herald/core";

// The code names Dapr components, topics and bindings through daprComponents; the YAML under
// components/ declares them. These must never drift apart.

type Doc = { kind: string; metadata: { name: string }; spec: Record<string, unknown>; scopes?: string[] };

const load = (set: string): Doc[] => {
  const dir = new URL(`../../components/${set}/`, import.meta.url).pathname;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as Doc));
};
const component = (docs: Doc[], name: string) => docs.find((d) => d.kind === "Component" && d.metadata.name === name);

it("components/local declares the pub/sub, its topics and the state store the code uses", () => {
  const docs = load("local");
  const pubsub = component(docs, daprComponents.pubsub);
  assert.equal(pubsub?.spec.type, "pubsub.redis");
  const metadata = pubsub?.spec.metadata as Array<{ name: string; value?: string }>;
  assert.equal(metadata.find((m) => m.name === "consumerID")?.value, daprComponents.consumerGroup);
  assert.equal(component(docs, daprComponents.stateStore)?.spec.type, "state.redis");
  const subscriptions = docs.filter((d) => d.kind === "Subscription").map((d) => d.spec);
  const main = subscriptions.find((s) => s.topic === daprComponents.topic);
  assert.equal(main?.pubsubname, daprComponents.pubsub);
  assert.deepEqual(main?.routes, { default: `/${daprComponents.topic}` });
  assert.equal(main?.deadLetterTopic, daprComponents.deadLetterTopic);
  const dead = subscriptions.find((s) => s.topic === daprComponents.deadLetterTopic);
  assert.deepEqual(dead?.routes, { default: `/${daprComponents.deadLetterTopic}` });
  const resiliency = docs.find((d) => d.kind === "Resiliency");
  const targets = (resiliency?.spec.targets as { components: Record<string, unknown> }).components;
  assert.ok(targets[daprComponents.pubsub], "inbound retries target the pub/sub");
});

it("components/azure declares the queue bindings, each scoped to who uses it, and the state store", () => {
  const docs = load("azure");
  assert.deepEqual(component(docs, daprComponents.queueIn)?.scopes, ["notifier"]);
  // The notifier publishes too: a message its queue gave up on too early goes back.
  assert.deepEqual(component(docs, daprComponents.queueOut)?.scopes, ["web", "notifier"]);
  assert.deepEqual(component(docs, daprComponents.poison)?.scopes, ["notifier"]);
  assert.equal(component(docs, daprComponents.queueIn)?.spec.type, "bindings.azure.storagequeues");
  for (const name of [daprComponents.queueIn, daprComponents.queueOut]) {
    const metadata = component(docs, name)?.spec.metadata as Array<{ name: string; value?: string }>;
    assert.equal(metadata.find((m) => m.name === "queueName")?.value, daprComponents.queueName);
  }
  assert.equal(component(docs, daprComponents.stateStore)?.spec.type, "state.azure.tablestorage");
});
