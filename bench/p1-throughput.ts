import { client, tokens } from "../test/support/api-client.ts";
import { type Launched, launchDapr, launchEmbedded, logIssues, logMark } from "./lib/herald.ts";
import { driveLoad, type LoadResult } from "./lib/load.ts";
import { type ProcessFigures, probeProcesses } from "./lib/proc.ts";
import type { Arrivals } from "./lib/sink.ts";
import { bounded, deadlinePassed, sleep, withTimeout } from "./lib/wait.ts";

// P1: end-to-end throughput and upload → email latency. Carol uploads to `design`, whose two
// admins (alice, bob) get an email each: N uploads = 2N emails, `inFlight` uploads at a time.
// Throughput is from the first upload to the last email at the sink; latency from an upload's
// start to its email. Afterwards each notification's history is read back through the API:
// the audit trail must show it Requested, Queued, Started and Sent.

export type HeraldVariant = "embedded" | "esdb" | "dapr";

export const variantNames: Record<HeraldVariant, string> = {
  embedded: "Herald embedded, SQLite log",
  esdb: "Herald embedded, EventStoreDB test server",
  dapr: "Herald Dapr mode (Redis pub/sub + state, EventStoreDB test server)",
};

export type HeraldP1Result = LoadResult & {
  processes: ProcessFigures[];
  /** Warnings and errors Herald logged during the run, if any. */
  logIssues?: string;
  /** Undefined when the run's deadline left no time to check. */
  audit?: { checked: number; complete: number; firstGap?: string };
};

export type P1Options = {
  smtpUrl: string;
  redisHost: string;
  arrivals: Arrivals;
  uploads: number;
  inFlight: number;
  timeoutMs: number;
  settleMs: number;
  /** How many notifications to check the history of; all when Infinity. */
  audit: number;
  env: Record<string, string>;
};

const file = { name: "bench.txt", content: "x".repeat(1024) };
const auditTrail = ["NotificationRequested", "NotificationQueued", "NotificationStarted", "NotificationSent"];

function launch(variant: HeraldVariant, o: P1Options): Promise<Launched> {
  if (variant === "dapr") return launchDapr({ smtpUrl: o.smtpUrl, redisHost: o.redisHost, env: o.env });
  return launchEmbedded({ smtpUrl: o.smtpUrl, eventStore: variant === "esdb", env: o.env });
}

export async function runHeraldP1(variant: HeraldVariant, o: P1Options): Promise<HeraldP1Result> {
  const herald = await launch(variant, o);
  try {
    const api = client(herald.url);
    const upload = async () => {
      const answer = await withTimeout(api.upload("design", tokens.carol, file), 60_000, "upload");
      if (answer.status !== 202) throw new Error(`upload answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      return (answer.body.notifications as Array<{ notificationId: string }>).map((n) => n.notificationId);
    };
    const mark = logMark(herald.logs);
    const probe = probeProcesses({ ...herald.pids, "bench (uploads + sink)": process.pid });
    const run = await driveLoad({
      count: o.uploads,
      inFlight: o.inFlight,
      send: upload,
      label: `P1 ${variant}`,
      arrivals: o.arrivals,
      timeoutMs: o.timeoutMs,
    });
    const processes = probe.end();
    await sleep(bounded(o.settleMs)); // late copies count as duplicates
    const result = run.summary();
    const audit = deadlinePassed() ? undefined : await checkAudit(api, sample(result.ids, o.audit));
    return { ...result, processes, audit, logIssues: logIssues(herald.logs, mark) };
  } finally {
    await herald.stop();
  }
}

/** Every nth id, so that a sample spans the whole run. */
function sample(ids: string[], size: number): string[] {
  if (size >= ids.length) return ids;
  const step = ids.length / size;
  return Array.from({ length: size }, (_, i) => ids[Math.floor(i * step)]!);
}

async function checkAudit(api: ReturnType<typeof client>, ids: string[]) {
  let complete = 0;
  let firstGap: string | undefined;
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        const { status, body } = await withTimeout(
          api.get(`/api/notifications/${id}/history`, tokens.alice),
          15_000,
          "history",
        );
        const types = new Set(status === 200 ? (body.items as Array<{ type: string }>).map((e) => e.type) : []);
        const missing = auditTrail.filter((t) => !types.has(t));
        if (missing.length === 0) complete += 1;
        else firstGap ??= `${id}: ${status === 200 ? `no ${missing.join(", ")}` : `history answered ${status}`}`;
      } catch (error) {
        firstGap ??= `${id}: ${(error as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return { checked: ids.length, complete, firstGap };
}
