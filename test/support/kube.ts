import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { request } from "node:https";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, repoRoot, type RunningProcess, startProcess, tempDir } from "./herald-process.ts";

// A real Kubernetes API server for server-side validation (`kubectl apply --dry-run=server`):
// etcd and kube-apiserver built from their Go modules by scripts/get-kube.sh (or found on the
// machine), started on loopback ports with temporary directories, with the CRDs the chart's
// objects need (scripts/get-crds.sh: Dapr, KEDA, prometheus-operator, from their Go modules)
// applied and Established. There is no controller-manager, scheduler or kubelet: nothing runs,
// the server only validates and admits (or stores) objects.

export type KubeBinaries = { etcd: string; apiserver: string; kubectl: string };

let binaries: KubeBinaries | undefined;
/** etcd, kube-apiserver and kubectl from scripts/get-kube.sh; throws (never skips) without them. */
export function kubeBinaries(): KubeBinaries {
  if (binaries) return binaries;
  let out: string;
  try {
    out = execFileSync(join(repoRoot, "scripts/get-kube.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
  } catch {
    throw new Error(
      "etcd, kube-apiserver and kubectl are required for the server-side checks and could not be found or built. " +
        "Run scripts/get-kube.sh (it builds them from the Go modules), or set ETCD, KUBE_APISERVER and KUBECTL.",
    );
  }
  const [etcd, apiserver, kubectl] = out.trim().split("\n");
  if (!etcd || !apiserver || !kubectl) throw new Error(`scripts/get-kube.sh printed ${JSON.stringify(out)}`);
  binaries = { etcd, apiserver, kubectl };
  return binaries;
}

/** The CRD files from scripts/get-crds.sh (Go modules of Dapr, KEDA, prometheus-operator). */
export function crdFiles(): string[] {
  try {
    return execFileSync(join(repoRoot, "scripts/get-crds.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    })
      .trim()
      .split("\n");
  } catch {
    throw new Error("the Dapr, KEDA and prometheus-operator CRDs could not be found: run scripts/get-crds.sh");
  }
}

export type KubectlResult = { status: number; stdout: string; stderr: string };

export type KubeApiServer = {
  url: string;
  kubeconfig: string;
  /** Runs the matching kubectl against this server; never throws. */
  kubectl(args: string[], input?: string): KubectlResult;
  /** kubectl that must succeed: throws with its output otherwise. */
  kubectlOk(args: string[], input?: string): string;
  stop(): Promise<void>;
};

const token = "herald-test-admin-token";

/** GET path on the API server with the admin token; true on a 200 answer. */
const answersOk = (url: string) => () =>
  new Promise<boolean>((resolve) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });

const etcdHealthy = (url: string) => async () => {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
  return res.ok && ((await res.json()) as { health?: string }).health === "true";
};

/**
 * Starts etcd and kube-apiserver, applies the CRDs (`kubectl apply --server-side`), waits for
 * them to be Established and creates the namespaces given (with their `default`
 * ServiceAccount, which a controller-manager would create).
 */
export async function startKubeApiServer(namespaces: string[] = []): Promise<KubeApiServer> {
  const bin = kubeBinaries();
  const crds = crdFiles();
  const dir = tempDir("kube");
  const processes: RunningProcess[] = [];
  const stopAll = async () => {
    for (const p of processes.reverse()) await p.stop().catch(() => p.kill());
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [clientPort, peerPort, securePort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    processes.push(
      await startProcess(
        "etcd",
        bin.etcd,
        [
          "--name=default",
          `--data-dir=${join(dir, "etcd")}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=default=${peerUrl}`,
          "--unsafe-no-fsync",
          "--log-level=warn",
        ],
        {},
        etcdHealthy(etcdUrl),
        30_000,
      ),
    );

    const { publicKey, privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    writeFileSync(join(dir, "sa.pub"), publicKey);
    writeFileSync(join(dir, "sa.key"), privateKey, { mode: 0o600 });
    writeFileSync(join(dir, "tokens.csv"), `${token},admin,admin,system:masters\n`, { mode: 0o600 });
    mkdirSync(join(dir, "certs"));
    const url = `https://127.0.0.1:${securePort}`;
    processes.push(
      await startProcess(
        "kube-apiserver",
        bin.apiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          "--bind-address=127.0.0.1",
          `--secure-port=${securePort}`,
          `--cert-dir=${join(dir, "certs")}`,
          `--token-auth-file=${join(dir, "tokens.csv")}`,
          "--authorization-mode=RBAC",
          "--service-account-issuer=https://kubernetes.default.svc",
          `--service-account-key-file=${join(dir, "sa.pub")}`,
          `--service-account-signing-key-file=${join(dir, "sa.key")}`,
          "--service-cluster-ip-range=10.96.0.0/16",
          "--profiling=false",
        ],
        {},
        answersOk(`${url}/readyz`),
        90_000,
      ),
    );

    // Loopback only, a certificate the server made for itself: skip its verification.
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "test", cluster: { server: url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "admin", user: { token } }],
        contexts: [{ name: "test", context: { cluster: "test", user: "admin" } }],
        "current-context": "test",
      }),
      { mode: 0o600 },
    );
    const cacheDir = join(dir, "kubectl-cache");
    const kubectl = (args: string[], input?: string): KubectlResult => {
      const r = spawnSync(bin.kubectl, [`--kubeconfig=${kubeconfig}`, `--cache-dir=${cacheDir}`, ...args], {
        cwd: repoRoot,
        input,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        timeout: 120_000,
      });
      return {
        status: r.status ?? -1,
        stdout: r.stdout ?? "",
        stderr: (r.stderr ?? "") + (r.error ? String(r.error) : ""),
      };
    };
    const kubectlOk = (args: string[], input?: string) => {
      const r = kubectl(args, input);
      if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.status}):\n${r.stdout}${r.stderr}`);
      return r.stdout;
    };

    kubectlOk(["apply", "--server-side", ...crds.flatMap((f) => ["-f", f])]);
    kubectlOk(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
    for (const ns of namespaces) {
      kubectlOk(["create", "namespace", ns]);
      kubectlOk(["-n", ns, "create", "serviceaccount", "default"]);
    }
    return { url, kubeconfig, kubectl, kubectlOk, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
