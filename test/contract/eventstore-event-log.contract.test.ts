import { rmSync } from "node:fs";
import { join } from "node:path";
import { openEventStoreEventLog } from "@herald/core/adapters";
import { type EsdbTestServer, startEsdbTestServer } from "../support/esdb-test-server.ts";
import { tempDir } from "../support/herald-process.ts";
import { eventLogContract } from "./event-log.contract.ts";

// The EventStoreDB adapter, through the official client, against the repo's protocol test
// server (EventStoreDB itself cannot run here), and against a real EventStoreDB whenever
// EVENTSTORE_URL is set.

const dir = tempDir("esdb-contract");
let server: EsdbTestServer;
eventLogContract({
  name: "EventStoreDB adapter on the protocol test server",
  open: async () => {
    server = await startEsdbTestServer({ dataFile: join(dir, "events.jsonl") });
    return openEventStoreEventLog(server.url);
  },
  cleanup: async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  },
});

if (process.env.EVENTSTORE_URL) {
  eventLogContract({
    name: `EventStoreDB adapter on ${process.env.EVENTSTORE_URL}`,
    open: async () => openEventStoreEventLog(process.env.EVENTSTORE_URL!),
  });
}
