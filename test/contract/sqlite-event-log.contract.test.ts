import { rmSync } from "node:fs";
import { openSqliteEventLog } from "@herald/core/adapters";
import { tempDir } from "../support/herald-process.ts";
import { eventLogContract } from "./event-log.contract.ts";

const dir = tempDir("sqlite-contract");
eventLogContract({
  name: "SQLite (embedded)",
  open: async () => openSqliteEventLog(dir),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
