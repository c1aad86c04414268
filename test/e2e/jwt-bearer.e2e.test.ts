import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { tempDir } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { startTestProvider, type TestProvider } from "../support/oidc-provider.ts";

// API clients with the identity provider's JWT access tokens: a real provider (oidc-provider on
// loopback) issues them, Herald checks them against its JWKS (signature, issuer, audience,
// expiry, an allowlist of algorithms) and finds the user by `sub` (the seed's `subject`) or
// verified email. Everything else (expired, for another audience, from another provider,
// unsigned, altered) is a 401 problem+json. Embedded mode, a seed of two groups.

let provider: TestProvider;
let otherProvider: TestProvider;
let herald: InProcessHerald;

// carol's address differs from the provider's: she is found by the `subject` the seed maps.
const seed = {
  users: [
    { id: "alice", email: "alice@example.test", name: "Alice Admin", token: "dev-alice-token" },
    { id: "bob", email: "BOB@example.test", name: "Bob Admin", token: "dev-bob-token" },
    { id: "carol", email: "carol@herald.test", name: "Carol Member", token: "dev-carol-token", subject: "carol" },
    { id: "dave", email: "dave@example.test", name: "Dave Ops", token: "dev-dave-token" },
  ],
  groups: [
    { id: "design", name: "Design Team", admins: ["alice"], members: ["carol"] },
    { id: "ops", name: "Operations", admins: ["bob"], members: ["dave"] },
  ],
};

before(async () => {
  provider = await startTestProvider();
  otherProvider = await startTestProvider(); // same audience, its own issuer and keys
  const dir = tempDir("seed");
  writeFileSync(`${dir}/seed.json`, JSON.stringify(seed));
  herald = await startHeraldInProcess({ ...provider.heraldEnv(), HERALD_SEED: `${dir}/seed.json` });
});
after(async () => {
  await herald?.stop();
  await provider?.stop();
  await otherProvider?.stop();
});

type Problem = { type: string; status: number; detail: string };

const get = (path: string, token: string) =>
  fetch(`${herald.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

async function refused(token: string, detail: RegExp, what: string) {
  const response = await get("/api/groups/design/uploads", token);
  assert.equal(response.status, 401, what);
  assert.equal(response.headers.get("content-type"), "application/problem+json; charset=utf-8", what);
  const problem = (await response.json()) as Problem;
  assert.equal(problem.type, "urn:herald:problem:unauthorized", what);
  assert.match(problem.detail, detail, what);
}

const authFailures = async (reason: string) => {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  return Number(new RegExp(`herald_auth_failures_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

describe("JWT access tokens on /api", () => {
  it("when alice brings an access token from the provider, then /api knows her, and uploads need no CSRF token", async () => {
    const token = await provider.accessTokenFor("alice");
    assert.equal(token.split(".").length, 3, "the provider issued a JWT");
    const uploads = await get("/api/groups/design/uploads", token);
    assert.equal(uploads.status, 200);
    const form = new FormData();
    form.append("file", new Blob(["plan"], { type: "text/plain" }), "plan.txt");
    const upload = await fetch(`${herald.url}/api/groups/design/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    assert.equal(upload.status, 202);
  });

  it("when the user is mapped by subject, or by verified email in another case, then they are found", async () => {
    const carol = await provider.accessTokenFor("carol"); // email differs from the seed's: by subject
    assert.equal((await get("/api/groups/design/uploads", carol)).status, 200);
    const bob = await provider.accessTokenFor("bob"); // the seed says BOB@example.test
    assert.equal((await get("/api/groups/ops/uploads", bob)).status, 200);
  });

  it("when a member of group design asks for group ops, then it is 403, and the other way round", async () => {
    const carol = await get("/api/groups/ops/uploads", await provider.accessTokenFor("carol"));
    assert.equal(carol.status, 403);
    assert.match(((await carol.json()) as Problem).detail, /not a member of group ops/);
    const dave = await get("/api/groups/design/uploads", await provider.accessTokenFor("dave"));
    assert.equal(dave.status, 403);
  });

  it("when a token is expired, for another audience, from another provider, unsigned, altered or HMAC-signed, then it is 401", async () => {
    const expiredBefore = await authFailures("expired");
    const invalidBefore = await authFailures("invalid");

    await refused(await provider.mintAccessToken("alice", { expiresInSeconds: -60 }), /expired/, "expired");
    await refused(
      await provider.mintAccessToken("alice", { aud: "urn:someone-else" }),
      /aud claim/,
      "another audience",
    );
    await refused(await otherProvider.accessTokenFor("alice"), /not valid/, "another provider's token");
    await refused(
      await otherProvider.mintAccessToken("alice", { iss: provider.issuer }),
      /not valid/,
      "another provider's key, claiming our issuer",
    );

    const good = await provider.accessTokenFor("alice");
    const [header, payload, signature] = good.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    await refused(`${encode({ alg: "none", typ: "JWT" })}.${payload}.`, /not valid/, "alg: none");
    await refused(
      `${header}.${encode({ ...claims, sub: "bob", email: "bob@example.test" })}.${signature}`,
      /not valid/,
      "altered",
    );
    await refused(`${header}.${payload}.${signature.slice(0, -4)}AAAA`, /not valid/, "signature changed");
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode("the provider's public JWKS is no secret"));
    await refused(hmac, /not valid/, "HS256, which the allowlist refuses");

    assert.equal(await authFailures("expired"), expiredBefore + 1, "counted as expired");
    assert.equal(await authFailures("invalid"), invalidBefore + 7, "counted as invalid");
  });

  it("when a valid token names someone Herald does not know, or an unverified email, then it is 401", async () => {
    await refused(await provider.accessTokenFor("mallory"), /not a Herald user/, "unknown user");
    await refused(
      await provider.mintAccessToken("alice", { sub: "someone", email_verified: false }),
      /not a Herald user/,
      "unverified email",
    );
  });

  it("when the seed's static tokens are used, then they still work beside JWTs", async () => {
    assert.equal((await get("/api/groups/design/uploads", "dev-alice-token")).status, 200);
    assert.equal((await get("/api/groups/design/uploads", "dev-nobody-token")).status, 401);
  });
});
