import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type DeliveryStatus, type NotificationMessage, notificationMessage, type WorkQueue } from "@herald/core";

// The behaviour every WorkQueue adapter must have, as the relay (publisher) and the notifier
// (consumer) rely on it. Publishing goes through the port; deliveries are observed through a
// per-backend consumer harness: the in-process queue's consume(), or, in Dapr mode, a small app
// that the consumer's sidecar calls, answering as the notifier does (SUCCESS, RETRY, DROP).

export type QueueHandler = (message: unknown) => Promise<DeliveryStatus>;

export type OpenWorkQueue = {
  /** The adapter under test, publishing as the relay does. */
  queue: WorkQueue;
  /** Starts handing deliveries to `handler` (the payload as the notifier would see it). */
  consume(handler: QueueHandler): void;
  /** Stops everything open() started. */
  close(): Promise<void>;
};

export type WorkQueueFactory = {
  name: string;
  open(): Promise<OpenWorkQueue>;
  /**
   * Ways the adapter can find its broker (or sidecar) out of reach, by what happened: each
   * gives the same adapter in that state. `close` is called afterwards. For the in-process
   * queue, which has no broker, a queue that was closed.
   */
  unreachable: Record<string, () => Promise<{ queue: WorkQueue; close?(): Promise<void> }>>;
  /** The error class publish must reject with when the broker is out of reach (default Error). */
  unavailableError?: new (...args: never[]) => Error;
  /** The backend's own timings; every wait of the contract is bounded by one of these. */
  timing: {
    /** Longest time a first delivery (of 50 at once) may take. */
    deliveryMs: number;
    /** Longest time a redelivery after RETRY may take. */
    redeliveryMs: number;
    /**
     * How long to watch for a delivery that must not come: longer than the backend would take
     * to hand out again a message it had not been told was done.
     */
    quietMs: number;
    /** Longest time a publish to an unreachable broker may take to reject. */
    unreachableMs: number;
  };
};

type Delivery = { message: unknown; at: number };

const traceparent = () => `00-${randomUUID().replaceAll("-", "")}-${randomUUID().replaceAll("-", "").slice(0, 16)}-01`;

/** A message with fresh ids, as the relay builds it. */
const newMessage = (options: { traceparent?: boolean } = {}): NotificationMessage =>
  notificationMessage(
    {
      notificationId: `n-${randomUUID()}`,
      uploadId: `u-${randomUUID()}`,
      ...(options.traceparent === false ? {} : { traceparent: traceparent() }),
    },
    new Date(Date.now() - 1234),
  );

/** The message as any serialising queue carries it (no undefined fields). */
const asJson = (message: unknown): unknown => JSON.parse(JSON.stringify(message));

/** `delivered` is `sent` as the notifier would read it: the same JSON value, field types kept. */
function assertSameMessage(delivered: unknown, sent: NotificationMessage) {
  assert.deepEqual(asJson(delivered), asJson(sent));
  const got = delivered as Record<string, unknown>;
  assert.equal(got.version, 1, "version is the number 1");
  for (const field of ["notificationId", "uploadId", "enqueuedAt"] as const) assert.equal(got[field], sent[field]);
  assert.equal(got.traceparent, sent.traceparent);
}

