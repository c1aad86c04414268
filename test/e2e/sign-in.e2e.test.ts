import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { type Directory, type Group, loadConfig } from "@herald/core";
import { createMemoryQueue, createSeedDirectory, demoSeed } from "@herald/core/adapters";
import { type RunningWeb, startWeb } from "@herald/web";
import { encodeSession } from "../../services/web/src/auth/session.ts";
import { devSessionSecret } from "../../services/web/src/auth/settings.ts";
import { tokens } from "../support/api-client.ts";
import { CookieJar } from "../support/cookie-jar.ts";
import { tempDir } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { startTestProvider, type TestProvider } from "../support/oidc-provider.ts";

// Signing in to the website as a browser would, driven with fetch over plain HTTP: Herald's
// sign-in sends the browser to a real OpenID Connect provider (oidc-provider, on loopback),
// its login form is posted, and the callback starts a session cookie that works on the pages
// and on /api, with a CSRF token for every change. Redirects are followed by hand, each
// client with its own cookie jar. Embedded mode, the demo seed.

let provider: TestProvider;
let herald: InProcessHerald;

before(async () => {
  provider = await startTestProvider();
  herald = await startHeraldInProcess({ ...provider.heraldEnv(), HERALD_AUTH_FAILURES_PER_MINUTE: "1000" });
});
after(async () => {
  await herald?.stop();
  await provider?.stop();
});

type Problem = { type: string; status: number; detail: string };

/** The path and query of a redirect's Location, as the browser would go on to it. */
const location = (response: Response) => response.headers.get("location") ?? "";

/** Signs `login` in through the provider, starting at /signin/oidc?returnTo=…; the callback's answer. */
async function signInThroughProvider(jar: CookieJar, login: string, returnTo = "/") {
  const start = await jar.fetch(`${herald.url}/signin/oidc?returnTo=${encodeURIComponent(returnTo)}`);
  assert.equal(start.status, 303, "Herald sends the browser to the provider");
  const authorize = new URL(location(start));
  assert.equal(authorize.origin, provider.issuer);
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  assert.ok(authorize.searchParams.get("state") && authorize.searchParams.get("nonce"));
  const back = await provider.signIn(authorize.href, login);
  assert.equal(`${back.origin}${back.pathname}`, `${herald.url}/auth/callback`);
  return jar.fetch(back.href);
}

async function signedInJar(login: string) {
  const jar = new CookieJar();
  const callback = await signInThroughProvider(jar, login);
  assert.equal(callback.status, 303, await callback.clone().text());
  return jar;
}

/** A call with the jar's cookies, as the page's script makes it. */
const call = (jar: CookieJar, path: string, init: RequestInit = {}) => jar.fetch(`${herald.url}${path}`, init);
const csrfOf = async (jar: CookieJar) => {
  // The token the page carries in <meta name="csrf-token">; read here from the page itself.
  const page = await (await call(jar, "/")).text();
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page)?.[1];
  assert.ok(token, "the signed-in page carries the CSRF token");
  return token;
};

