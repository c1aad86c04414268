import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import {
  ConfigError,
  createLogger,
  devUnsubscribeSecret,
  loadConfig,
  signUnsubscribeToken,
  unsubscribeSecret,
  verifyUnsubscribeToken,
} from "@herald/core";

// The one-click unsubscribe token: HMAC-SHA256 over user, group and expiry, base64url.

const secret = "a-test-secret-that-is-long-enough-0123456789";
const now = new Date("2030-01-01T00:00:00Z");
const inADay = new Date(now.getTime() + 86_400_000);
const claims = { userId: "alice", groupId: "design", expiresAt: inADay };

describe("the unsubscribe token", () => {
  it("verifies what it signed, naming the user, the group and the expiry", () => {
    const token = signUnsubscribeToken(secret, claims);
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, "base64url payload . base64url HMAC-SHA256");
    const verified = verifyUnsubscribeToken(secret, token, now);
    assert.deepEqual(verified, { ok: true, userId: "alice", groupId: "design", expiresAt: inADay });
  });

  it("refuses a token signed with another secret as forged", () => {
    const token = signUnsubscribeToken("another-secret-just-as-long-0123456789abc", claims);
    assert.equal(reason(verifyUnsubscribeToken(secret, token, now)), "forged");
  });

  it("refuses a token whose group (or user, or expiry) was changed as forged", () => {
    const token = signUnsubscribeToken(secret, claims);
    const [, signature] = token.split(".");
    for (const changed of [
      { ...claims, groupId: "research" },
      { ...claims, userId: "bob" },
      { ...claims, expiresAt: new Date(inADay.getTime() + 365 * 86_400_000) },
    ]) {
      const [payload] = signUnsubscribeToken("whatever-secret-the-attacker-has-000000", changed).split(".");
      assert.equal(reason(verifyUnsubscribeToken(secret, `${payload}.${signature}`, now)), "forged");
    }
  });

  it("refuses a signature spelled any other way than its canonical base64url", () => {
    const token = signUnsubscribeToken(secret, claims);
    const last = token.at(-1)!;
    // The last of 43 characters carries 2 spare bits: the characters that decode alike.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const index = alphabet.indexOf(last);
    const twin = alphabet[(index & ~3) + ((index + 1) & 3)]!;
    assert.equal(reason(verifyUnsubscribeToken(secret, token.slice(0, -1) + twin, now)), "forged");
  });

  it("refuses an expired token, and accepts it up to its expiry", () => {
    const token = signUnsubscribeToken(secret, claims);
    assert.equal(verifyUnsubscribeToken(secret, token, new Date(inADay.getTime() - 1000)).ok, true);
    assert.equal(reason(verifyUnsubscribeToken(secret, token, inADay)), "expired");
    assert.equal(reason(verifyUnsubscribeToken(secret, token, new Date(inADay.getTime() + 1000))), "expired");
  });

  it("refuses malformed tokens", () => {
    for (const token of [undefined, "", "abc", "a.b.c", "not base64!.sig", ["a", "b"], "x".repeat(2000)]) {
      assert.equal(reason(verifyUnsubscribeToken(secret, token, now)), "malformed", String(token).slice(0, 20));
    }
  });

  it("refuses a correctly signed payload that is not a token's", () => {
    // Signed with the right secret but not by signUnsubscribeToken: shape checked after the MAC.
    const payload = Buffer.from(JSON.stringify({ v: 2, u: "alice", g: "design", e: 9e9 })).toString("base64url");
    const mac = createHmac("sha256", secret).update(`herald-unsubscribe-v1.${payload}`).digest("base64url");
    assert.equal(reason(verifyUnsubscribeToken(secret, `${payload}.${mac}`, now)), "malformed");
    // And the domain prefix matters: a bare HMAC of the payload is not a signature.
    const bare = createHmac("sha256", secret).update(payload).digest("base64url");
    assert.equal(reason(verifyUnsubscribeToken(secret, `${payload}.${bare}`, now)), "forged");
  });
});

describe("HERALD_UNSUBSCRIBE_SECRET", () => {
  // Production with everything else it needs, so that only this secret is in question.
  const production = {
    NODE_ENV: "production",
    SMTP_URL: "smtp://127.0.0.1:2525",
    HERALD_SESSION_SECRET: "unit-test-session-secret-0123456789abcdefghij",
  };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems;
    }
  };

  it("is required in production, at least 32 characters, and not the development one", () => {
    assert.deepEqual(problems(production), [
      "HERALD_UNSUBSCRIBE_SECRET: required when NODE_ENV=production (it signs the unsubscribe links in emails; e.g. `openssl rand -base64 48`)",
    ]);
    assert.deepEqual(problems({ ...production, HERALD_UNSUBSCRIBE_SECRET: "short" }), [
      "HERALD_UNSUBSCRIBE_SECRET: must be at least 32 characters",
    ]);
    assert.deepEqual(problems({ ...production, HERALD_UNSUBSCRIBE_SECRET: devUnsubscribeSecret }), [
      'HERALD_UNSUBSCRIBE_SECRET: must not start with "dev-" when NODE_ENV=production (that is the public development secret)',
    ]);
    assert.deepEqual(problems({ ...production, HERALD_UNSUBSCRIBE_SECRET: secret }), []);
  });

  it("outside production defaults to the stable development secret (the same in every process)", () => {
    const config = loadConfig({});
    const logger = createLogger("silent", "test");
    assert.equal(unsubscribeSecret(config, logger), devUnsubscribeSecret);
    assert.equal(unsubscribeSecret(loadConfig({ HERALD_UNSUBSCRIBE_SECRET: secret }), logger), secret);
  });
});

const reason = (v: ReturnType<typeof verifyUnsubscribeToken>) => (v.ok ? "ok" : v.reason);