const idOf = (message: unknown): string | undefined =>
  message && typeof message === "object" && typeof (message as { notificationId?: unknown }).notificationId === "string"
    ? (message as { notificationId: string }).notificationId
    : undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function workQueueContract(factory: WorkQueueFactory) {
  const { timing } = factory;
  describe(`WorkQueue contract: ${factory.name}`, () => {
    let opened: OpenWorkQueue | undefined;
    /** Every delivery the harness saw, by notificationId. */
    const deliveries = new Map<string, Delivery[]>();
    /** How the consumer answers, by notificationId, given the delivery's number (1-based). */
    const answers = new Map<string, (delivery: number) => DeliveryStatus>();
    const unidentified: unknown[] = [];

    const deliveriesOf = (id: string) => deliveries.get(id) ?? [];

    /** Waits (bounded) until `id` was delivered `count` times; returns its deliveries. */
    async function delivered(id: string, count: number, timeoutMs: number): Promise<Delivery[]> {
      const deadline = Date.now() + timeoutMs;
      while (deliveriesOf(id).length < count) {
        if (Date.now() > deadline)
          assert.fail(
            `${id}: expected ${count} deliveries within ${timeoutMs} ms, got ${deliveriesOf(id).length}` +
              (unidentified.length ? `; deliveries without a notificationId: ${JSON.stringify(unidentified)}` : ""),
          );
        await sleep(25);
      }
      return deliveriesOf(id);
    }

    const publish = (message: NotificationMessage) => opened!.queue.publish(message);

    before(async () => {
      opened = await factory.open();
      opened.consume(async (message) => {
        const id = idOf(message);
        if (id === undefined) {
          unidentified.push(message);
          return "DROP";
        }
        const list = deliveries.get(id) ?? [];
        list.push({ message, at: Date.now() });
        deliveries.set(id, list);
        return answers.get(id)?.(list.length) ?? "SUCCESS";
      });
    });
    after(async () => {
      await opened?.close();
    });

    it("delivers a published message with every field intact", async () => {
      const message = newMessage();
      await publish(message);
      const [first] = await delivered(message.notificationId, 1, timing.deliveryMs);
      assertSameMessage(first!.message, message);
    });

    it("delivers a message without a traceparent, and adds none", async () => {
      const message = newMessage({ traceparent: false });
      await publish(message);
      const [first] = await delivered(message.notificationId, 1, timing.deliveryMs);
      assertSameMessage(first!.message, message);
    });

    it("delivers each of 50 messages published at once (at least once, none missing)", async () => {
      const messages = Array.from({ length: 50 }, () => newMessage());
      await Promise.all(messages.map(publish));
      const deadline = Date.now() + timing.deliveryMs;
      let missing = messages.filter((m) => deliveriesOf(m.notificationId).length === 0);
      while (missing.length > 0 && Date.now() < deadline) {
        await sleep(50);
        missing = messages.filter((m) => deliveriesOf(m.notificationId).length === 0);
      }
      assert.deepEqual(
        missing.map((m) => m.notificationId),
        [],
        `${missing.length} of 50 not delivered within ${timing.deliveryMs} ms`,
      );
      for (const m of messages) assertSameMessage(deliveriesOf(m.notificationId)[0]!.message, m);
    });

    it("delivers again a message answered RETRY, intact", async () => {
      const message = newMessage();
      answers.set(message.notificationId, (n) => (n === 1 ? "RETRY" : "SUCCESS"));
      await publish(message);
      await delivered(message.notificationId, 1, timing.deliveryMs);
      const [first, second] = await delivered(message.notificationId, 2, timing.redeliveryMs);
      assertSameMessage(second!.message, message);
      assert.ok(second!.at >= first!.at);
    });

    it("does not deliver again a message answered SUCCESS or DROP", async () => {
      const success = newMessage();
      const drop = newMessage();
      const retryThenSuccess = newMessage();
      answers.set(drop.notificationId, () => "DROP");
      answers.set(retryThenSuccess.notificationId, (n) => (n === 1 ? "RETRY" : "SUCCESS"));
      await Promise.all([success, drop, retryThenSuccess].map(publish));
      await delivered(success.notificationId, 1, timing.deliveryMs);
      await delivered(drop.notificationId, 1, timing.deliveryMs);
      await delivered(retryThenSuccess.notificationId, 2, timing.deliveryMs + timing.redeliveryMs);
      await sleep(timing.quietMs);
      assert.equal(deliveriesOf(success.notificationId).length, 1, "SUCCESS: delivered once");
      assert.equal(deliveriesOf(drop.notificationId).length, 1, "DROP: delivered once");
      assert.equal(deliveriesOf(retryThenSuccess.notificationId).length, 2, "RETRY then SUCCESS: delivered twice");
    });

    for (const [scenario, unreachable] of Object.entries(factory.unreachable))
      it(`rejects a publish when ${scenario}, rather than resolving`, async () => {
        const { queue, close } = await unreachable();
        try {
          const started = Date.now();
          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            queue.publish(newMessage()).then(
              () => ({ settled: "resolved" as const }),
              (error: unknown) => ({ settled: "rejected" as const, error }),
            ),
            new Promise<{ settled: "pending" }>(
              (r) => (timer = setTimeout(() => r({ settled: "pending" }), timing.unreachableMs)),
            ),
          ]);
          clearTimeout(timer);
          assert.equal(outcome.settled, "rejected", `publish ${outcome.settled} after ${Date.now() - started} ms`);
          const expected = factory.unavailableError ?? Error;
          assert.ok(
            outcome.settled === "rejected" && outcome.error instanceof expected,
            `rejected with ${outcome.settled === "rejected" ? String(outcome.error) : ""}, not a ${expected.name}`,
          );
        } finally {
          await close?.();
        }
      });
  });
}
