import { join } from "node:path";
import { type Sidecar, startSidecar } from "./daprd.ts";
import { type EsdbTestServer, startEsdbTestServer } from "./esdb-test-server.ts";
import {
  answers,
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
  /** Stops the web and starts it again, same settings (a new `web`). */
  restartWeb(): Promise<void>;
  stop(): Promise<void>;
};

export async function startDaprTopology(options: {
  set: "local" | "azure";
  /** Environment for the sidecars (what components/<set> reads through envRef). */
  componentEnv: Record<string, string>;
  /** Environment for both apps (SMTP_URL, HERALD_QUEUE, ...). */
  appEnv: Record<string, string>;
}): Promise<DaprTopology> {
  const resources = `components/${options.set}`;
  const store = await startEsdbTestServer({ dataFile: join(tempDir("esdb"), "events.jsonl") });
  const appEnv = { HERALD_MODE: "dapr", EVENTSTORE_URL: store.url, LOG_LEVEL: "info", ...options.appEnv };
  const started: Array<{ stop(): Promise<void> }> = [store];
  try {
    const [notifierPort, notifierDaprPort] = await Promise.all([freePort(), freePort()]);
    // daprd waits for its app's port, and the app needs nothing from daprd to listen: start both.
    const [notifierSidecar, notifier] = await Promise.all([
      startSidecar({
        appId: "notifier",
        appPort: notifierPort,
        httpPort: notifierDaprPort,
        resources,
        env: options.componentEnv,
      }).then((s) => (started.push(s), s)),
      startProcess(
        "notifier",
        process.execPath,
        ["--import", "tsx", "services/notifier/src/main.ts"],
        { ...appEnv, APP_PORT: String(notifierPort), DAPR_HTTP_PORT: String(notifierDaprPort) },
        answers(`http://127.0.0.1:${notifierPort}/healthz`),
      ).then((p) => (started.push(p), p)),
    ]);
    const webSidecar = await startSidecar({ appId: "web", resources, env: options.componentEnv });
    started.push(webSidecar);
    const webEnv = { ...appEnv, DAPR_HTTP_PORT: String(webSidecar.httpPort) };
    const web = await startHerald(webEnv);
    const topology: DaprTopology = {
      web,
      webSidecar,
      notifier: { ...notifier, port: notifierPort },
      notifierSidecar,
      store,
      async restartWeb() {
        await topology.web.stop();
        topology.web = await startHerald({ ...webEnv, PORT: String(topology.web.port) }, topology.web.dataDir);
      },
      stop: async () => {
        await topology.web.stop();
        await stopAll(started);
      },
    };
    return topology;
  } catch (error) {
    await stopAll(started);
    throw error;
  }
}

async function stopAll(started: Array<{ stop(): Promise<void> }>) {
  for (const s of started.reverse()) await s.stop().catch(() => undefined);
}
