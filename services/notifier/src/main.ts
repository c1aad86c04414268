import { loadConfig, runProcess } from "@herald/core";
import { startNotifier } from "./start-notifier.ts";

// The notifier as its own process, behind its Dapr sidecar (HERALD_MODE=dapr). In embedded
// mode it runs inside the host's process instead (services/embedded).
await runProcess(() => startNotifier(loadConfig()));
