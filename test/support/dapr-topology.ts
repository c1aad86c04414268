import { join } from "node:path";
import { type Sidecar, startSidecar } from "./daprd.ts";
import { type EsdbTestServer, startEsdbTestServer } from "./esdb-test-server.ts";
import { type Redis, startRedis } from "./redis.ts";
import { type SmtpSink, startSmtpSink } from "./smtp-sink.ts";
import {
  answers,
  eventually,
  freePort,
  type HeraldProcess,
  type RunningProcess,
  startHerald,
  startProcess,
  tempDir,
} from "./herald-process.ts";

// Herald as users run it in Dapr mode: the web and the notifier as separate processes, each
// behind its own daprd, with the event log on the EventStoreDB protocol test server.

export type DaprTopology = {
  web: HeraldProcess;
  webSidecar: Sidecar;
  notifier: RunningProcess & { port: number };
  notifierSidecar: Sidecar;
  store: EsdbTestServer;
  /** Stops the web (SIGKILL when `kill`) and starts it again, same settings (a new `web`). */
  restartWeb(options?: { kill?: boolean }): Promise<void>;
  /**
   * SIGKILLs the notifier process (its sidecar stays), then starts it again on the same port,
   * after `downMs` (default: at once).
   */
  restartNotifier(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  /** Kills the event store (a crash) and starts it again after `downMs`, same port and data. */
  restartStore(options: { downMs: number }): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The notifier process and its daprd, started together: daprd waits for its app's port, and
 * the app needs nothing from daprd to listen. Each is handed to `keep` as soon as it runs, so
 * the caller can stop what started if the other fails. `start()` starts the process alone
 * again, on the same ports (after a kill).
 */
export async function startNotifierBehindSidecar(options: {
  resources: string;
  componentEnv: Record<string, string>;
  appEnv: Record<string, string>;
  keep: <T extends { stop(): Promise<void> }>(name: "notifier" | "daprd notifier", part: T) => T;
}) {
  const [port, daprPort] = await Promise.all([freePort(), freePort()]);
  const start = () =>
    startProcess(
      "notifier",
      process.execPath,
      ["--import", "tsx", "services/notifier/src/main.ts"],
      { ...options.appEnv, APP_PORT: String(port), DAPR_HTTP_PORT: String(daprPort) },
      answers(`http://127.0.0.1:${port}/healthz`),
    );
  const [sidecar, notifier] = await Promise.all([
    startSidecar({
      appId: "notifier",
      appPort: port,
      httpPort: daprPort,
      resources: options.resources,
      env: options.componentEnv,
    }).then((s) => options.keep("daprd notifier", s)),
    start().then((p) => options.keep("notifier", p)),
  ]);
  return { sidecar, notifier, port, start };
}

export async function startDaprTopology(options: {
  set: "local" | "azure";
  /** Environment for the sidecars (what components/<set> reads through envRef). */
  componentEnv: Record<string, string>;
  /** Environment for both apps (SMTP_URL, HERALD_QUEUE, ...). */
  appEnv: Record<string, string>;
}): Promise<DaprTopology> {
  const resources = `components/${options.set}`;
  const storeData = join(tempDir("esdb"), "events.jsonl");
  const store = await startEsdbTestServer({ dataFile: storeData });
  const appEnv = { HERALD_MODE: "dapr", EVENTSTORE_URL: store.url, LOG_LEVEL: "info", ...options.appEnv };
  let topology: DaprTopology | undefined;
  // The store may have been restarted by then: stop the one running.
  const started: Array<{ stop(): Promise<void> }> = [{ stop: async () => (topology?.store ?? store).stop() }];
  try {
    const {
      sidecar: notifierSidecar,
      notifier,
      port: notifierPort,
      start: startNotifier,
    } = await startNotifierBehindSidecar({
      resources,
      componentEnv: options.componentEnv,
      appEnv,
      keep: (_name, part) => (started.push(part), part),
    });
    const webSidecar = await startSidecar({ appId: "web", resources, env: options.componentEnv });
    started.push(webSidecar);
    const webEnv = { ...appEnv, DAPR_HTTP_PORT: String(webSidecar.httpPort) };
    const web = await startHerald(webEnv);
    const running: DaprTopology = {
      web,
      webSidecar,
      notifier: { ...notifier, port: notifierPort },
      notifierSidecar,
      store,
      async restartWeb({ kill = false } = {}) {
        await (kill ? running.web.kill() : running.web.stop());
        running.web = await startHerald({ ...webEnv, PORT: String(running.web.port) }, running.web.dataDir);
      },
      async restartNotifier({ kill = true, downMs = 0 } = {}) {
        await (kill ? running.notifier.kill() : running.notifier.stop());
        await new Promise((r) => setTimeout(r, downMs));
        running.notifier = { ...(await startNotifier()), port: notifierPort };
      },
      async restartStore({ downMs }) {
        await running.store.kill();
        await new Promise((r) => setTimeout(r, downMs));
        running.store = await startEsdbTestServer({ port: store.port, dataFile: storeData });
      },
      stop: async () => {
        await running.web.stop();
        await running.notifier.stop();
        await stopAll(started);
      },
    };
    topology = running;
    return running;
  } catch (error) {
    await stopAll(started);
    throw error;
  }
}

async function stopAll(started: Array<{ stop(): Promise<void> }>) {
  for (const s of started.reverse()) await s.stop().catch(() => undefined);
}

/** The local component set end to end: a Redis and an SMTP sink of the test's own, and Herald on them. */
export type LocalDaprHerald = { redis: Redis; sink: SmtpSink; herald: DaprTopology; stop(): Promise<void> };

export async function startLocalDaprHerald(appEnv: Record<string, string> = {}): Promise<LocalDaprHerald> {
  const redis = await startRedis();
  const sink = await startSmtpSink();
  const herald = await startDaprTopology({
    set: "local",
    componentEnv: { REDIS_HOST: redis.host },
    appEnv: { SMTP_URL: sink.url, HERALD_QUEUE_REDIS_HOST: redis.host, ...appEnv },
  });
  const local: LocalDaprHerald = {
    redis,
    sink,
    herald,
    async stop() {
      await local.herald.stop();
      await local.redis.stop();
      await local.sink.close();
    },
  };
  return local;
}

/** A notification table row, read as any client would: through a sidecar's state API. */
export async function stateRow(sidecar: Sidecar, notificationId: string) {
  const res = await fetch(`${sidecar.url}/v1.0/state/notification-state/notification-${notificationId}`);
  return res.status === 200 ? await res.json() : undefined;
}

/** Polls the notification table row until it says `status`. */
export async function stateRowWhen(sidecar: Sidecar, notificationId: string, status: string, timeoutMs = 10_000) {
  return eventually(
    async () => {
      const row = await stateRow(sidecar, notificationId);
      return row?.status === status ? row : undefined;
    },
    timeoutMs,
    `the state row of ${notificationId} to say ${status}`,
  );
}
