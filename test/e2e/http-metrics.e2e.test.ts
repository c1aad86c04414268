import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { type HeraldProcess, startHerald } from "../support/herald-process.ts";

// herald_http_request_duration_seconds as an operator reads it: every request under its route
// template, /api included, whether it was answered by its handler or refused on the way
// (authentication, a path that matches nothing, a path that cannot be decoded). Herald runs as
// `npm start` runs it, so its log lines can be read too.

let herald: HeraldProcess;
before(async () => {
  herald = await startHerald();
});
after(() => herald?.stop());

/** `route|status` → count, for one method, from herald_http_request_duration_seconds_count. */
async function requestCounts(method: string) {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  const counts = new Map<string, number>();
  const series =
    /^herald_http_request_duration_seconds_count\{method="([^"]*)",route="([^"]*)",status="([^"]*)"\} (\S+)$/gm;
  for (const [, m, route, status, value] of text.matchAll(series)) {
    if (m === method) counts.set(`${route}|${status}`, Number(value));
  }
  return counts;
}

it("labels each request with its route template, and requests that matched no route with a fixed label", async () => {
  const api = client(herald.url);
  assert.equal((await api.get("/api/groups/design/uploads")).status, 401);
  assert.equal((await api.get("/api/no-such-thing", tokens.carol)).status, 404);
  assert.equal((await api.get("/api/groups/design/uploads", tokens.carol)).status, 200);
  const noFilePart = new FormData();
  noFilePart.append("note", "no file");
  assert.equal((await api.post("/api/groups/design/uploads", tokens.carol, noFilePart)).status, 400);
  assert.equal((await api.get("/no-such-page")).status, 404);

  const get = await requestCounts("GET");
  const post = await requestCounts("POST");
  assert.equal(get.get("/api (unauthenticated)|401"), 1);
  assert.equal(get.get("/api (unmatched)|404"), 1);
  assert.equal(get.get("/api/groups/:groupId/uploads|200"), 1);
  assert.equal(post.get("/api/groups/:groupId/uploads|400"), 1, "a refusal by the handler keeps the /api prefix");
  assert.equal(get.get("unmatched|404"), 1);
  const routes = [...get.keys(), ...post.keys()].map((key) => key.split("|")[0]!);
  for (const route of routes) assert.ok(!route.includes("no-such"), `a raw path became a label: ${route}`);
});

it("a path with bad percent-encoding is a 400, counted as such, and not logged as an error", async () => {
  const api = client(herald.url);
  const res = await api.get("/api/groups/%zz/uploads", tokens.carol);
  assert.equal(res.status, 400);
  assert.equal(res.body.type, "urn:herald:problem:bad-request");

  const get = await requestCounts("GET");
  assert.equal(get.get("/api (unmatched)|400"), 1);
  assert.deepEqual(
    [...get.keys()].filter((key) => key.endsWith("|500")),
    [],
    "no request counted as a server error",
  );
  const errorLines = herald
    .output()
    .split("\n")
    .filter((line) => /"level":(50|60)/.test(line));
  assert.deepEqual(errorLines, []);
});
