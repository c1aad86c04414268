import { join } from "node:path";
import { createConnection } from "node:net";
import { freePort, type RunningProcess, startProcess, tempDir } from "./herald-process.ts";

// A Redis server of the test's own (Debian's redis-server), on a free port, with AOF on.

export type Redis = RunningProcess & { port: number; host: string; dir: string };

export async function startRedis(options: { port?: number; dir?: string } = {}): Promise<Redis> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? tempDir("redis");
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--dir",
    dir,
    "--logfile",
    join(dir, "redis.log"),
  ];
  const running = await startProcess("redis-server", "redis-server", args, {}, () => ping(port));
  return { ...running, port, host: `127.0.0.1:${port}`, dir };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" }, () => socket.write("PING\r\n"));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    socket.once("error", () => resolve(false));
  });
}
