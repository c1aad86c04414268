import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type DeliveryStatus, daprComponents } from "@herald/core";

// A stand-in for the notifier's Dapr routes (services/notifier/src/dapr-routes.ts), for tests
// of the queue itself: the consumer sidecar calls it the way it calls the notifier, and it
// answers the way the notifier does.
//   pub/sub:  POST /notifications (a CloudEvent; the message is its `data`), 200 {"status"}
//             POST /notifications-dead (recorded, answered SUCCESS; or RETRY, when told to)
//   binding:  POST /notification-queue (the message as JSON), 200 for SUCCESS and DROP,
//             500 for RETRY (the queue redelivers after its visibility timeout)
//   GET /healthz for the sidecar's app health check; OPTIONS on a route (daprd asks whether
//   the app listens on an input binding's route).

export type ConsumerHandler = (message: unknown) => Promise<DeliveryStatus>;

export type QueueConsumerApp = {
  port: number;
  /** From now on deliveries go to `handler`; before, they are answered RETRY (kept). */
  setHandler(handler: ConsumerHandler): void;
  /** Messages that came on the dead-letter route (and were answered SUCCESS). */
  deadLetters: unknown[];
  /**
   * The next `count` dead-letter deliveries are answered RETRY (and not recorded), as the
   * notifier does when it cannot record or publish a dead letter yet. Returns how many were.
   */
  refuseDeadLetters(count: number): { refused: () => number };
  /** Requests it did not expect (method and path), for failure messages. */
  unexpected: string[];
  /**
   * Messages whose notificationId starts with "warmup-" are answered SUCCESS without reaching
   * the handler; this resolves when one with `id` has come (bounded).
   */
  warmedUp(id: string, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
};

const tryJson = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

/** The payload of a CloudEvent, as the notifier reads it; anything else as it came. */
export function cloudEventData(body: unknown): unknown {
  if (body && typeof body === "object") {
    if ("data" in body) {
      const { data } = body as { data: unknown };
      return typeof data === "string" ? tryJson(data) : data;
    }
    if ("data_base64" in body && typeof (body as { data_base64: unknown }).data_base64 === "string")
      return tryJson(Buffer.from((body as { data_base64: string }).data_base64, "base64").toString("utf8"));
  }
  return body;
}

const idOf = (message: unknown) =>
  message && typeof message === "object" ? (message as { notificationId?: unknown }).notificationId : undefined;

export async function startQueueConsumerApp(): Promise<QueueConsumerApp> {
  let handler: ConsumerHandler | undefined;
  const warm = new Set<string>();
  const deadLetters: unknown[] = [];
  const unexpected: string[] = [];
  let deadLettersToRefuse = 0;
  let deadLettersRefused = 0;

  const dispatch = async (message: unknown): Promise<DeliveryStatus> => {
    const id = idOf(message);
    if (typeof id === "string" && id.startsWith("warmup-")) {
      warm.add(id);
      return "SUCCESS";
    }
    if (!handler) return "RETRY";
    try {
      return await handler(message);
    } catch {
      return "RETRY"; // as the notifier does: a handler that threw never counts as done
    }
  };

  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });

  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const body = await read(req);
    if (req.method === "GET" && path === "/healthz") return json(res, 200, { ok: true });
    if (req.method === "GET" && path === "/dapr/subscribe") return json(res, 200, []); // declarative only
    if (req.method === "GET" && path === "/dapr/config") return res.writeHead(404).end(); // no actors
    if (req.method === "OPTIONS") return res.writeHead(200).end();
    // The notifier's components include the digests' cron binding: its ticks are not queue traffic.
    if (req.method === "POST" && path === `/${daprComponents.digestSchedule}`) return json(res, 200, {});
    if (req.method === "POST" && path === `/${daprComponents.topic}`) {
      return json(res, 200, { status: await dispatch(cloudEventData(tryJson(body))) });
    }
    if (req.method === "POST" && path === `/${daprComponents.deadLetterTopic}`) {
      if (deadLettersRefused < deadLettersToRefuse) {
        deadLettersRefused += 1;
        return json(res, 200, { status: "RETRY" });
      }
      deadLetters.push(cloudEventData(tryJson(body)));
      return json(res, 200, { status: "SUCCESS" });
    }
    if (req.method === "POST" && path === `/${daprComponents.queueIn}`) {
      const status = await dispatch(tryJson(body));
      return json(res, status === "RETRY" ? 500 : 200, { status });
    }
    unexpected.push(`${req.method} ${path}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    setHandler: (h) => (handler = h),
    deadLetters,
    refuseDeadLetters(count) {
      deadLettersToRefuse = deadLettersRefused + count;
      return { refused: () => deadLettersRefused };
    },
    unexpected,
    async warmedUp(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!warm.has(id)) {
        if (Date.now() > deadline) throw new Error(`warm-up message ${id} not delivered within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
