import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ConfigError, createLogger, loadConfig } from "@herald/core";
import { decodeSession, encodeSession } from "../../services/web/src/auth/session.ts";
import { safeReturnTo } from "../../services/web/src/auth/sign-in.ts";
import { seal } from "../../services/web/src/auth/signed-cookie.ts";
import { signInSettings } from "../../services/web/src/auth/settings.ts";
import { tempDir } from "../support/herald-process.ts";

// The session cookie's codec, where a sign-in may return to, and the sign-in settings'
// validation, without starting anything.

const secret = "a-test-secret-of-at-least-32-characters";
const session = { userId: "alice", csrfToken: "c".repeat(32), expiresAt: new Date("2030-01-01T00:00:00Z") };
const now = new Date("2029-12-31T00:00:00Z");

describe("the session cookie", () => {
  it("when a session is encoded and decoded with the same secret, then it comes back as it was", () => {
    const decoded = decodeSession(secret, encodeSession(secret, session), now);
    assert.deepEqual(decoded, { ok: true, value: session });
  });

  it("when the cookie is signed with another secret, altered, or not ours, then it is forged", () => {
    const cookie = encodeSession(secret, session);
    const [payload, mac] = cookie.split(".") as [string, string];
    const other = Buffer.from(JSON.stringify({ u: "bob", c: "c".repeat(32), e: 1893456000 })).toString("base64url");
    for (const [what, value] of [
      ["another secret", encodeSession(`${secret}!`, session)],
      ["another payload", `${other}.${mac}`],
      ["a truncated MAC", `${payload}.${mac.slice(0, -1)}`],
      ["no MAC", payload],
      ["three parts", `${cookie}.x`],
      ["not base64url", `${payload}.${mac.replace(/.$/, "=")}`],
    ] as const) {
      assert.deepEqual(decodeSession(secret, value, now), { ok: false, reason: "forged" }, what);
    }
  });

  it("when its time has passed, then it is expired; without a cookie, absent", () => {
    const cookie = encodeSession(secret, session);
    assert.deepEqual(decodeSession(secret, cookie, new Date("2030-01-01T00:00:00Z")), { ok: false, reason: "expired" });
    assert.deepEqual(decodeSession(secret, undefined, now), { ok: false, reason: "absent" });
  });

  it("when another kind of signed value (the sign-in transaction) is presented as a session, then it is forged", () => {
    const transaction = seal(secret, "oidc", { u: "alice", c: "c".repeat(32) }, session.expiresAt);
    assert.deepEqual(decodeSession(secret, transaction, now), { ok: false, reason: "forged" });
  });
});

describe("where a sign-in returns to", () => {
  it("when it is a path on this site, then it is kept", () => {
    for (const path of ["/", "/groups/design", "/groups/design/uploads/u1?x=1#top", "/notifications/n%2F1"])
      assert.equal(safeReturnTo(path), path);
  });

  it("when it is another site, or not a path, then it is refused", () => {
    const refused = [
      "https://evil.example/",
      "//evil.example",
      "/\\evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "evil.example",
      "",
      undefined,
      ["/a", "/b"],
      `/${"a".repeat(3000)}`,
    ];
    for (const value of refused) assert.equal(safeReturnTo(value), null, JSON.stringify(value));
  });
});

