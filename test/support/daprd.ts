import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { answers, freePort, repoRoot, type RunningProcess, startProcess } from "./herald-process.ts";

// Real daprd sidecars for integration tests. The binary comes from scripts/get-daprd.sh (the
// same lookup a developer gets: DAPRD, PATH, ~/.dapr/bin, or a cached build). If there is none
// the test fails and says how to get one: these tests are never skipped.

let cached: string | undefined;
export function daprdPath(): string {
  if (cached) return cached;
  try {
    cached = execFileSync(join(repoRoot, "scripts/get-daprd.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
  } catch {
    throw new Error(
      "daprd is required for the Dapr integration tests and could not be found or built. " +
        "Run scripts/get-daprd.sh (it builds daprd from the Go module), install the Dapr CLI and run `dapr init`, or set DAPRD.",
    );
  }
  return cached;
}

export type Sidecar = RunningProcess & {
  appId: string;
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  url: string;
};

export async function startSidecar(options: {
  appId: string;
  appPort?: number;
  /** The sidecar's HTTP port, when the app must know it before the sidecar starts. */
  httpPort?: number;
  /** components/local or components/azure */
  resources: string;
  env?: Record<string, string>;
}): Promise<Sidecar> {
  const [freeHttpPort, grpcPort, metricsPort, internalPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const httpPort = options.httpPort ?? freeHttpPort;
  const args = [
    "--app-id",
    options.appId,
    "--dapr-http-port",
    String(httpPort),
    "--dapr-grpc-port",
    String(grpcPort),
    "--dapr-internal-grpc-port",
    String(internalPort),
    "--metrics-port",
    String(metricsPort),
    "--resources-path",
    resolve(repoRoot, options.resources),
    "--config",
    join(repoRoot, "components/config.yaml"),
    "--log-level",
    "warn",
    // While its app is down (a crash, a restart) the sidecar pauses deliveries instead of
    // spending their retries on a dead port: the same settings as dapr.yaml.
    ...(options.appPort
      ? [
          "--app-port",
          String(options.appPort),
          "--enable-app-health-check",
          "--app-health-check-path",
          "/healthz",
          "--app-health-probe-interval",
          "1",
          "--app-health-threshold",
          "2",
        ]
      : []),
  ];
  const url = `http://127.0.0.1:${httpPort}`;
  // /healthz/outbound: the sidecar and its components are up, whether or not the app is yet.
  const running = await startProcess(
    `daprd ${options.appId}`,
    daprdPath(),
    args,
    options.env ?? {},
    answers(`${url}/v1.0/healthz/outbound`),
  );
  return { ...running, appId: options.appId, httpPort, grpcPort, metricsPort, url };
}
