import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startRedis } from "../test/support/redis.ts";
import { startSmtpSink } from "../test/support/smtp-sink.ts";
import { type BaselineKind, type BaselineResult, runBaseline } from "./baselines.ts";
import type { LoadResult } from "./lib/load.ts";
import { installCleanup, scratchDir, stopAll, track } from "./lib/cleanup.ts";
import { formatProcesses } from "./lib/proc.ts";
import { fmt, machineLine, ratio, renderTable, type Row } from "./lib/report.ts";
import { watchArrivals } from "./lib/sink.ts";
import { deadlinePassed, remainingMs, setGlobalDeadline } from "./lib/wait.ts";
import { type HeraldVariant, runHeraldP1, variantNames } from "./p1-throughput.ts";
import { runP3 } from "./p3-upload-latency.ts";
import { runP5 } from "./p5-rebuild.ts";

// `npm run bench [-- flags]`: the benchmarks of issue 11 on real components, all on loopback,
// in one run, so that Herald's figures stand beside the baselines' from the same minutes of the
// same machine. Prints one markdown table and writes it to bench/results/latest.md.

const usage = `npm run bench -- [flags]          (each flag also as env BENCH_<FLAG>, e.g. BENCH_EMAILS=300)
  --emails N          P1 emails: N/2 uploads × 2 admins (default 5000)
  --in-flight K       P1 uploads (baseline: job pairs) in flight (default 32)
  --only LIST         comma list of bullmq,streams,embedded,esdb,dapr,p3,p5
                      or the groups p1 (all five pipelines) and baselines (default: all)
  --p3-rates LIST     P3 offered uploads/s (default 50,100,200)
  --p3-seconds S      P3 seconds per rate (default 10)
  --p3-timeout-s S    P3 give-up time per upload (default 30)
  --p5-events N       P5 log size, events (default 100000)
  --p1-timeout-s S    P1 bound per pipeline, sending and delivery (default 900)
  --settle-s S        after the last email, wait this long for late duplicates (default 2)
  --audit N|all       P1 notifications whose history is checked (default all)
  --herald-env K=V    extra environment for every Herald process (repeatable; env: comma list)
  --deadline-min M    the whole run stops by then (default 90)
  --out FILE          where the table is written too (default bench/results/latest.md)`;

const defaults = {
  emails: "5000",
  "in-flight": "32",
  only: "p1,p3,p5",
  "p3-rates": "50,100,200",
  "p3-seconds": "10",
  "p3-timeout-s": "30",
  "p5-events": "100000",
  "p1-timeout-s": "900",
  "settle-s": "2",
  audit: "all",
  "deadline-min": "90",
  out: "bench/results/latest.md",
};
type Flag = keyof typeof defaults;

