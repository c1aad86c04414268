import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { repoRoot, type RunningProcess, startProcess } from "./herald-process.ts";

// Herald's images, built with podman from the Dockerfile (scripts/build-images.sh), and run as
// a cluster would run them: non-root, read-only root file system with tmpfs at /tmp and /data
// (emptyDirs in the Helm chart), every capability dropped, no privilege escalation. Host
// networking, so a container reaches the test's Redis, SMTP sink, event store and daprd, and
// they reach it, on loopback.

const run = promisify(execFile);

/** Builds (or reuses podman's cached layers for) the three images; returns their names. */
export async function buildImages(tag = "test"): Promise<{ web: string; notifier: string; embedded: string }> {
  const { stdout } = await run(`${repoRoot}scripts/build-images.sh`, [tag], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
    timeout: 30 * 60_000,
  }).catch((error: { stderr?: string; message: string }) => {
    throw new Error(`scripts/build-images.sh failed: ${error.message}\n${(error.stderr ?? "").slice(-4000)}`);
  });
  const [web, notifier, embedded] = stdout.trim().split("\n");
  if (!web || !notifier || !embedded) throw new Error(`scripts/build-images.sh printed no image names: ${stdout}`);
  return { web, notifier, embedded };
}

export const podman = async (...args: string[]) =>
  (await run("podman", args, { env: { ...process.env, ...podmanEnv() } })).stdout.trim();

export type Container = RunningProcess & { name: string; exitCode(): number | null };

/**
 * `podman run` in the foreground, ready when `ready()` says so. stop() sends SIGTERM to podman,
 * which hands it to the container's process (Node as PID 1: Herald handles SIGTERM itself).
 */
export async function startContainer(options: {
  name: string;
  image: string;
  env: Record<string, string>;
  /** host path → container path, mounted read-only */
  mounts?: Record<string, string>;
  ready: () => Promise<boolean>;
}): Promise<Container> {
  const name = `${options.name}-${process.pid}-${Date.now().toString(36)}`;
  const args = [
    "run",
    "--rm",
    "--name",
    name,
    "--network",
    "host",
    "--read-only",
    "--mount",
    "type=tmpfs,destination=/tmp,chown=true",
    "--mount",
    "type=tmpfs,destination=/data,chown=true",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    ...Object.entries(options.mounts ?? {}).flatMap(([host, inside]) => ["--volume", `${host}:${inside}:ro`]),
    ...Object.entries(options.env).flatMap(([key, value]) => ["--env", `${key}=${value}`]),
    options.image,
  ];
  const running = await startProcess(options.name, "podman", args, podmanEnv(), options.ready, 120_000);
  return { ...running, name, exitCode: () => running.child.exitCode };
}

/** runc and fixed rlimits, as scripts/build-images.sh sets them (crun fails on these kernels). */
function podmanEnv(): Record<string, string> {
  if (process.env.CONTAINERS_CONF) return {};
  return { CONTAINERS_CONF: `${process.env.XDG_CACHE_HOME ?? `${process.env.HOME}/.cache`}/herald/containers.conf` };
}