describe("signing in through the identity provider", () => {
  it("when alice signs in, then she comes back where she started, signed in on pages and on /api", async () => {
    const jar = new CookieJar();
    const returnTo = "/groups/design?tab=uploads";
    const callback = await signInThroughProvider(jar, "alice", returnTo);
    assert.equal(callback.status, 303);
    assert.equal(location(callback), returnTo, "returnTo survives the round trip");
    const session = jar.get(herald.url, "herald_session");
    assert.ok(session, "a session cookie is set");
    const setCookie = callback.headers.getSetCookie().find((c) => c.startsWith("herald_session="))!;
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Lax/i);
    assert.doesNotMatch(setCookie, /Secure/i, "plain HTTP: not Secure, or the browser would drop it");

    const page = await call(jar, "/");
    assert.equal(page.status, 200, "a page guarded by requireSignedIn");
    const uploads = await call(jar, "/api/groups/design/uploads");
    assert.equal(uploads.status, 200);
    const outbox = await call(jar, "/api/outbox");
    assert.equal(outbox.status, 200);
    const behindBasicAuth = await call(jar, "/api/outbox", { headers: { authorization: "Basic c3RhZmY6cGFzcw==" } });
    assert.equal(behindBasicAuth.status, 200, "a proxy's Basic authentication is not taken for a bearer token");
  });

  it("when the returnTo is another site, then the sign-in ends on / instead", async () => {
    for (const evil of ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example", "evil"]) {
      const callback = await signInThroughProvider(new CookieJar(), "carol", evil);
      assert.equal(callback.status, 303);
      assert.equal(location(callback), "/", `returnTo ${JSON.stringify(evil)} is refused`);
    }
  });

  it("when someone Herald does not know signs in at the provider, then they get a clear 403 and no session", async () => {
    const jar = new CookieJar();
    const callback = await signInThroughProvider(jar, "mallory");
    assert.equal(callback.status, 403);
    const problem = (await callback.json()) as Problem;
    assert.equal(problem.type, "urn:herald:problem:unknown-user");
    assert.match(problem.detail, /mallory@elsewhere\.test.*no user/);
    assert.equal(jar.get(herald.url, "herald_session"), undefined);
  });

  it("when the callback comes without the browser's sign-in cookie, then it is refused", async () => {
    const jar = new CookieJar();
    const start = await jar.fetch(`${herald.url}/signin/oidc`);
    const back = await provider.signIn(location(start), "alice");
    const elsewhere = await new CookieJar().fetch(back.href); // another browser: no herald_oidc cookie
    assert.equal(elsewhere.status, 400);
    assert.match(((await elsewhere.json()) as Problem).detail, /not started in this browser/);
  });

  it("when a page is opened without a session, then it is sent to sign in and back", async () => {
    const page = await fetch(`${herald.url}/groups/design?x=1`, { redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(location(page), `/signin?returnTo=${encodeURIComponent("/groups/design?x=1")}`);
  });
});

describe("the session cookie", () => {
  it("when it is tampered with, expired or signed with another secret, then nobody is signed in", async () => {
    const jar = await signedInJar("alice");
    const good = jar.get(herald.url, "herald_session")!;
    const [payload, mac] = good.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const forge = (changes: object) =>
      `${Buffer.from(JSON.stringify({ ...claims, ...changes })).toString("base64url")}.${mac}`;
    const refusals: [string, string, RegExp][] = [
      ["another user", forge({ u: "bob" }), /not valid/],
      ["a later expiry", forge({ e: claims.e + 3600 }), /not valid/],
      ["a changed signature", `${payload}.${mac.slice(0, -2)}AA`, /not valid/],
      ["garbage", "not-a-session", /not valid/],
    ];
    for (const [what, cookie, detail] of refusals) {
      const response = await fetch(`${herald.url}/api/groups/design/uploads`, {
        headers: { cookie: `herald_session=${cookie}` },
      });
      assert.equal(response.status, 401, what);
      assert.equal(response.headers.get("content-type"), "application/problem+json; charset=utf-8");
      assert.match(((await response.json()) as Problem).detail, detail, what);
      const page = await fetch(`${herald.url}/`, {
        headers: { cookie: `herald_session=${cookie}` },
        redirect: "manual",
      });
      assert.equal(page.status, 303, `${what}: the page asks to sign in`);
    }
  });

  it("when the session's time is up, then /api says it expired and the page asks to sign in", async () => {
    const shortLived = await startHeraldInProcess({ HERALD_SESSION_TTL_MINUTES: "1" });
    try {
      const jar = new CookieJar();
      await jar.fetch(`${shortLived.url}/signin`);
      const signedIn = await jar.fetch(`${shortLived.url}/signin/dev`, {
        method: "POST",
        body: new URLSearchParams({ userId: "carol", _csrf: jar.get(shortLived.url, "herald_csrf") ?? "" }),
      });
      assert.match(signedIn.headers.getSetCookie().join("\n"), /herald_session=[^;]+;.*Max-Age=60/i);
      const sealed = jar.get(shortLived.url, "herald_session")!;
      const { e } = JSON.parse(Buffer.from(sealed.split(".")[0]!, "base64url").toString());
      assert.ok(Math.abs(e - (Date.now() / 1000 + 60)) < 5, "the cookie itself says when it ends, a minute on");

      // A minute is long to wait: a session sealed (with the development secret) to have
      // ended a second ago stands for one whose minute is up.
      const expired = encodeSession(devSessionSecret, {
        userId: "carol",
        csrfToken: "x".repeat(32),
        expiresAt: new Date(Date.now() - 1000),
      });
      const headers = { cookie: `herald_session=${expired}` };
      const response = await fetch(`${shortLived.url}/api/groups/design/uploads`, { headers });
      assert.equal(response.status, 401);
      assert.match(((await response.json()) as Problem).detail, /expired; sign in again/);
      const page = await fetch(`${shortLived.url}/`, { headers, redirect: "manual" });
      assert.equal(page.status, 303);
    } finally {
      await shortLived.stop();
    }
  });

  it("when alice signs out, then her session ends and the page asks her to sign in", async () => {
    const jar = await signedInJar("alice");
    const token = await csrfOf(jar);
    const refused = await call(jar, "/signout", { method: "POST", body: new URLSearchParams({}) });
    assert.equal(refused.status, 403, "sign-out needs the CSRF token too (or any site could sign her out)");
    const out = await call(jar, "/signout", { method: "POST", body: new URLSearchParams({ _csrf: token }) });
    assert.equal(out.status, 303);
    assert.equal(location(out), "/signin");
    assert.equal(jar.get(herald.url, "herald_session"), undefined, "the cookie is cleared");
    assert.equal((await call(jar, "/")).status, 303);
    assert.equal((await call(jar, "/api/outbox")).status, 401);
  });
});

describe("CSRF", () => {
  it("when a cookie-authenticated POST, PUT or DELETE has no or a wrong CSRF token, then it is 403; with it, it passes", async () => {
    const jar = await signedInJar("alice");
    const token = await csrfOf(jar);
    const upload = () => {
      const form = new FormData();
      form.append("file", new Blob(["plan"], { type: "text/plain" }), "plan.txt");
      return form;
    };
    const preferences = JSON.stringify({ default: "immediate" });
    const json = { "content-type": "application/json" };
    const requests: [string, string, () => RequestInit, number][] = [
      ["POST", "/api/groups/design/uploads", () => ({ body: upload() }), 202],
      ["PUT", "/api/me/preferences", () => ({ body: preferences, headers: json }), 200],
      // A session cannot revoke a static token, but the CSRF check comes first.
      ["DELETE", "/api/me/token", () => ({}), 409],
    ];
    for (const [method, path, init, passes] of requests) {
      const without = await call(jar, path, { method, ...init() });
      assert.equal(without.status, 403, `${method} ${path} without a token`);
      const problem = (await without.json()) as Problem;
      assert.equal(problem.type, "urn:herald:problem:csrf");
      assert.match(problem.detail, /CSRF token is required/);

      const headers = (extra: Record<string, string>) => ({ ...(init().headers as Record<string, string>), ...extra });
      const wrong = await call(jar, path, { method, ...init(), headers: headers({ "x-csrf-token": "wrong" }) });
      assert.equal(wrong.status, 403, `${method} ${path} with a wrong token`);
      assert.match(((await wrong.json()) as Problem).detail, /does not match/);

      const right = await call(jar, path, { method, ...init(), headers: headers({ "x-csrf-token": token }) });
      assert.equal(right.status, passes, `${method} ${path} with the token`);
    }
  });

  it("when the same calls carry a bearer token instead of the cookie, then no CSRF token is needed", async () => {
    const response = await fetch(`${herald.url}/api/me/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.alice}`, "content-type": "application/json" },
      body: JSON.stringify({ default: "immediate" }),
    });
    assert.equal(response.status, 200);
  });

  it("when the dev sign-in form is posted without the herald_csrf cookie's token, then it is refused", async () => {
    const jar = new CookieJar();
    await jar.fetch(`${herald.url}/signin`); // sets herald_csrf
    const token = jar.get(herald.url, "herald_csrf");
    assert.ok(token);
    const form = (fields: Record<string, string>) => ({ method: "POST", body: new URLSearchParams(fields) });
    assert.equal((await jar.fetch(`${herald.url}/signin/dev`, form({ userId: "alice" }))).status, 403);
    assert.equal((await jar.fetch(`${herald.url}/signin/dev`, form({ userId: "alice", _csrf: "x" }))).status, 403);
    const ok = await jar.fetch(
      `${herald.url}/signin/dev`,
      form({ userId: "alice", _csrf: token, returnTo: "/outbox" }),
    );
    assert.equal(ok.status, 303);
    assert.equal(location(ok), "/outbox");
    const unknown = await new CookieJar().fetch(`${herald.url}/signin/dev`, form({ userId: "nobody" }));
    assert.equal(unknown.status, 403, "no token, no answer about users");
  });
});

