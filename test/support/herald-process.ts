import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Starts Herald as a child process exactly as `npm start` does (the same node command the
// start script runs), on a free port, and waits until /readyz answers.

export const repoRoot = new URL("../../", import.meta.url).pathname;

/** The command of package.json's "start" script, without npm in between (so kill hits Herald). */
export const startCommand = ["--import", "tsx", "services/embedded/src/main.ts"];
/** The web alone, as Dapr mode runs it (package.json's "web" script). */
export const webCommand = ["--import", "tsx", "services/web/src/main.ts"];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `herald-${prefix}-`));

/** A child process of a test, with what it printed, and ways to end it. */
export type RunningProcess = {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output: () => string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: no shutdown code runs. */
  kill(): Promise<void>;
};

/** How long a process may take to exit after SIGTERM before it is killed and the test fails. */
const stopGraceMs = 20_000;

/**
 * Spawns `command args` and waits (bounded) until ready() answers true. If the process exits
 * or never gets ready, throws with everything it printed.
 */
export async function startProcess(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<RunningProcess> {
  const { child, output } = spawnCaptured(command, args, env, name);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output()}`);
    if (await ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} not ready after ${timeoutMs / 1000} s:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const running = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (running()) child.kill("SIGKILL");
    await exited;
  };
  // A process that ignores SIGTERM would hang the suite; it fails it instead, saying why.
  const stop = async () => {
    if (running()) child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), stopGraceMs)));
    const timedOut = await Promise.race([exited.then(() => false), late]);
    clearTimeout(timer);
    if (timedOut) {
      await kill();
      throw new Error(`${name} did not exit within ${stopGraceMs / 1000} s of SIGTERM:\n${output().slice(-6000)}`);
    }
  };
  return { child, output, stop, kill };
}

export const answers = (url: string) => () =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  );

export type HeraldProcess = RunningProcess & { url: string; port: number; dataDir: string };

/** Herald as `npm start` starts it (embedded), or its web alone when env says HERALD_MODE=dapr. */
export async function startHerald(env: Record<string, string> = {}, dataDir = tempDir("data")): Promise<HeraldProcess> {
  const port = Number(env.PORT ?? (await freePort()));
  const url = `http://127.0.0.1:${port}`;
  const running = await startProcess(
    "Herald",
    process.execPath,
    env.HERALD_MODE === "dapr" ? webCommand : startCommand,
    { LOG_LEVEL: "info", ...env, PORT: String(port), HERALD_DATA_DIR: dataDir },
    answers(`${url}/readyz`),
  );
  return { ...running, url, port, dataDir };
}

/** Runs Herald expecting it to refuse to start; resolves with its exit code and output. */
export function startHeraldExpectingFailure(env: Record<string, string>) {
  return startProcessToExit(startCommand, { HERALD_DATA_DIR: tempDir("bad"), PORT: "0", ...env });
}

/** Runs `node args` to its end (killed after timeoutMs); resolves with its exit code and output. */
export async function startProcessToExit(args: string[], env: Record<string, string>, timeoutMs = 30_000) {
  const { child, output } = spawnCaptured(process.execPath, args, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output: output() };
}

/**
 * Spawns in the repo root with the test's environment plus `env`, keeping all it prints. With
 * HERALD_PROCESS_LOG_DIR set, each named process's output also goes to `<dir>/<name>.log`
 * (scripts/dapr-local.ts shows developers where to look; a failing suite can be read after).
 */
function spawnCaptured(command: string, args: string[], env: Record<string, string>, name?: string) {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let printed = "";
  const logDir = process.env.HERALD_PROCESS_LOG_DIR;
  const file =
    logDir && name ? createWriteStream(join(logDir, `${name.replaceAll(" ", "-")}.log`), { flags: "a" }) : null;
  const keep = (d: Buffer) => {
    printed += d;
    if (file) {
      file.write(d);
      // It is all in the file: a long-running process keeps only its recent output in memory.
      if (printed.length > 4_000_000) printed = printed.slice(-1_000_000);
    }
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  child.once("exit", () => file?.end());
  return { child, output: () => printed };
}

/** Polls until check() returns a value that is not undefined. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
