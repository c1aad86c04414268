import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadConfig } from "@herald/core";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";

// The headers that decide whether a page works where it is served. HSTS and
// upgrade-insecure-requests are sent only to a request that came over HTTPS: on plain HTTP they
// would send the browser to an https:// that is not there. Behind a TLS-terminating proxy
// Herald learns the scheme from X-Forwarded-Proto, believed only from the proxies
// HERALD_TRUST_PROXY names. (Plain HTTP as a browser sees it: website.e2e.test.ts.)

const overHttps = { "X-Forwarded-Proto": "https" };

describe("behind a proxy Herald trusts (HERALD_TRUST_PROXY=loopback)", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await startHeraldInProcess({ HERALD_TRUST_PROXY: "loopback" });
  });
  after(async () => {
    await herald?.stop();
  });

  it("when the proxy says the request came over HTTPS, then the page gets HSTS, upgrade-insecure-requests and Secure cookies", async () => {
    const res = await fetch(`${herald.url}/signin`, { headers: overHttps });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000");
    assert.match(res.headers.get("content-security-policy") ?? "", /upgrade-insecure-requests/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.length > 0 && cookies.every((c) => /;\s*Secure/i.test(c)), cookies.join("\n"));
  });

  it("when the request came over plain HTTP, then it gets neither HSTS nor upgrade-insecure-requests, and no Secure cookie", async () => {
    const res = await fetch(`${herald.url}/signin`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("strict-transport-security"), null);
    assert.doesNotMatch(res.headers.get("content-security-policy") ?? "", /upgrade-insecure-requests/);
    assert.ok(res.headers.getSetCookie().every((c) => !/;\s*Secure/i.test(c)));
  });
});

describe("reached directly (HERALD_TRUST_PROXY unset)", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await startHeraldInProcess();
  });
  after(async () => {
    await herald?.stop();
  });

  it("when a client claims X-Forwarded-Proto: https, then it is not believed: no HSTS, no upgrade", async () => {
    const res = await fetch(`${herald.url}/signin`, { headers: overHttps });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("strict-transport-security"), null);
    assert.doesNotMatch(res.headers.get("content-security-policy") ?? "", /upgrade-insecure-requests/);
  });

  it("when an API answer or an asset is served, then it carries nosniff too", async () => {
    const api = await fetch(`${herald.url}/api/groups/design/uploads`);
    assert.equal(api.status, 401);
    assert.equal(api.headers.get("x-content-type-options"), "nosniff");
    const page = await (await fetch(`${herald.url}/signin`)).text();
    const css = /href="(\/assets\/app\.[\da-f]{12}\.css)"/.exec(page)?.[1];
    assert.ok(css, "the page links its stylesheet by a hashed name");
    const asset = await fetch(`${herald.url}${css}`);
    assert.equal(asset.headers.get("x-content-type-options"), "nosniff");
    assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.match(asset.headers.get("content-type") ?? "", /^text\/css/);
  });
});

describe("HERALD_TRUST_PROXY", () => {
  it("when it is a number, a list of subnets or a named range, then it is taken as express takes it", () => {
    assert.equal(loadConfig({}).HERALD_TRUST_PROXY, false);
    assert.equal(loadConfig({ HERALD_TRUST_PROXY: "true" }).HERALD_TRUST_PROXY, true);
    assert.equal(loadConfig({ HERALD_TRUST_PROXY: "2" }).HERALD_TRUST_PROXY, 2);
    assert.deepEqual(loadConfig({ HERALD_TRUST_PROXY: "loopback, 10.0.0.0/8,fd00::/8" }).HERALD_TRUST_PROXY, [
      "loopback",
      "10.0.0.0/8",
      "fd00::/8",
    ]);
  });

  it("when it is anything else, then Herald refuses to start and names the bad entries", () => {
    for (const bad of ["yes", "10.0.0.0/33", "proxy.internal", "10.0.0.1/8/1"]) {
      assert.throws(
        () => loadConfig({ HERALD_TRUST_PROXY: bad }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.length === 1 &&
          error.problems[0]!.startsWith("HERALD_TRUST_PROXY: must be true, false, a number of hops") &&
          error.problems[0]!.endsWith(`not ${bad}`),
        bad,
      );
    }
  });
});
