import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { it } from "node:test";
import { client } from "../support/api-client.ts";
import {
  eventually,
  freePort,
  repoRoot,
  startHerald,
  startHeraldExpectingFailure,
  tempDir,
} from "../support/herald-process.ts";

// What a bad setting gets at start: the process stops (exit code 2) naming the variable.

it("stops on a bad value and names the variable", async () => {
  const { code, output } = await startHeraldExpectingFailure({ HERALD_MAX_UPLOAD_BYTES: "lots", PORT: "99999" });
  assert.equal(code, 2);
  assert.match(output, /HERALD_MAX_UPLOAD_BYTES/);
  assert.match(output, /PORT/);
});

it("stops on a port another process has, naming PORT (exit 2, no stack trace)", async () => {
  const taken = createServer().listen(0, "0.0.0.0");
  await once(taken, "listening");
  try {
    const { port } = taken.address() as AddressInfo;
    const { code, output } = await startHeraldExpectingFailure({ PORT: String(port) });
    assert.equal(code, 2);
    assert.match(output, new RegExp(`PORT: port ${port} is already in use by another process`));
    assert.doesNotMatch(output, /EADDRINUSE|    at /, "a sentence, not a stack trace");
  } finally {
    taken.close();
  }
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

// Production settings name a mail server; nothing is sent there by these tests.
const production = {
  NODE_ENV: "production",
  SMTP_URL: "smtp://127.0.0.1:2525",
  HERALD_UNSUBSCRIBE_SECRET: "startup-test-unsubscribe-secret-0123456789abcdef",
  HERALD_SESSION_SECRET: "startup-test-session-secret-0123456789abcdefghij",
};

it("refuses to run in production without SMTP_URL: the local outbox is for development", async () => {
  const noMail = await startHeraldExpectingFailure({ NODE_ENV: "production" });
  assert.equal(noMail.code, 2);
  assert.match(noMail.output, /SMTP_URL: required when NODE_ENV=production/);
});

it("refuses to run in production without HERALD_UNSUBSCRIBE_SECRET: anyone could forge the public dev one", async () => {
  const { HERALD_UNSUBSCRIBE_SECRET: _, ...withoutSecret } = production;
  const noSecret = await startHeraldExpectingFailure(withoutSecret);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.output, /HERALD_UNSUBSCRIBE_SECRET: required when NODE_ENV=production/);
});

it("refuses to run in production without HERALD_SESSION_SECRET: anyone could sign a session cookie with the public dev one", async () => {
  const { HERALD_SESSION_SECRET: _, ...withoutSecret } = production;
  const noSecret = await startHeraldExpectingFailure(withoutSecret);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.output, /HERALD_SESSION_SECRET: required when NODE_ENV=production/);
});

it("refuses dev tokens, short tokens and the demo seed when NODE_ENV=production", async () => {
  const demo = await startHeraldExpectingFailure(production);
  assert.equal(demo.code, 2);
  assert.match(demo.output, /HERALD_SEED: required when NODE_ENV=production/);

  const file = join(tempDir("seed"), "seed.json");
  const seed = {
    users: [{ id: "ann", email: "ann@example.test", name: "Ann", token: "dev-ann-token" }],
    groups: [{ id: "g", name: "G", admins: ["ann"], members: [] }],
  };
  writeFileSync(file, JSON.stringify(seed));
  const dev = await startHeraldExpectingFailure({ ...production, HERALD_SEED: file });
  assert.equal(dev.code, 2);
  assert.match(dev.output, /users ann have dev tokens/);

  // 31 characters: one short of what a guesser, throttled or not, cannot reach.
  writeFileSync(file, JSON.stringify({ ...seed, users: [{ ...seed.users[0], token: "a".repeat(31) }] }));
  const short = await startHeraldExpectingFailure({ ...production, HERALD_SEED: file });
  assert.equal(short.code, 2);
  assert.match(short.output, /HERALD_SEED: users ann have tokens shorter than 32 characters/);

  // Long enough, but typed by hand: 40 characters of two kinds carry 40 bits, not 128.
  writeFileSync(file, JSON.stringify({ ...seed, users: [{ ...seed.users[0], token: "ab".repeat(20) }] }));
  const guessable = await startHeraldExpectingFailure({ ...production, HERALD_SEED: file });
  assert.equal(guessable.code, 2);
  assert.match(guessable.output, /HERALD_SEED: users ann have tokens of too few different characters/);
});

it("refuses a seed that names a group twice (which one would count is not for Herald to guess)", async () => {
  const file = join(tempDir("seed"), "seed.json");
  const seed = {
    users: [{ id: "ann", email: "ann@example.test", name: "Ann", token: "ann-" + "x".repeat(40) }],
    groups: [
      { id: "g", name: "G", admins: ["ann"], members: [] },
      { id: "g", name: "G again", admins: [], members: ["ann"] },
    ],
  };
  writeFileSync(file, JSON.stringify(seed));
  const twice = await startHeraldExpectingFailure({ HERALD_SEED: file });
  assert.equal(twice.code, 2);
  assert.match(twice.output, /HERALD_SEED: group id g appears twice/);
});

it("runs with a seed file of its own: its tokens and groups are the ones that count", async () => {
  const file = join(tempDir("seed"), "seed.json");
  const token = `ann-${randomBytes(24).toString("base64url")}`;
  const seed = {
    users: [{ id: "ann", email: "ann@example.test", name: "Ann", token }],
    groups: [{ id: "research", name: "Research", admins: ["ann"], members: [] }],
  };
  writeFileSync(file, JSON.stringify(seed));
  const herald = await startHerald({ ...production, HERALD_SEED: file });
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

it("at a terminal in development it prints for a person: where to go and the demo users on lines of their own, logs not as JSON", async () => {
  // `script` gives the process a terminal (a pty), as a developer's shell would.
  const port = await freePort();
  const child = spawn("script", ["-qec", "node --import tsx services/embedded/src/main.ts", "/dev/null"], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HERALD_DATA_DIR: tempDir("data"), NODE_ENV: "development" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  try {
    await eventually(
      async () => (output.includes("outbox") && output.includes("herald web listening") ? true : undefined),
      30_000,
    );
    const lines = output.split(/\r?\n/);
    assert.ok(
      lines.some(
        (l) =>
          l.trim() ===
          `Herald is running: open http://localhost:${port}/ and sign in (in development, pick any user of the seed).`,
      ),
      output,
    );
    assert.ok(
      lines.some((l) => /^ {2}dev-alice-token +Alice Admin \(admin of design\)$/.test(l)),
      output,
    );
    assert.ok(!lines.some((l) => l.startsWith('{"level"')), "no JSON log lines at a terminal");
    assert.match(output, /herald web listening/, "the logs are there, for a person");
  } finally {
    process.kill(-child.pid!, "SIGTERM");
    await once(child, "exit");
  }
});

it("piped (a log collector, a container) it prints JSON lines and no banner", async () => {
  const herald = await startHerald();
  try {
    const lines = herald.output().trim().split("\n");
    assert.ok(lines.length > 0 && lines.every((l) => JSON.parse(l).level !== undefined), herald.output());
    assert.doesNotMatch(herald.output(), /Herald is running/);
  } finally {
    await herald.stop();
  }
});