describe("sign-in settings", () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems;
    }
    assert.fail("the configuration was accepted");
  };
  const issuer = "https://login.example.test/realms/herald";

  it("when half of the OIDC settings are given, then the start fails naming the missing variable", () => {
    assert.deepEqual(problems({ HERALD_OIDC_ISSUER: issuer }), [
      "HERALD_OIDC_CLIENT_ID: required when HERALD_OIDC_ISSUER is set",
      "HERALD_OIDC_CLIENT_SECRET: required when HERALD_OIDC_ISSUER is set (or HERALD_OIDC_CLIENT_SECRET_FILE, a file holding it)",
    ]);
    assert.deepEqual(problems({ HERALD_OIDC_CLIENT_ID: "herald", HERALD_OIDC_AUDIENCE: "api" }), [
      "HERALD_OIDC_CLIENT_ID: set, but HERALD_OIDC_ISSUER is not: set both, or neither",
      "HERALD_OIDC_AUDIENCE: set, but HERALD_OIDC_ISSUER is not: set both, or neither",
    ]);
    assert.deepEqual(
      problems({
        HERALD_OIDC_ISSUER: issuer,
        HERALD_OIDC_CLIENT_ID: "herald",
        HERALD_OIDC_CLIENT_SECRET: "s",
        HERALD_OIDC_CLIENT_SECRET_FILE: "/run/secrets/oidc",
      }),
      ["HERALD_OIDC_CLIENT_SECRET: set together with HERALD_OIDC_CLIENT_SECRET_FILE: set one of them"],
    );
  });

  it("when a value is malformed, then the start fails naming it", () => {
    assert.match(problems({ HERALD_OIDC_ISSUER: "not a url" }).join("\n"), /^HERALD_OIDC_ISSUER: /m);
    assert.match(
      problems({ HERALD_OIDC_SCOPES: "email profile" }).join("\n"),
      /^HERALD_OIDC_SCOPES: must include openid/m,
    );
    assert.match(
      problems({ HERALD_SESSION_SECRET: "short" }).join("\n"),
      /^HERALD_SESSION_SECRET: must be at least 32/m,
    );
    assert.match(problems({ HERALD_SESSION_TTL_MINUTES: "0" }).join("\n"), /^HERALD_SESSION_TTL_MINUTES: /m);
  });

  it("when NODE_ENV=production, then a session secret of its own is required", () => {
    const production = {
      NODE_ENV: "production",
      SMTP_URL: "smtp://mail.example.test",
      HERALD_UNSUBSCRIBE_SECRET: "u".repeat(40),
    };
    assert.deepEqual(problems(production), [
      "HERALD_SESSION_SECRET: required when NODE_ENV=production (it signs the session cookies; e.g. `openssl rand -base64 48`)",
    ]);
    assert.deepEqual(problems({ ...production, HERALD_SESSION_SECRET: `dev-${"x".repeat(40)}` }), [
      'HERALD_SESSION_SECRET: must not start with "dev-" when NODE_ENV=production (that is the public development secret)',
    ]);
  });

  const logger = createLogger("silent", "test");
  const oidcEnv = { HERALD_OIDC_ISSUER: issuer, HERALD_OIDC_CLIENT_ID: "herald" };

  it("when the client secret is in a file, then it is read from there; an unreadable or empty file is named", () => {
    const dir = tempDir("oidc-secret");
    writeFileSync(`${dir}/secret`, "from-the-file\n");
    writeFileSync(`${dir}/empty`, "\n");
    const settings = signInSettings(
      loadConfig({ ...oidcEnv, HERALD_OIDC_CLIENT_SECRET_FILE: `${dir}/secret` }),
      logger,
    );
    assert.equal(settings.oidc?.clientSecret, "from-the-file");
    assert.throws(
      () => signInSettings(loadConfig({ ...oidcEnv, HERALD_OIDC_CLIENT_SECRET_FILE: `${dir}/missing` }), logger),
      (error: ConfigError) =>
        /^HERALD_OIDC_CLIENT_SECRET_FILE: cannot read .*missing \(ENOENT\)$/.test(error.problems[0]!),
    );
    assert.throws(
      () => signInSettings(loadConfig({ ...oidcEnv, HERALD_OIDC_CLIENT_SECRET_FILE: `${dir}/empty` }), logger),
      (error: ConfigError) => /^HERALD_OIDC_CLIENT_SECRET_FILE: .*empty is empty$/.test(error.problems[0]!),
    );
  });

  it("when the redirect URL is not set, then it is HERALD_PUBLIC_URL's /auth/callback, or else the browser's address", () => {
    const secret = { ...oidcEnv, HERALD_OIDC_CLIENT_SECRET: "s" };
    const withPublicUrl = loadConfig({ ...secret, HERALD_PUBLIC_URL: "https://herald.example.test/" });
    assert.equal(signInSettings(withPublicUrl, logger).oidc?.redirectUrl, "https://herald.example.test/auth/callback");
    assert.equal(signInSettings(loadConfig(secret), logger).oidc?.redirectUrl, null);
    const explicit = loadConfig({ ...secret, HERALD_OIDC_REDIRECT_URL: "https://h.example.test/cb" });
    assert.equal(signInSettings(explicit, logger).oidc?.redirectUrl, "https://h.example.test/cb");
    assert.equal(signInSettings(loadConfig(secret), logger).oidc?.label, "login.example.test");
  });

  it("when NODE_ENV=production and the issuer is http://, then the start fails naming it", () => {
    const production = loadConfig({
      NODE_ENV: "production",
      SMTP_URL: "smtp://mail.example.test",
      HERALD_UNSUBSCRIBE_SECRET: "u".repeat(40),
      HERALD_SESSION_SECRET: "s".repeat(40),
      HERALD_OIDC_ISSUER: "http://login.example.test",
      HERALD_OIDC_CLIENT_ID: "herald",
      HERALD_OIDC_CLIENT_SECRET: "s",
    });
    assert.throws(() => signInSettings(production, logger), /HERALD_OIDC_ISSUER: must be an https:\/\/ URL/);
  });
});