function options() {
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: "string" as const }])),
      "herald-env": { type: "string", multiple: true },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const env = (flag: string) => process.env[`BENCH_${flag.toUpperCase().replaceAll("-", "_")}`];
  const given = values as Record<string, unknown>;
  const get = (flag: Flag) => (given[flag] as string | undefined) ?? env(flag) ?? defaults[flag];
  const num = (flag: Flag) => {
    const n = Number(get(flag));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag}: not a positive number: ${get(flag)}`);
    return n;
  };
  const groups: Record<string, string[]> = {
    p1: ["bullmq", "streams", "embedded", "esdb", "dapr"],
    baselines: ["bullmq", "streams"],
  };
  const known = new Set([...groups.p1!, "p3", "p5"]);
  const only = new Set(
    get("only")
      .split(",")
      .flatMap((s) => groups[s.trim()] ?? [s.trim()]),
  );
  for (const name of only) if (!known.has(name)) throw new Error(`--only: unknown ${name}\n${usage}`);
  const heraldEnv = (given["herald-env"] as string[] | undefined) ?? env("herald-env")?.split(",") ?? [];
  return {
    uploads: Math.ceil(num("emails") / 2),
    inFlight: num("in-flight"),
    only,
    p3Rates: get("p3-rates")
      .split(",")
      .map(Number)
      .filter((r) => r > 0),
    p3Seconds: num("p3-seconds"),
    p3TimeoutMs: num("p3-timeout-s") * 1000,
    p5Events: num("p5-events"),
    p1TimeoutMs: num("p1-timeout-s") * 1000,
    settleMs: Number(get("settle-s")) * 1000,
    audit: get("audit") === "all" ? Number.POSITIVE_INFINITY : num("audit"),
    deadlineMs: num("deadline-min") * 60_000,
    out: resolve(get("out")),
    heraldEnv: Object.fromEntries(heraldEnv.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
    smoke: (["emails", "p3-seconds", "p5-events", "p3-rates"] as Flag[]).some((f) => get(f) !== defaults[f]),
  };
}

const log = (message: string) => console.error(`bench: ${message}`);
const firstLine = (error: unknown) => ((error as Error).message ?? String(error)).split("\n")[0]!;

async function main() {
  const o = options();
  setGlobalDeadline(o.deadlineMs);
  installCleanup();
  // If something will not stop, the run still ends shortly after its deadline.
  setTimeout(() => {
    log("deadline passed long ago: stopping everything");
    void stopAll(5_000).finally(() => process.exit(1));
  }, o.deadlineMs + 120_000).unref();

  const p1 = ["bullmq", "streams", "embedded", "esdb", "dapr"].some((n) => o.only.has(n));
  const settings =
    [
      p1 && `P1: ${o.uploads} uploads × 2 admins = ${o.uploads * 2} emails, ${o.inFlight} in flight`,
      o.only.has("p3") && `P3: ${o.p3Rates.join(", ")} uploads/s × ${o.p3Seconds} s, 1 KiB`,
      o.only.has("p5") && `P5: ${o.p5Events} events`,
      Object.keys(o.heraldEnv).length ? `Herald env ${JSON.stringify(o.heraldEnv)}` : "Herald with its defaults",
    ]
      .filter(Boolean)
      .join("; ") + (o.smoke ? ". **SMOKE RUN: smaller than the full benchmark.**" : ".");
  const machine = machineLine(settings);
  const rows: Row[] = [];
  let failed = false;
  const attempt = async <T>(what: string, run: () => Promise<T>, onError: (message: string) => void) => {
    if (deadlinePassed()) return (onError("skipped: the run's deadline had passed"), undefined);
    log(`${what}: starting (${Math.round(remainingMs() / 1000)} s left of the run)`);
    try {
      return await run();
    } catch (error) {
      failed = true;
      log(`${what} failed: ${(error as Error).stack ?? error}`);
      onError(`failed: ${firstLine(error)}`);
      return undefined;
    }
  };

  const smtpSink = await startSmtpSink();
  const sink = track("smtp sink", Object.assign(smtpSink, { stop: () => smtpSink.close() }));
  const arrivals = watchArrivals(sink);
  const needsRedis = ["bullmq", "streams", "dapr"].some((n) => o.only.has(n));
  const redis = needsRedis ? track("redis", await startRedis({ dir: scratchDir("redis") })) : undefined;
  const load = { arrivals, uploads: o.uploads, inFlight: o.inFlight, timeoutMs: o.p1TimeoutMs, settleMs: o.settleMs };

  // ---- P1 baselines first: Herald's rows are printed beside them ----------------------
  const baselines: Partial<Record<BaselineKind, BaselineResult>> = {};
  const baselineNames: Record<BaselineKind, string> = {
    bullmq: "BullMQ queue → worker (concurrency 50) → nodemailer pool (10)",
    streams: "Redis Streams XADD → XREADGROUP (COUNT 50) → nodemailer pool (10) → XACK",
  };
  for (const kind of ["bullmq", "streams"] as const) {
    if (!o.only.has(kind)) continue;
    const column = kind === "bullmq" ? "bullmq" : "streams";
    const result = await attempt(
      `P1 ${kind}`,
      () => runBaseline(kind, { ...load, redisHost: redis!.host, smtpUrl: sink.url }),
      (notes) => rows.push({ bench: "P1", pipeline: baselineNames[kind], figure: "emails/s", notes }),
    );
    arrivals.reset();
    if (!result) continue;
    baselines[kind] = result;
    log(`P1 ${kind}: ${result.received}/${result.requested} emails, ${result.emailsPerSecond.toFixed(1)}/s`);
    rows.push({
      bench: "P1",
      pipeline: baselineNames[kind],
      figure: "emails/s",
      [column]: fmt(result.emailsPerSecond, 1),
      lost: result.lost,
      duplicates: result.duplicates,
      processes: formatProcesses(result.processes),
      notes: `${loadNotes(result)}; p50 ${fmt(result.latency.p50)} ms, p99 ${fmt(result.latency.p99)} ms`,
    });
  }

  // ---- P1 Herald ----------------------------------------------------------------------
  const { bullmq, streams } = baselines;
  for (const variant of ["embedded", "esdb", "dapr"] as HeraldVariant[]) {
    if (!o.only.has(variant)) continue;
    const pipeline = variantNames[variant];
    const r = await attempt(
      `P1 ${variant}`,
      () =>
        runHeraldP1(variant, {
          ...load,
          smtpUrl: sink.url,
          redisHost: redis?.host ?? "",
          audit: o.audit,
          env: o.heraldEnv,
        }),
      (notes) => rows.push({ bench: "P1", pipeline, figure: "emails/s", notes }),
    );
    arrivals.reset();
    if (!r) continue;
    log(`P1 ${variant}: ${r.received}/${r.requested} emails, ${r.emailsPerSecond.toFixed(1)}/s`);
    const audit = !r.audit
      ? "audit skipped: the run's deadline had passed"
      : `audit ${r.audit.complete}/${r.audit.checked} complete` +
        (r.audit.firstGap ? ` (first gap ${r.audit.firstGap})` : "");
    rows.push({
      bench: "P1",
      pipeline,
      figure: "emails/s",
      herald: fmt(r.emailsPerSecond, 1),
      bullmq: fmt(bullmq?.emailsPerSecond, 1),
      streams: fmt(streams?.emailsPerSecond, 1),
      ratio: ratio(r.emailsPerSecond, bullmq?.emailsPerSecond),
      lost: r.lost,
      duplicates: r.duplicates,
      processes: formatProcesses(r.processes),
      notes: [loadNotes(r), audit, r.logIssues].filter(Boolean).join("; "),
    });
    for (const p of ["p50", "p99"] as const) {
      rows.push({
        bench: "P1",
        pipeline,
        figure: `upload → email ${p}, ms`,
        herald: fmt(r.latency[p]),
        bullmq: fmt(bullmq?.latency[p]),
        streams: fmt(streams?.latency[p]),
        ratio: ratio(r.latency[p], bullmq?.latency[p]),
      });
    }
  }

  // ---- P3 -----------------------------------------------------------------------------
  if (o.only.has("p3")) {
    for (const rate of o.p3Rates) {
      const pipeline = `Herald embedded, SQLite log: ${rate} uploads/s open loop for ${o.p3Seconds} s`;
      const figure = "202 answer p50 / p99 / max, ms";
      const r = await attempt(
        `P3 ${rate}/s`,
        () =>
          runP3(rate, {
            smtpUrl: sink.url,
            arrivals,
            seconds: o.p3Seconds,
            requestTimeoutMs: o.p3TimeoutMs,
            env: o.heraldEnv,
          }),
        (notes) => rows.push({ bench: "P3", pipeline, figure, notes }),
      );
      if (!r) continue;
      log(`P3 ${rate}/s: p50 ${r.latency.p50.toFixed(0)} ms, p99 ${r.latency.p99.toFixed(0)} ms`);
      rows.push({
        bench: "P3",
        pipeline,
        figure,
        herald: `${fmt(r.latency.p50)} / ${fmt(r.latency.p99)} / ${fmt(r.latency.max)}`,
        notes:
          `202: ${r.accepted}/${r.offered}` +
          (r.errors ? `; ${r.errors} errors (${r.firstError})` : "") +
          (r.timeouts ? `; ${r.timeouts} gave up after ${o.p3TimeoutMs / 1000} s (counted at that time)` : "") +
          (r.logIssues ? `; ${r.logIssues}` : ""),
      });
    }
  }

  // ---- P5 -----------------------------------------------------------------------------
  if (o.only.has("p5")) {
    const r = await attempt(
      "P5",
      () => runP5({ events: o.p5Events, smtpUrl: sink.url, env: o.heraldEnv }),
      (notes) => rows.push({ bench: "P5", pipeline: "read-model rebuild", figure: "events/s", notes }),
    );
    if (r) {
      log(`P5: ${r.events} events folded at ${r.eventsPerSecond.toFixed(0)}/s; start ${r.startSeconds.toFixed(1)} s`);
      rows.push(
        {
          bench: "P5",
          pipeline: `read-model rebuild: createReadModels() over readAll (SQLite, batches of 1,000), ${fmt(r.events)} events`,
          figure: "events/s",
          herald: fmt(r.eventsPerSecond),
          notes:
            `${r.rebuildSeconds.toFixed(2)} s; ${fmt(r.notifications)} notifications, ${fmt(r.sent)} sent ` +
            `(${fmt(r.uploads)} uploads; writing the log took ${r.generateSeconds.toFixed(0)} s)`,
        },
        {
          bench: "P5",
          pipeline: `Herald embedded start on that log until /readyz`,
          figure: "seconds",
          herald: fmt(r.startSeconds, 1),
          processes: formatProcesses(r.processes),
          notes: `on an empty data dir: ${r.emptyStartSeconds.toFixed(1)} s (spawn and tsx included; /readyz polled every 100 ms)`,
        },
      );
    }
  }

  const table = renderTable(machine, rows);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${table}\n`);
  await stopAll();
  console.log(`\n${table}\n`);
  log(`table written to ${o.out}`);
  process.exit(failed ? 1 : 0);
}

function loadNotes(r: LoadResult) {
  return (
    `${r.received}/${r.requested} emails in ${r.seconds.toFixed(1)} s (sent in ${r.sendSeconds.toFixed(1)} s)` +
    (r.failedSends ? `; ${r.failedSends} sends failed (${r.firstError})` : "") +
    (r.timedOut ? "; CUT SHORT by the time bound" : "")
  );
}

main().catch(async (error) => {
  log(`failed: ${(error as Error).stack ?? error}`);
  await stopAll(5_000);
  process.exit(1);
});
