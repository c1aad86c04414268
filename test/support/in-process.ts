import { loadConfig } from "@herald/core";
import { startEmbedded } from "@herald/embedded";
import { tempDir } from "./herald-process.ts";

// Herald started inside the test's own process, through the same composition root `npm start`
// uses (startEmbedded), on port 0 (or env's PORT, for a test whose HERALD_PUBLIC_URL must name
// it): real HTTP, real SMTP and stores, no child process. Tests
// that kill or restart Herald, or read its exit code, spawn it instead (herald-process.ts).

export type InProcessHerald = { url: string; port: number; dataDir: string; stop(): Promise<void> };

export async function startHeraldInProcess(
  env: Record<string, string> = {},
  dataDir = tempDir("data"),
): Promise<InProcessHerald> {
  const config = loadConfig({ LOG_LEVEL: "silent", PORT: "0", ...env, HERALD_DATA_DIR: dataDir });
  const herald = await startEmbedded(config);
  return { url: herald.url, port: Number(new URL(herald.url).port), dataDir, stop: herald.stop };
}
