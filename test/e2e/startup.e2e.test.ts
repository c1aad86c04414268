import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { client } from "../support/api-client.ts";
import { startHerald, startHeraldExpectingFailure, tempDir } from "../support/herald-process.ts";

// What a bad setting gets at start: the process stops (exit code 2) naming the variable.

it("stops on a bad value and names the variable", async () => {
  const { code, output } = await startHeraldExpectingFailure({ HERALD_MAX_UPLOAD_BYTES: "lots", PORT: "99999" });
  assert.equal(code, 2);
  assert.match(output, /HERALD_MAX_UPLOAD_BYTES/);
  assert.match(output, /PORT/);
});

it("stops when the seed file is missing or invalid, naming HERALD_SEED", async () => {
  const missing = await startHeraldExpectingFailure({ HERALD_SEED: "/nonexistent/seed.json" });
  assert.equal(missing.code, 2);
  assert.match(missing.output, /HERALD_SEED: cannot read \/nonexistent\/seed.json/);

  const file = join(tempDir("seed"), "seed.json");
  writeFileSync(file, JSON.stringify({ users: [], groups: [{ id: "g", name: "G", admins: ["ghost"] }] }));
  const invalid = await startHeraldExpectingFailure({ HERALD_SEED: file });
  assert.equal(invalid.code, 2);
  assert.match(invalid.output, /HERALD_SEED: group g names unknown user ghost/);
});

it("refuses dev tokens when NODE_ENV=production", async () => {
  const demo = await startHeraldExpectingFailure({ NODE_ENV: "production" });
  assert.equal(demo.code, 2);
  assert.match(demo.output, /HERALD_SEED: required when NODE_ENV=production/);

  const file = join(tempDir("seed"), "seed.json");
  const seed = {
    users: [{ id: "ann", email: "ann@example.test", name: "Ann", token: "dev-ann-token" }],
    groups: [{ id: "g", name: "G", admins: ["ann"], members: [] }],
  };
  writeFileSync(file, JSON.stringify(seed));
  const dev = await startHeraldExpectingFailure({ NODE_ENV: "production", HERALD_SEED: file });
  assert.equal(dev.code, 2);
  assert.match(dev.output, /users ann have dev tokens/);
});

it("runs with a seed file of its own: its tokens and groups are the ones that count", async () => {
  const file = join(tempDir("seed"), "seed.json");
  const token = "ann-" + "x".repeat(40);
  const seed = {
    users: [{ id: "ann", email: "ann@example.test", name: "Ann", token }],
    groups: [{ id: "research", name: "Research", admins: ["ann"], members: [] }],
  };
  writeFileSync(file, JSON.stringify(seed));
  const herald = await startHerald({ NODE_ENV: "production", HERALD_SEED: file });
  try {
    const api = client(herald.url);
    assert.equal((await api.get("/api/groups/research/uploads", token)).status, 200);
    assert.equal((await api.get("/api/groups/design/uploads", token)).status, 404);
    assert.equal((await api.get("/api/groups/research/uploads", "dev-alice-token")).status, 401);
    assert.doesNotMatch(herald.output(), new RegExp(token), "real tokens are never logged");
  } finally {
    await herald.stop();
  }
});

it("refuses a data dir another live Herald owns", async () => {
  const herald = await startHerald();
  try {
    const second = await startHeraldExpectingFailure({ HERALD_DATA_DIR: herald.dataDir });
    assert.equal(second.code, 2);
    assert.match(second.output, /HERALD_DATA_DIR .* is in use by process/);
  } finally {
    await herald.stop();
  }
});
