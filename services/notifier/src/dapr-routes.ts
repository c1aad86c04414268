import express, { type Request, type Response } from "express";
import { type DeliveryStatus, type Logger, type Metrics, daprComponents } from "@herald/core";
import type { DaprClient } from "@dapr/dapr";
import type { Notifier } from "./notifier.ts";

// How the notifier's sidecar reaches it, in Dapr mode:
// - pub/sub (components/local): declarative subscriptions deliver CloudEvents to
//   /notifications, and to /notifications-dead once resiliency's retries are used up;
// - the Storage Queue input binding (components/azure): deliveries to /notification-queue,
//   with the queue's dequeueCount in a header; Storage Queues have no dead letters of their
//   own, so after maxAttempts deliveries the message is moved to the poison queue here.
// Every route answers with an explicit status: a failure is never acknowledged as success.

export function daprRoutes({
  notifier,
  dapr,
  metrics,
  logger,
  maxAttempts,
}: {
  notifier: Notifier;
  dapr: DaprClient;
  metrics: Metrics;
  logger: Logger;
  maxAttempts: number;
}) {
  const router = express.Router();
  router.use(express.json({ type: ["application/json", "application/cloudevents+json"], limit: "1mb" }));

  /** Pub/sub: 200 + {status}; Dapr retries RETRY under the resiliency policy. */
  const answer = (res: Response, status: DeliveryStatus) => res.status(200).json({ status });

  router.post(`/${daprComponents.topic}`, async (req, res) => {
    answer(res, await safely(() => notifier.handle(cloudEventData(req))));
  });

  router.post(`/${daprComponents.deadLetterTopic}`, async (req, res) => {
    const status = await safely(async () => {
      await notifier.deadLetter(cloudEventData(req), "retries exhausted (dead-letter topic)");
      return "SUCCESS";
    });
    answer(res, status);
  });

  router.post(`/${daprComponents.queueIn}`, async (req, res) => {
    // Bindings: 200 deletes the message from the queue; any other status leaves it to come
    // back after the visibility timeout, with dequeueCount + 1.
    const dequeueCount = Number(req.get("dequeueCount") ?? req.get("dequeuecount") ?? "1");
    const status = await safely(async () => {
      if (dequeueCount > maxAttempts) {
        await dapr.binding.send(daprComponents.poison, "create", req.body);
        await notifier.deadLetter(req.body, `moved to the poison queue after ${dequeueCount - 1} deliveries`);
        return "SUCCESS";
      }
      return notifier.handle(req.body);
    });
    res.status(status === "RETRY" ? 500 : 200).json({ status });
  });

  async function safely(work: () => Promise<DeliveryStatus>): Promise<DeliveryStatus> {
    try {
      return await work();
    } catch (error) {
      // The SDK and Dapr would count a thrown error as done: it is not. Ask for a retry.
      logger.error({ err: error }, "delivery failed; asking for a retry");
      metrics.notifications.inc({ outcome: "retried" });
      return "RETRY";
    }
  }

  return router;
}

/** A CloudEvent's payload (Dapr wraps published messages in one). */
function cloudEventData(req: Request): unknown {
  const body = req.body as { data?: unknown; data_base64?: string } | undefined;
  if (body && typeof body === "object" && "data" in body) {
    return typeof body.data === "string" ? tryJson(body.data) : body.data;
  }
  return body;
}

const tryJson = (s: string) => {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};
