import { connect } from "node:net";
import { join } from "node:path";
import { startSidecar } from "../../test/support/daprd.ts";
import { startNotifierBehindSidecar } from "../../test/support/dapr-topology.ts";
import { freePort, startHerald, startProcess } from "../../test/support/herald-process.ts";
import { scratchDir, track } from "./cleanup.ts";

// Herald as the benchmark runs it, from the test support's launchers: spawned as `npm start`
// spawns it (embedded), or the Dapr topology. The EventStoreDB test server runs in a process
// of its own (as `npm run eventstore:dev` runs it), not inside the benchmark's process as
// test/support/dapr-topology.ts runs it: there it would share one event loop with the SMTP
// sink and the load generator, and each would slow the other down.

export type Launched = {
  url: string;
  /** The processes to report peak RSS and CPU for. */
  pids: Record<string, number | undefined>;
  /** What Herald's processes printed so far (pino JSON lines). */
  logs: Record<string, () => string>;
  stop(): Promise<void>;
};

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Where each process's log is now, for logIssues(…, since): the start-up lines are not the run's. */
export const logMark = (logs: Record<string, () => string>) =>
  Object.fromEntries(Object.entries(logs).map(([name, output]) => [name, output().length]));

/** Herald's warnings and errors (pino level ≥ 40) since `since`, per process, with the first message of each. */
export function logIssues(logs: Record<string, () => string>, since: Record<string, number> = {}): string | undefined {
  const found = Object.entries(logs).flatMap(([name, output]) => {
    const issues = output()
      .slice(since[name] ?? 0)
      .split("\n")
      .filter((line) => /"level":(4|5|6)0\b/.test(line));
    if (issues.length === 0) return [];
    let what = issues[0]!;
    try {
      const first = JSON.parse(what) as { msg?: string; err?: { message?: string } };
      what = [first.msg, first.err?.message].filter(Boolean).join(": ");
    } catch {
      // not one JSON line: show it as it is
    }
    return [`${name}: ${issues.length} warnings/errors logged (first: ${what.slice(0, 160)})`];
  });
  return found.length ? found.join("; ") : undefined;
}

export async function launchStore() {
  const port = await freePort();
  const dataFile = join(scratchDir("esdb"), "events.jsonl");
  const store = track(
    "eventstore",
    await startProcess(
      "eventstore test server",
      process.execPath,
      ["--import", "tsx", "test/support/esdb-test-server.ts", "--port", String(port), "--data", dataFile],
      {},
      () => accepts(port),
    ),
  );
  return Object.assign(store, { url: `esdb://127.0.0.1:${port}?tls=false` });
}

/** Things started together, stopped together (last first), also when starting the rest failed. */
function parts() {
  const started: Array<{ stop(): Promise<void> }> = [];
  return {
    add<T extends { stop(): Promise<void> }>(part: T): T {
      started.push(part);
      return part;
    },
    async stop() {
      for (const part of started.splice(0).reverse())
        await part.stop().catch((error) => console.error(`bench: ${(error as Error).message.split("\n")[0]}`));
    },
  };
}

/**
 * The load is thousands of uploads by one user to one group, far past the per-minute limits
 * meant for people: they are lifted here (an --herald-env may set them again).
 */
const unlimitedUploads = {
  HERALD_UPLOADS_PER_USER_PER_MINUTE: "1000000000",
  HERALD_UPLOADS_PER_GROUP_PER_MINUTE: "1000000000",
};

/** Embedded mode (`npm start`): SQLite, or the EventStoreDB test server with `eventStore`. */
export async function launchEmbedded(options: {
  smtpUrl: string;
  eventStore?: boolean;
  env: Record<string, string>;
  dataDir?: string;
}): Promise<Launched> {
  const started = parts();
  try {
    const store = options.eventStore ? started.add(await launchStore()) : undefined;
    const env = {
      SMTP_URL: options.smtpUrl,
      ...(store && { EVENTSTORE_URL: store.url }),
      ...unlimitedUploads,
      ...options.env,
    };
    const herald = started.add(track("herald", await startHerald(env, options.dataDir ?? scratchDir("data"))));
    return {
      url: herald.url,
      pids: { herald: herald.child.pid, ...(store && { eventstore: store.child.pid }) },
      logs: { herald: herald.output },
      stop: started.stop,
    };
  } catch (error) {
    await started.stop();
    throw error;
  }
}

/** Dapr mode with components/local: web and notifier, each behind its daprd, Redis pub/sub and state. */
export async function launchDapr(options: {
  smtpUrl: string;
  redisHost: string;
  env: Record<string, string>;
}): Promise<Launched> {
  const resources = "components/local";
  const componentEnv = { REDIS_HOST: options.redisHost };
  const started = parts();
  try {
    const store = started.add(await launchStore());
    const appEnv = {
      HERALD_MODE: "dapr",
      EVENTSTORE_URL: store.url,
      SMTP_URL: options.smtpUrl,
      HERALD_QUEUE_REDIS_HOST: options.redisHost,
      ...unlimitedUploads,
      ...options.env,
    };
    const { sidecar: notifierSidecar, notifier } = await startNotifierBehindSidecar({
      resources,
      componentEnv,
      appEnv,
      keep: (name, part) => started.add(track(name, part)),
    });
    const webSidecar = started.add(
      track("daprd web", await startSidecar({ appId: "web", resources, env: componentEnv })),
    );
    const webEnv = { ...appEnv, DAPR_HTTP_PORT: String(webSidecar.httpPort) };
    const web = started.add(track("web", await startHerald(webEnv, scratchDir("web"))));
    return {
      url: web.url,
      pids: {
        web: web.child.pid,
        notifier: notifier.child.pid,
        "daprd web": webSidecar.child.pid,
        "daprd notifier": notifierSidecar.child.pid,
        eventstore: store.child.pid,
      },
      logs: { web: web.output, notifier: notifier.output },
      stop: started.stop,
    };
  } catch (error) {
    await started.stop();
    throw error;
  }
}
