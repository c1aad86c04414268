import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Everything the benchmark starts is registered here as it starts, so that a failure, a
// deadline or Ctrl-C still stops it: stopAll() undoes in reverse order, and if the process
// exits anyway, the children still running get a SIGKILL on the way out.

type Stoppable = { stop(): Promise<void> };
const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
const pids = new Set<number>();
const dirs = new Set<string>();

/** Registers `thing` (and its child process, if it has one) for stopAll(); returns it. */
export function track<T extends Stoppable & { child?: { pid?: number } }>(name: string, thing: T): T {
  const pid = thing.child?.pid;
  if (pid) pids.add(pid);
  const original = thing.stop.bind(thing);
  const entry = {
    name,
    stop: async () => {
      const i = stops.indexOf(entry);
      if (i === -1) return; // stopped already
      stops.splice(i, 1);
      try {
        await original();
      } finally {
        if (pid) pids.delete(pid);
      }
    },
  };
  stops.push(entry);
  return Object.assign(thing, { stop: entry.stop });
}

/** A temp dir removed by stopAll(). */
export function scratchDir(prefix: string, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, `herald-bench-${prefix}-`));
  dirs.add(dir);
  stops.push({
    name: dir,
    stop: async () => {
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  });
  return dir;
}

/** Stops what is still running, last started first; a stop that fails or hangs is reported and skipped. */
export async function stopAll(perStopMs = 30_000) {
  for (const { name, stop } of [...stops].reverse()) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>(
      (_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), perStopMs)),
    );
    await Promise.race([stop(), late])
      .catch((error) => console.error(`bench: stopping ${name}: ${(error as Error).message.split("\n")[0]}`))
      .finally(() => clearTimeout(timer));
  }
  stops.length = 0;
}

let installed = false;
/** Ctrl-C, SIGTERM and exit stop what the run started. */
export function installCleanup() {
  if (installed) return;
  installed = true;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}, stopping what was started`);
      void stopAll(5_000).finally(() => process.exit(130));
    });
  }
  // Last resort: no child or temp dir outlives the run, whatever ended it.
  process.once("exit", () => {
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}
