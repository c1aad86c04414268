import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// BullMQ is the baseline's dependency, not Herald's, so it is not in package.json: it is
// installed on first use into a cache outside the repo. In package.json it broke `npm ci`:
// its optional native helper (msgpackr-extract) has per-platform packages that the npm
// registry these machines reach does not all serve, so package-lock.json could not list them
// and `npm ci` refused the lock as out of sync.

const version = "6.7.0";
/** BullMQ 6 takes ioredis as a peer: it must be installed beside it. */
const packages = [`bullmq@${version}`, "ioredis@6.0.0"];
const dir = join(process.env.HERALD_CACHE_DIR ?? join(homedir(), ".cache", "herald"), `bench-bullmq-${version}`);

type Connection = { connection: { host: string; port: number } };
type Job = { data: { id: string; to: string } };
type Closable = { close(): Promise<void>; on(event: "error", listener: (error: unknown) => void): unknown };

/** What the baseline uses of BullMQ. */
export type BullMQ = {
  Queue: new (
    name: string,
    options: Connection,
  ) => Closable & {
    addBulk(jobs: Array<{ name: string; data: Job["data"]; opts: Record<string, unknown> }>): Promise<unknown>;
  };
  Worker: new (
    name: string,
    process: (job: Job) => Promise<void>,
    options: Connection & { concurrency: number },
  ) => Closable & { waitUntilReady(): Promise<unknown> };
};

export async function loadBullmq(): Promise<BullMQ> {
  const entry = join(dir, "node_modules", "bullmq", "package.json");
  if (!existsSync(entry)) {
    mkdirSync(dir, { recursive: true });
    console.error(`bench: installing bullmq@${version} into ${dir} (first use only)`);
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, ...packages], {
      stdio: ["ignore", "ignore", "inherit"],
    });
  }
  const main = join(dir, "node_modules", "bullmq", "dist", "cjs", "index.js");
  // A CommonJS module: Node puts its exports on `default`, and lists the names it can detect.
  const module = (await import(pathToFileURL(main).href)) as BullMQ & { default?: BullMQ };
  return module.default?.Worker ? module.default : module;
}
