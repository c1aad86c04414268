import { rmSync } from "node:fs";
import { simpleParser } from "mailparser";
import { createOutboxMailer, type OutboxMailer } from "@herald/core/adapters";
import { tempDir } from "../support/herald-process.ts";
import { mailerContract, receivedMail } from "./mailer.contract.ts";

// The outbox mailer: no server, each email written to a folder. What "arrived" is what its
// list() and read() show (what the web's /outbox page shows), parsed as a mail client would.

const dir = tempDir("outbox-contract");
let outbox: OutboxMailer | undefined;
mailerContract({
  name: "outbox (folder)",
  verifies: false,
  async open() {
    outbox = createOutboxMailer(dir, "herald@example.test");
    return outbox;
  },
  async received() {
    const entries = (await outbox!.list()).reverse(); // list() is newest first
    return Promise.all(entries.map(async (entry) => receivedMail(await simpleParser(await outbox!.read(entry.file)))));
  },
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
