import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Azurite (the Azure Storage emulator, an npm devDependency) as a child process on free ports,
// for daprd sidecars using components/azure (Storage Queues binding, Table Storage state store)
// and for Herald's blob adapter.

export type Azurite = {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  account: "devstoreaccount1";
  key: string;
  /** env for daprd sidecars using components/azure and for Herald's blob adapter */
  env: {
    AZURE_STORAGE_ACCOUNT: string;
    AZURE_STORAGE_KEY: string;
    /** scheme://host:port only: the Storage Queues binding appends "/<account>/" itself. */
    AZURE_QUEUE_ENDPOINT: string;
    /** Full service URL including the account, as state.azure.tablestorage's serviceURL wants. */
    AZURE_TABLE_ENDPOINT: string;
    AZURE_STORAGE_CONNECTION_STRING: string;
  };
  stop(): Promise<void>;
};

/** Azurite's well-known development account (public, documented by Microsoft). */
const ACCOUNT = "devstoreaccount1" as const;
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const ATTEMPTS = 3;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function freePort(): Promise<number> {
  return await new Promise<number>((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((done) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(1_000);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      done(false);
    });
    socket.once("error", () => done(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise<boolean>((done) => {
    const timer = setTimeout(() => done(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      done(true);
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (await waitForExit(child, STOP_TIMEOUT_MS)) return;
  child.kill("SIGKILL");
  await waitForExit(child, STOP_TIMEOUT_MS);
}

async function startOnce(bin: string): Promise<Azurite> {
  const [blobPort, queuePort, tablePort] = (await distinctFreePorts(3)) as [number, number, number];
  // In memory (Azurite refuses --location with --inMemoryPersistence); run it in a temp cwd so
  // that nothing it might write lands in the repo.
  const location = mkdtempSync(join(tmpdir(), "herald-azurite-"));
  const args = [
    "--silent",
    "--disableTelemetry",
    "--skipApiVersionCheck",
    "--inMemoryPersistence",
    "--blobHost",
    HOST,
    "--blobPort",
    String(blobPort),
    "--queueHost",
    HOST,
    "--queuePort",
    String(queuePort),
    "--tableHost",
    HOST,
    "--tablePort",
    String(tablePort),
  ];
  const child = spawn(bin, args, { cwd: location, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let spawnError: Error | undefined;
  child.on("error", (err) => {
    spawnError = err;
  });
  const cleanup = () => rmSync(location, { recursive: true, force: true });

  const deadline = Date.now() + START_TIMEOUT_MS;
  const ports = [blobPort, queuePort, tablePort];
  for (;;) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await kill(child);
      cleanup();
      throw new Error(
        `Azurite exited before listening (code ${child.exitCode}, signal ${child.signalCode}` +
          `${spawnError ? `, ${spawnError.message}` : ""}); ports ${ports.join(",")}; output:\n${output}`,
      );
    }
    const up = await Promise.all(ports.map(accepts));
    if (up.every(Boolean)) break;
    if (Date.now() > deadline) {
      await kill(child);
      cleanup();
      const down = ports.filter((_, i) => !up[i]);
      throw new Error(
        `Azurite did not accept connections on ${down.join(",")} within ${START_TIMEOUT_MS} ms; output:\n${output}`,
      );
    }
    await sleep(100);
  }

  const base = `http://${HOST}`;
  const env = {
    AZURE_STORAGE_ACCOUNT: ACCOUNT,
    AZURE_STORAGE_KEY: KEY,
    AZURE_QUEUE_ENDPOINT: `${base}:${queuePort}`,
    AZURE_TABLE_ENDPOINT: `${base}:${tablePort}/${ACCOUNT}`,
    AZURE_STORAGE_CONNECTION_STRING:
      `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};` +
      `BlobEndpoint=${base}:${blobPort}/${ACCOUNT};` +
      `QueueEndpoint=${base}:${queuePort}/${ACCOUNT};` +
      `TableEndpoint=${base}:${tablePort}/${ACCOUNT};`,
  };

  let stopping: Promise<void> | undefined;
  return {
    blobPort,
    queuePort,
    tablePort,
    account: ACCOUNT,
    key: KEY,
    env,
    stop() {
      stopping ??= kill(child).finally(cleanup);
      return stopping;
    },
  };
}

/**
 * Starts Azurite (blob, queue, table) in memory on free ports of 127.0.0.1 and waits until all
 * three accept connections. Retries on a port race; fails with Azurite's output otherwise.
 */
export async function startAzurite(): Promise<Azurite> {
  const bin = join(repoRoot, "node_modules", ".bin", process.platform === "win32" ? "azurite.cmd" : "azurite");
  if (!existsSync(bin)) throw new Error(`Azurite not found at ${bin}: run npm install (devDependency "azurite")`);
  let last: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      return await startOnce(bin);
    } catch (err) {
      last = err;
      // Only a process that died early (e.g. EADDRINUSE after the port race) is worth a retry.
      if (!(err instanceof Error) || !err.message.startsWith("Azurite exited")) throw err;
    }
  }
  throw last;
}