/** Signs in through the dev form, as a developer picking a seeded user does. */
async function devSignIn(url: string, userId: string) {
  const jar = new CookieJar();
  await jar.fetch(`${url}/signin`);
  const response = await jar.fetch(`${url}/signin/dev`, {
    method: "POST",
    body: new URLSearchParams({ userId, _csrf: jar.get(url, "herald_csrf") ?? "" }),
  });
  assert.equal(response.status, 303, await response.clone().text());
  return jar;
}

describe("group membership", () => {
  let web: RunningWeb;
  let designMembers: string[];

  before(async () => {
    // A directory whose group changes while users are signed in.
    const seed = createSeedDirectory(demoSeed);
    designMembers = ["carol"];
    const directory: Directory = {
      ...seed,
      group: (id) => {
        const group = seed.group(id);
        return group && id === "design" ? ({ ...group, members: designMembers } satisfies Group) : group;
      },
    };
    const config = loadConfig({
      LOG_LEVEL: "silent",
      PORT: "0",
      HERALD_DATA_DIR: tempDir("data"),
      ...provider.heraldEnv(),
    });
    web = await startWeb(config, {
      directory,
      queue: createMemoryQueue({ concurrency: 1, maxAttempts: 1, retryBaseMs: 1000 }),
    });
  });
  after(async () => web?.stop());

  it("when carol is removed from the group, then her session loses access at once; added back, she has it again", async () => {
    const jar = await devSignIn(web.url, "carol");
    const uploads = () => jar.fetch(`${web.url}/api/groups/design/uploads`);
    assert.equal((await uploads()).status, 200);
    designMembers = [];
    const refused = await uploads();
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as Problem).detail, /not a member of group design/);
    designMembers = ["carol"];
    assert.equal((await uploads()).status, 200);
  });

  it("when dave, a member of no group, asks for group design, then it is 403 by session and by token", async () => {
    const jar = await devSignIn(web.url, "dave");
    assert.equal((await jar.fetch(`${web.url}/api/groups/design/uploads`)).status, 403);
    const byToken = await fetch(`${web.url}/api/groups/design/uploads`, {
      headers: { authorization: `Bearer ${tokens.dave}` },
    });
    assert.equal(byToken.status, 403);
  });
});

