import { ConfigError, loadConfig, runProcess } from "@herald/core";
import { startWeb } from "./start-web.ts";

// The web as its own process, behind its Dapr sidecar (HERALD_MODE=dapr): the API, the read
// models and the relay. Embedded mode (`npm start`) runs the host in services/embedded.
await runProcess(async () => {
  const config = loadConfig();
  if (config.HERALD_MODE !== "dapr") {
    throw new ConfigError("HERALD_MODE: the web runs on its own only in dapr mode; `npm start` runs embedded mode");
  }
  return startWeb(config);
});
