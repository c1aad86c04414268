import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { client } from "../support/api-client.ts";
import { type HeraldProcess, startHerald, startProcessToExit, tempDir } from "../support/herald-process.ts";

// Revoked tokens: a holder revokes the token it calls with (DELETE /api/me/token), an operator
// revokes a user's token (npm run revoke-token). A revoked token replayed later gets 401 and
// changes nothing; the revocation is an event in the log, so it outlives restarts.

const token = { alice: "alice-" + "a".repeat(32), carol: "carol-" + "c".repeat(32), erin: "erin-" + "e".repeat(32) };
const seed = {
  users: [
    { id: "alice", email: "alice@example.test", name: "Alice", token: token.alice },
    { id: "carol", email: "carol@example.test", name: "Carol", token: token.carol },
    { id: "erin", email: "erin@example.test", name: "Erin", token: token.erin },
  ],
  groups: [{ id: "design", name: "Design", admins: ["alice"], members: ["carol", "erin"] }],
};

let seedFile: string;
let herald: HeraldProcess | undefined;
before(async () => {
  seedFile = join(tempDir("seed"), "seed.json");
  writeFileSync(seedFile, JSON.stringify(seed));
  herald = await startHerald({ HERALD_SEED: seedFile });
});
after(() => herald?.stop());

const blobCount = () => readdirSync(join(herald!.dataDir, "blobs"), { recursive: true }).length;
const uploadNames = async () =>
  (await client(herald!.url).get("/api/groups/design/uploads", token.alice)).body.items.map(
    (u: { filename: string }) => u.filename,
  );
const revokeOwn = (t: string) =>
  fetch(`${herald!.url}/api/me/token`, { method: "DELETE", headers: { authorization: `Bearer ${t}` } });

const assertRevoked = (res: { status: number; contentType: string; body: { type: string; detail: string } }) => {
  assert.equal(res.status, 401);
  assert.match(res.contentType, /^application\/problem\+json/);
  assert.equal(res.body.type, "urn:herald:problem:unauthorized");
  assert.match(res.body.detail, /revoked/);
};

it("a token revoked by its holder is refused from the answer on; replaying its requests changes nothing", async () => {
  const api = client(herald!.url);
  const file = { name: "before.txt", content: "accepted before the revocation" };
  assert.equal((await api.upload("design", token.carol, file)).status, 202);

  const revoked = await revokeOwn(token.carol);
  assert.equal(revoked.status, 204);

  const blobsBefore = blobCount();
  const namesBefore = await uploadNames();
  assertRevoked(await api.upload("design", token.carol, file)); // the same request, replayed
  assertRevoked(await api.upload("design", token.carol, { name: "after.txt", content: "new" }));
  assertRevoked(await api.get("/api/groups/design/uploads", token.carol));
  assert.equal((await revokeOwn(token.carol)).status, 401, "a revoked token cannot act, not even to revoke again");
  assert.equal(blobCount(), blobsBefore, "no blob stored");
  assert.deepEqual(await uploadNames(), namesBefore, "nothing recorded");
  assert.equal((await api.get("/api/groups/design/uploads", token.erin)).status, 200, "other users' tokens still work");
});

it("an operator revokes a user's token with npm run revoke-token; revocations outlive a restart", async () => {
  const { dataDir } = herald!;
  // The embedded log is a SQLite file of one process: the command runs while the web is stopped.
  await herald!.stop();
  herald = undefined;
  const env = { HERALD_SEED: seedFile, HERALD_DATA_DIR: dataDir, LOG_LEVEL: "info" };
  const cli = ["--import", "tsx", "services/web/src/revoke-token-cli.ts"];
  const unknown = await startProcessToExit([...cli, "nobody"], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.output, /HERALD_SEED: no user nobody/);
  const done = await startProcessToExit([...cli, "erin", "laptop stolen"], env);
  assert.equal(done.code, 0, done.output);
  assert.match(done.output, /token revoked/);

  herald = await startHerald({ HERALD_SEED: seedFile }, dataDir);
  const api = client(herald.url);
  assertRevoked(await api.get("/api/groups/design/uploads", token.erin));
  assertRevoked(await api.get("/api/groups/design/uploads", token.carol));
  assert.equal((await api.get("/api/groups/design/uploads", token.alice)).status, 200);
});
