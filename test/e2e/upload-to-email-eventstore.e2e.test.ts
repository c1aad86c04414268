import { after } from "node:test";
import { type EsdbTestServer, startEsdbTestServer } from "../support/esdb-test-server.ts";
import { uploadToEmailSuite } from "./upload-to-email.suite.ts";

// The same story with EVENTSTORE_URL set: the official client talking to the repo's
// EventStoreDB protocol test server (or to a real EventStoreDB, if EVENTSTORE_URL is set).

let server: EsdbTestServer | undefined;
after(async () => server?.stop());

uploadToEmailSuite("EventStoreDB event log", async () => {
  if (process.env.EVENTSTORE_URL) return { EVENTSTORE_URL: process.env.EVENTSTORE_URL };
  server = await startEsdbTestServer();
  return { EVENTSTORE_URL: server.url };
});
