import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CheckpointStore, Directory, EventLog } from "../ports/index.ts";
import { ConfigError } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

// How a service starts and stops. startWeb / startNotifier return a Running, in a test as in
// a process; runProcess is what an entry file adds: exit code 2 on bad settings, SIGTERM.

/** A started service: where it answers (null when it serves no HTTP), and how to stop it. */
export type Running = { url: string | null; logger: Logger; stop(): Promise<void> };

/**
 * What services in one process share (the embedded host): one logger, one metrics registry,
 * one directory, and one event log (a SQLite file has one owner). Whoever opened them closes them.
 */
export type SharedPlatform = {
  logger: Logger;
  metrics: Metrics;
  directory: Directory;
  eventLog: { log: EventLog; store: EventLog & CheckpointStore };
};

/**
 * Starts an HTTP server on `port`. A port it cannot have is a bad setting, named as such
 * (`variable`), not a stack trace: another process has it, or it needs privileges.
 */
export async function listenOn(
  app: RequestListener,
  port: number,
  variable: string,
): Promise<{ server: Server; port: number }> {
  const server = createServer(app);
  server.listen(port);
  try {
    await once(server, "listening");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new ConfigError(`${variable}: port ${port} is already in use by another process`);
    if (code === "EACCES") throw new ConfigError(`${variable}: port ${port} needs privileges this process lacks`);
    throw error;
  }
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Stops taking connections and resolves once the requests in flight are answered, or after
 * `drainMs`, when the connections still open are cut (an upload that trickles, a client that
 * stalls). Connections kept alive between requests (a Dapr sidecar keeps its own open between
 * deliveries) are closed as soon as they are idle: server.close() alone waits for their
 * clients to hang up, which a sidecar that is still running never does.
 */
export async function closeServer(server: Server, drainMs = 5000): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const cut = setTimeout(() => server.closeAllConnections(), drainMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
}

/**
 * Runs `run` now, and again `intervalMs` after each run ends: one run at a time, never two at
 * once. `run` handles its own failures (a rejection would end the repetition). stop() ends it
 * and waits for the run under way.
 */
export function repeatEvery(intervalMs: number, run: () => Promise<void>): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = run().finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/**
 * Shutdown is bounded: a call that never returns (a sidecar or store that stopped answering
 * mid-request) must not keep a stopping process alive. Whatever was in flight is redelivered.
 */
function exitWithin(ms: number, logger: Logger): void {
  setTimeout(() => {
    logger.warn({ graceMs: ms }, "shutdown did not finish in time; exiting");
    process.exit(1);
  }, ms).unref();
}

/**
 * Starts an entry process: a setting that cannot work (ConfigError) ends it with exit code 2
 * and a message naming the variable, not a stack trace. Once started, SIGTERM and SIGINT
 * stop it, within graceMs whatever is in flight.
 */
export async function runProcess(
  start: () => Promise<Running>,
  { graceMs = 10_000 }: { graceMs?: number } = {},
): Promise<void> {
  const running = await Promise.resolve().then(start).catch(exitOnConfigError);
  const { logger } = running;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    exitWithin(graceMs, logger);
    await running.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));
}

/** A one-shot command (npm run replay, revoke-token): exit 0 when done, 2 on bad settings. */
export async function runCommand(main: () => Promise<void>): Promise<never> {
  await Promise.resolve().then(main).catch(exitOnConfigError);
  process.exit(0);
}

function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}
