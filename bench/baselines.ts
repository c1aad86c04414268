import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import nodemailer from "nodemailer";
import { createClient } from "redis";
import { type RunningProcess, startProcess } from "../test/support/herald-process.ts";
import { type BullMQ, loadBullmq } from "./lib/bullmq.ts";
import { track } from "./lib/cleanup.ts";
import { driveLoad, type LoadResult } from "./lib/load.ts";
import { type ProcessFigures, probeProcesses } from "./lib/proc.ts";
import type { Arrivals } from "./lib/sink.ts";
import { bounded, sleep, withTimeout } from "./lib/wait.ts";

// The pipelines a user would otherwise pick, on the same sink and offered load as Herald's P1:
// (a) BullMQ: a queue on the benchmark's Redis, a worker with concurrency 50;
// (b) bare Redis Streams: XADD, XREADGROUP (COUNT 50, BLOCK), send, XACK.
// Both send with a pooled nodemailer transport (10 connections). The producer stands in for the
// web: for each "upload" it adds the two jobs (one per admin) that an upload to `design` asks
// for, `inFlight` uploads at a time. The worker runs in a process of its own, as Herald's
// notifier does, so it does not share the benchmark's event loop with the sink.
// This file is also that worker: `node --import tsx bench/baselines.ts worker <kind>`.

export type BaselineKind = "bullmq" | "streams";
export type BaselineResult = LoadResult & { processes: ProcessFigures[] };

const recipients = ["alice@example.test", "bob@example.test"];
const group = "bench-workers";
const readyKey = (queue: string) => `${queue}:worker-ready`;

export async function runBaseline(
  kind: BaselineKind,
  options: {
    redisHost: string;
    smtpUrl: string;
    arrivals: Arrivals;
    uploads: number;
    inFlight: number;
    timeoutMs: number;
    settleMs: number;
  },
): Promise<BaselineResult> {
  const [host, port] = options.redisHost.split(":") as [string, string];
  const queueName = `bench-${kind}-${Date.now()}`;
  // Connection errors surface on the commands that fail; as events they would crash the run.
  const redis = createClient({ url: `redis://${options.redisHost}` }).on("error", () => undefined);
  await redis.connect();
  let worker: RunningProcess | undefined;
  let queue: InstanceType<BullMQ["Queue"]> | undefined;
  try {
    worker = track(
      `${kind} worker`,
      await startProcess(
        `${kind} worker`,
        process.execPath,
        ["--import", "tsx", "bench/baselines.ts", "worker", kind],
        { BENCH_REDIS: options.redisHost, BENCH_SMTP: options.smtpUrl, BENCH_QUEUE: queueName },
        async () => (await redis.get(readyKey(queueName))) === "1",
        30_000,
      ),
    );
    if (kind === "bullmq") {
      queue = new (await loadBullmq()).Queue(queueName, { connection: { host, port: Number(port) } });
      queue.on("error", () => undefined);
    }
    const jobs = () => recipients.map((to) => ({ id: randomUUID(), to }));
    const send =
      kind === "bullmq"
        ? async () => {
            const batch = jobs();
            // Retries as Herald's defaults (5 attempts, from 1 s, doubling); done jobs are removed.
            const opts = { attempts: 5, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: true };
            await withTimeout(
              queue!.addBulk(batch.map((data) => ({ name: "email", data, opts }))),
              30_000,
              "BullMQ addBulk",
            );
            return batch.map((j) => j.id);
          }
        : async () => {
            const batch = jobs();
            await withTimeout(Promise.all(batch.map((j) => redis.xAdd(queueName, "*", j))), 30_000, "XADD");
            return batch.map((j) => j.id);
          };
    const probe = probeProcesses({ worker: worker.child.pid, "bench (producer + sink)": process.pid });
    const run = await driveLoad({
      count: options.uploads,
      inFlight: options.inFlight,
      send,
      label: `P1 ${kind}`,
      arrivals: options.arrivals,
      timeoutMs: options.timeoutMs,
    });
    const processes = probe.end();
    await sleep(bounded(options.settleMs)); // late copies count as duplicates
    return { ...run.summary(), processes };
  } finally {
    await queue?.close();
    await worker?.stop().catch(() => undefined);
    await redis.del([readyKey(queueName), queueName]).catch(() => undefined);
    await redis.quit().catch(() => undefined);
  }
}

// ---- the worker process ------------------------------------------------------------------

function transport(smtpUrl: string) {
  const url = new URL(smtpUrl);
  return nodemailer.createTransport(
    { host: url.hostname, port: Number(url.port), secure: false, pool: true, maxConnections: 10 },
    { from: "Bench <bench@localhost>" },
  );
}

/** About what Herald sends: a subject, a short text and HTML body, the Message-ID that names the job. */
const mail = (id: string, to: string) => ({
  to,
  subject: "New file in Design: bench.txt",
  text: `Carol uploaded bench.txt (1 KiB) to Design.\nhttp://localhost:8080/api/groups/design/uploads/${id}`,
  html: `<p>Carol uploaded <b>bench.txt</b> (1 KiB) to Design.</p><p><a href="http://localhost:8080/">Open</a></p>`,
  messageId: `<${id}@bench>`,
});

async function worker(kind: BaselineKind) {
  const redisHost = process.env.BENCH_REDIS!;
  const queueName = process.env.BENCH_QUEUE!;
  const mailer = transport(process.env.BENCH_SMTP!);
  const redis = createClient({ url: `redis://${redisHost}` }).on("error", () => undefined);
  await redis.connect();
  let stopping = false;
  process.once("SIGTERM", () => {
    stopping = true;
    setTimeout(() => process.exit(0), 2_000).unref();
  });

  if (kind === "bullmq") {
    const [host, port] = redisHost.split(":") as [string, string];
    const { Worker } = await loadBullmq();
    const bull = new Worker(
      queueName,
      async (job) => {
        await mailer.sendMail(mail(job.data.id, job.data.to));
      },
      { connection: { host, port: Number(port) }, concurrency: 50 },
    );
    await bull.waitUntilReady();
    await redis.set(readyKey(queueName), "1");
    return;
  }

  const stream = queueName; // the stream of the Redis Streams pipeline
  try {
    await redis.xGroupCreate(stream, group, "0", { MKSTREAM: true });
  } catch (error) {
    if (!/BUSYGROUP/.test((error as Error).message)) throw error;
  }
  await redis.set(readyKey(queueName), "1");
  while (!stopping) {
    const reply = (await redis.xReadGroup(
      group,
      "worker-1",
      { key: stream, id: ">" },
      { COUNT: 50, BLOCK: 1000 },
    )) as Array<{
      messages: Array<{ id: string; message: Record<string, string> }>;
    }> | null;
    for (const { messages } of reply ?? []) {
      // A failed send is left pending (not acknowledged): it shows as lost, as nothing here reclaims it.
      await Promise.all(
        messages.map(async ({ id, message }) => {
          try {
            await mailer.sendMail(mail(message.id!, message.to!));
            await redis.xAck(stream, group, id);
          } catch (error) {
            console.error(`send ${message.id}: ${(error as Error).message}`);
          }
        }),
      );
    }
  }
}

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href &&
  process.argv[2] === "worker"
) {
  await worker(process.argv[3] as BaselineKind);
}
