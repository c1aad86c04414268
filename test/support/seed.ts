import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tokens } from "./api-client.ts";
import { tempDir } from "./herald-process.ts";

// Seeds for tests that arrange groups of their own (HERALD_SEED), with the demo seed's people
// and their tokens (api-client.ts), so a test says only who is admin and member of what.

const people = {
  alice: { id: "alice", email: "alice@example.test", name: "Alice Admin", token: tokens.alice },
  bob: { id: "bob", email: "bob@example.test", name: "Bob Admin", token: tokens.bob },
  carol: { id: "carol", email: "carol@example.test", name: "Carol Member", token: tokens.carol },
  dave: { id: "dave", email: "dave@example.test", name: "Dave Outsider", token: tokens.dave },
};

export type SeedGroup = { id: string; name: string; admins: string[]; members: string[] };

/** Writes a seed of the demo's people and these groups to a file of its own; returns its path. */
export function writeSeed(groups: SeedGroup[]): string {
  const file = join(tempDir("seed"), "seed.json");
  writeFileSync(file, JSON.stringify({ users: Object.values(people), groups }));
  return file;
}
