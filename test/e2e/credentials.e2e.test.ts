import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { eventually, startHerald } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";

// Who may read what, with the credentials a guesser or a nosy colleague has: failed
// authentications throttled per client address; the local outbox (no SMTP_URL) showing each
// user only the mail addressed to them. Embedded mode, the demo seed, mail to the outbox.

const failuresPerMinute = 5;
let herald: InProcessHerald;
let api: ReturnType<typeof client>;

before(async () => {
  herald = await startHeraldInProcess({ HERALD_AUTH_FAILURES_PER_MINUTE: String(failuresPerMinute) });
  api = client(herald.url);
});
after(async () => herald?.stop());

const authFailures = async () => {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  const count = (reason: string) =>
    Number(new RegExp(`herald_auth_failures_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { unknown: count("unknown"), missing: count("missing"), throttled: count("throttled") };
};

describe("the local outbox", () => {
  it("shows each user the mail addressed to them, and nothing else", async () => {
    const upload = await api.upload("design", tokens.carol, { name: "plan.txt", content: "plan" });
    assert.equal(upload.status, 202);
    const mineFor = async (token: string) => (await api.get("/api/outbox", token)).body.items;
    await eventually(async () => (await mineFor(tokens.alice)).length > 0 || undefined, 10_000, "alice's email");
    const alices = await mineFor(tokens.alice);
    assert.ok(alices.every((m: { to: string }) => m.to === "alice@example.test"));
    assert.match(alices[0].subject, /plan\.txt/);
    assert.deepEqual(await mineFor(tokens.carol), [], "carol uploaded; she is no admin and got no mail");

    const file = encodeURIComponent(alices[0].file);
    const own = await fetch(`${herald.url}/api/outbox/${file}`, {
      headers: { authorization: `Bearer ${tokens.alice}` },
    });
    assert.equal(own.status, 200);
    assert.match(await own.text(), /^To: alice@example\.test/m);
    const others = await api.get(`/api/outbox/${file}`, tokens.carol);
    assert.equal(others.status, 404, "another user's email is not there for carol");
    assert.equal((await api.get("/api/outbox/..", tokens.alice)).status, 404);
    assert.equal((await api.get("/api/outbox/%2e%2e%2fevents.db", tokens.alice)).status, 404);
  });

  it("answers nobody without a token, and the outbox page asks to sign in first", async () => {
    assert.equal((await fetch(`${herald.url}/api/outbox`)).status, 401);
    const page = await fetch(`${herald.url}/outbox`, { redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/signin?returnTo=%2Foutbox");
  });
});

describe("token guessing", () => {
  // A Herald of its own: the outbox tests' refusals count against this address too.
  before(async () => {
    await herald.stop();
    herald = await startHeraldInProcess({ HERALD_AUTH_FAILURES_PER_MINUTE: String(failuresPerMinute) });
    api = client(herald.url);
  });

  it(`is throttled per client address after ${failuresPerMinute} failures a minute: 429 with Retry-After, counted`, async () => {
    const before = await authFailures();
    for (let i = 0; i < failuresPerMinute; i++) {
      const res = await api.get("/api/groups/design/uploads", `guess-${i}-${"x".repeat(32)}`);
      assert.equal(res.status, 401);
    }
    const throttled = await fetch(`${herald.url}/api/groups/design/uploads`, {
      headers: { authorization: "Bearer one-more-guess" },
    });
    assert.equal(throttled.status, 429);
    assert.match(throttled.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.equal((await throttled.json()).type, "urn:herald:problem:too-many-requests");
    const retryAfter = Number(throttled.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
    // Even a right token from that address waits: a guesser who hits one learns nothing yet.
    assert.equal((await api.get("/api/groups/design/uploads", tokens.alice)).status, 429);
    const after = await authFailures();
    assert.equal(after.unknown - before.unknown, failuresPerMinute);
    assert.equal(after.throttled - before.throttled, 2);
    // What is not behind the API's authentication is not throttled with it.
    assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
  });
});

describe("token guessing behind a proxy", () => {
  // HERALD_TRUST_PROXY names the proxy (here: loopback, where the test's requests come from):
  // each client is throttled by the address the proxy forwarded, not the proxy's own.
  before(async () => {
    await herald.stop();
    herald = await startHeraldInProcess({
      HERALD_AUTH_FAILURES_PER_MINUTE: String(failuresPerMinute),
      HERALD_TRUST_PROXY: "loopback",
    });
  });

  const from = (address: string, token: string) =>
    fetch(`${herald.url}/api/groups/design/uploads`, {
      headers: { authorization: `Bearer ${token}`, "x-forwarded-for": address },
    });

  it("throttles the guessing client, not everyone else behind the same proxy", async () => {
    for (let i = 0; i <= failuresPerMinute; i++) await from("203.0.113.9", `guess-${i}-${"x".repeat(32)}`);
    assert.equal((await from("203.0.113.9", tokens.alice)).status, 429, "the guesser waits");
    assert.equal((await from("198.51.100.7", tokens.alice)).status, 200, "another client of the proxy does not");
  });
});

describe("refusals in the log", () => {
  it("a 401 and a 403 are logged at warn with the reason and the client, never the token", async () => {
    const spawned = await startHerald({ LOG_LEVEL: "info" });
    try {
      const guess = `guess-${"y".repeat(40)}`;
      const refused = await fetch(`${spawned.url}/api/groups/design/uploads`, {
        headers: { authorization: `Bearer ${guess}` },
      });
      assert.equal(refused.status, 401);
      // dave is not a member of design.
      const forbidden = await fetch(`${spawned.url}/api/groups/design/uploads`, {
        headers: { authorization: `Bearer ${tokens.dave}` },
      });
      assert.equal(forbidden.status, 403);
      const lines = await eventually(async () => {
        const found = spawned
          .output()
          .split("\n")
          .filter((l) => l.includes('"request refused"'))
          .map((l) => JSON.parse(l));
        return found.length >= 2 ? found : undefined;
      });
      assert.deepEqual(
        lines.map((l) => [l.level, l.status]),
        [
          [40, 401],
          [40, 403],
        ],
      );
      for (const line of lines) {
        assert.ok(line.reason, "says why");
        assert.ok(line.client, "says from where");
      }
      assert.ok(!spawned.output().includes(guess), "the guessed token is never logged");
      // (The demo seed's start-up warning lists its tokens; the refusals must not.)
      assert.ok(!JSON.stringify(lines).includes(tokens.dave), "nor a real one");
    } finally {
      await spawned.stop();
    }
  });
});
