import express, { type Request, type Response } from "express";
import { type DeliveryStatus, type DigestRun, type Logger, type PoisonQueue, daprComponents } from "@herald/core";
import type { Notifier } from "./deliver-notification.ts";

// How the notifier's sidecar reaches it, in Dapr mode:
// - pub/sub (components/local): declarative subscriptions deliver CloudEvents to
//   /notifications, and to /notifications-dead once resiliency's retries are used up;
// - the Storage Queue input binding (components/azure): deliveries to /notification-queue,
//   with the queue's dequeueCount in a header; Storage Queues have no dead letters of their
//   own, so after maxAttempts deliveries the message is handed to the notifier's deadLetter,
//   and moved to the poison queue here if it was dead-lettered.
// - the cron input binding (components/*/digest-schedule.yaml): a call to /digest-schedule on
//   every replica, every minute, that requests the digests due (see application/digests.ts).
// Every route answers with an explicit status: a failure is never acknowledged as success.

export function daprRoutes({
  notifier,
  poisonQueue,
  logger,
  maxAttempts,
  isPaused,
  runDigests,
}: {
  notifier: Notifier;
  /** Where the binding route moves messages it gives up on (Storage Queues have no dead letters). */
  poisonQueue: PoisonQueue;
  logger: Logger;
  maxAttempts: number;
  /**
   * True while a dependency is known to be away. A delivery that arrives before the sidecar
   * has noticed (its health check runs every second) is answered RETRY untouched: no attempt
   * is claimed for a send that cannot succeed.
   */
  isPaused: () => boolean;
  /** Requests the digests that are due (DigestRunner.runDigests). */
  runDigests: () => Promise<DigestRun>;
}) {
  const router = express.Router();
  // Read as text whatever the content type, and parsed here: a body that is not JSON is a
  // poison message for the notifier to record and drop, not a 400 that the binding would
  // take for a failure and redeliver forever.
  router.use(express.text({ type: () => true, limit: "1mb" }));

  /** Pub/sub: 200 + {status}; Dapr retries RETRY under the resiliency policy. */
  const answer = (res: Response, status: DeliveryStatus) => res.status(200).json({ status });

  router.post(`/${daprComponents.topic}`, async (req, res) => {
    if (isPaused()) return answer(res, "RETRY");
    answer(res, await safely(() => notifier.handle(cloudEventData(bodyOf(req)))));
  });

  router.post(`/${daprComponents.deadLetterTopic}`, async (req, res) => {
    const status = await safely(async () => {
      await notifier.deadLetter(cloudEventData(bodyOf(req)), "retries exhausted (dead-letter topic)");
      return "SUCCESS";
    });
    answer(res, status);
  });

  router.post(`/${daprComponents.queueIn}`, async (req, res) => {
    // Bindings: 200 deletes the message from the queue; any other status leaves it to come
    // back after the visibility timeout, with dequeueCount + 1.
    if (isPaused()) return res.status(500).json({ status: "RETRY" });
    const dequeueCount = Number(req.get("dequeueCount") ?? req.get("dequeuecount") ?? "1");
    const message = bodyOf(req);
    const status = await safely(async () => {
      if (dequeueCount > maxAttempts) {
        // Recorded first, then moved: if the move fails, the redelivery finds it dead-lettered
        // and moves it then. A message published again instead (see Notifier.deadLetter) is
        // simply deleted here.
        const outcome = await notifier.deadLetter(
          message,
          `moved to the poison queue after ${dequeueCount - 1} deliveries`,
        );
        if (outcome === "dead-lettered") await poisonQueue.put(message);
        return "SUCCESS";
      }
      const handled = await notifier.handle(message);
      // Storage Queues have no dead letters: a message the notifier dropped (and recorded)
      // goes to the poison queue too, where an operator can read it.
      if (handled === "DROP") await poisonQueue.put(message);
      return handled;
    });
    res.status(status === "RETRY" ? 500 : 200).json({ status });
  });

  // One run at a time on this replica: a tick that comes while a run is under way (a slow log)
  // is answered when that run ends; the run covers it. A failed run is the next tick's to
  // repeat: the cron binding does not retry, and nothing was half-done (see digests.ts).
  let digestRun: Promise<DigestRun> | null = null;
  router.post(`/${daprComponents.digestSchedule}`, async (_req, res) => {
    digestRun ??= runDigests().finally(() => (digestRun = null));
    try {
      res.status(200).json(await digestRun);
    } catch (error) {
      logger.warn({ err: error }, "digest run failed; the next tick tries again");
      res.status(500).json({ status: "error" });
    }
  });

  async function safely(work: () => Promise<DeliveryStatus>): Promise<DeliveryStatus> {
    try {
      return await work();
    } catch (error) {
      // The SDK and Dapr would count a thrown error as done: it is not. Ask for a retry.
      logger.error({ err: error }, "delivery failed; asking for a retry");
      return "RETRY";
    }
  }

  return router;
}

/** The request body, parsed if it is JSON, else the text as it came. */
const bodyOf = (req: Request): unknown => tryJson(typeof req.body === "string" ? req.body : "");

/** A CloudEvent's payload (Dapr wraps published messages in one). */
function cloudEventData(body: unknown): unknown {
  if (body && typeof body === "object" && "data" in body) {
    const { data } = body as { data: unknown };
    return typeof data === "string" ? tryJson(data) : data;
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
