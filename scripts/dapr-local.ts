// `npm run dapr:local`: the whole Dapr topology on this machine, without the Dapr CLI.
// What `dapr run -f .` would start, with the flags dapr.yaml gives: the web and the notifier,
// each behind its own daprd (components/local), a Redis of its own, the EventStoreDB protocol
// test server, and a mail catcher that prints each email it receives. daprd is found or built
// by scripts/get-daprd.sh, as for the tests (the same topology the fault suite runs).
// Ctrl-C stops everything. Set PORT for the web (default 8080).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const logDir = mkdtempSync(join(tmpdir(), "herald-dapr-"));
process.env.HERALD_PROCESS_LOG_DIR = logDir;

// Loaded after the log dir is set: the process helpers read it as they spawn.
const { startRedis } = await import("../test/support/redis.ts");
const { startSmtpSink } = await import("../test/support/smtp-sink.ts");
const { startDaprTopology } = await import("../test/support/dapr-topology.ts");

const port = process.env.PORT ?? "8080";
console.log("starting Redis, the event store, the mail catcher, two sidecars, web and notifier...");
const redis = await startRedis();
const mail = await startSmtpSink();
const herald = await startDaprTopology({
  set: "local",
  componentEnv: { REDIS_HOST: redis.host },
  appEnv: { SMTP_URL: mail.url, PORT: port, LOG_LEVEL: "info" },
});

console.log(
  [
    "",
    `Herald (Dapr mode) is running: open ${herald.web.url}/ and paste a token (dev-alice-token, dev-carol-token, ...).`,
    `  web ${herald.web.url} (metrics /metrics), its daprd ${herald.webSidecar.url}`,
    `  notifier http://127.0.0.1:${herald.notifier.port} (metrics /metrics), its daprd ${herald.notifierSidecar.url}`,
    `  Redis ${redis.host}, event store ${herald.store.url}, mail catcher ${mail.url}`,
    `  logs: ${logDir}/*.log (tail -f ${logDir}/notifier.log)`,
    "Emails appear below as the catcher receives them. Ctrl-C stops everything.",
    "",
  ].join("\n"),
);

let shown = 0;
const showMail = setInterval(() => {
  for (const message of mail.messages.slice(shown)) {
    console.log(`mail to ${message.to && "text" in message.to ? message.to.text : "?"}: ${message.subject}`);
  }
  shown = mail.messages.length;
}, 500);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(showMail);
  console.log("stopping...");
  await herald.stop().catch((error) => console.error(error));
  await redis.stop().catch(() => undefined);
  await mail.close().catch(() => undefined);
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