describe("production", () => {
  let web: RunningWeb;

  before(async () => {
    // Production's other demands are met: a seed of its own, SMTP (not reached: the web only
    // records), secrets. Only the web is started.
    const dir = tempDir("production");
    const seed = {
      users: demoSeed.users.map((u) => ({ ...u, token: `${u.id}-${randomBytes(24).toString("base64url")}` })),
      groups: demoSeed.groups,
    };
    writeFileSync(`${dir}/seed.json`, JSON.stringify(seed));
    const config = loadConfig({
      LOG_LEVEL: "silent",
      PORT: "0",
      NODE_ENV: "production",
      HERALD_DATA_DIR: dir,
      HERALD_SEED: `${dir}/seed.json`,
      SMTP_URL: "smtp://127.0.0.1:1",
      HERALD_UNSUBSCRIBE_SECRET: "u".repeat(40),
      HERALD_SESSION_SECRET: "s".repeat(40),
    });
    web = await startWeb(config, { queue: createMemoryQueue({ concurrency: 1, maxAttempts: 1, retryBaseMs: 1000 }) });
  });
  after(async () => web?.stop());

  it("when NODE_ENV=production, then the dev sign-in is not there (404), even with a valid form", async () => {
    const jar = new CookieJar();
    await jar.fetch(`${web.url}/signin`);
    const response = await jar.fetch(`${web.url}/signin/dev`, {
      method: "POST",
      body: new URLSearchParams({ userId: "alice", _csrf: jar.get(web.url, "herald_csrf") ?? "" }),
    });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as Problem).type, "urn:herald:problem:not-found");
    assert.equal(jar.get(web.url, "herald_session"), undefined);
  });
});
