import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";

// Limits on users and groups, so that one member cannot flood a group's admins with mail or
// fill the disk: uploads per user and per group per minute (429 with Retry-After), and a
// storage quota per group (507). Each refusal comes before the body is read and keeps
// nothing: no event (the group's list is unchanged) and no blob. Each describe runs a Herald
// of its own with small limits. The demo seed: alice and bob admin `design`, carol is a member.

type Api = ReturnType<typeof client>;
type Answer = Awaited<ReturnType<Api["upload"]>>;

const blobFiles = (herald: InProcessHerald) => {
  const root = join(herald.dataDir, "blobs");
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
      .sort();
  } catch {
    return [];
  }
};

/** What a refused upload must leave as it was: the group's uploads, and the blob files. */
const snapshot = async (herald: InProcessHerald, api: Api) => ({
  uploads: (await api.get("/api/groups/design/uploads", tokens.alice)).body.items.map(
    (u: { uploadId: string }) => u.uploadId,
  ),
  blobs: blobFiles(herald),
});

/** herald_upload_refusals_total by reason, from /metrics. */
async function refusals(herald: InProcessHerald): Promise<Record<string, number>> {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, reason, value] of text.matchAll(/^herald_upload_refusals_total\{reason="([^"]*)"\} (\S+)$/gm)) {
    counts[reason!] = Number(value);
  }
  return counts;
}

const upload = (
  api: Api,
  token: string,
  name: string,
  content: string | Uint8Array<ArrayBuffer> = `content of ${name}`,
) => api.upload("design", token, { name, content });

function assertProblem(res: Answer, status: number, slug: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.contentType, /^application\/problem\+json/);
  assert.equal(res.body.type, `urn:herald:problem:${slug}`);
}

function assertTooManyRequests(res: Answer) {
  assertProblem(res, 429, "too-many-requests");
  const retryAfter = Number(res.headers.get("retry-after"));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
}

/** A body that is not multipart at all: refused with 415 once the handler looks at it. */
const notMultipart = (api: Api, token: string) =>
  api.post("/api/groups/design/uploads", token, "just text", { "content-type": "text/plain" });

describe("uploads per user per minute", () => {
  const perUser = 3;
  let herald: InProcessHerald;
  let api: Api;
  before(async () => {
    herald = await startHeraldInProcess({
      HERALD_UPLOADS_PER_USER_PER_MINUTE: String(perUser),
      HERALD_UPLOADS_PER_GROUP_PER_MINUTE: "100",
    });
    api = client(herald.url);
  });
  after(() => herald?.stop());

  it("every refusal reason is exported at 0 from the start", async () => {
    assert.deepEqual(await refusals(herald), { user_rate: 0, group_rate: 0, group_quota: 0 });
  });

  it(`accepts ${perUser} a minute from one user, then 429 with Retry-After and nothing kept; others still upload`, async () => {
    // Uploads that are not accepted give their slot back: a bad request costs nothing.
    assertProblem(await upload(api, tokens.carol, "empty.txt", ""), 400, "bad-request");
    for (let i = 0; i < perUser; i++) assert.equal((await upload(api, tokens.carol, `carol-${i}.txt`)).status, 202);
    const before = await snapshot(herald, api);

    const refused = await upload(api, tokens.carol, "one-too-many.txt");
    assertTooManyRequests(refused);
    assert.match(refused.body.detail, new RegExp(`${perUser} files a minute`));
    // Refused before the body is looked at: a body that is not even multipart gets the 429 too.
    assertTooManyRequests(await notMultipart(api, tokens.carol));
    assert.deepEqual(await snapshot(herald, api), before);

    // The limit is carol's, not the group's.
    assert.equal((await upload(api, tokens.bob, "bob.txt")).status, 202);
    assert.equal((await refusals(herald)).user_rate, 2);
  });

  it("holds against many uploads at once: only the limit's worth is accepted", async () => {
    // alice's first uploads, all started together: none is accepted when the others are checked.
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => upload(api, tokens.alice, `flood-${i}.bin`, new Uint8Array(64 * 1024))),
    );
    const statuses = answers.map((res) => res.status).sort();
    assert.deepEqual(statuses, [...Array(perUser).fill(202), ...Array(10 - perUser).fill(429)]);
    assert.equal((await refusals(herald)).user_rate, 2 + 10 - perUser);
  });
});

describe("uploads per group per minute", () => {
  const perGroup = 4;
  let herald: InProcessHerald;
  let api: Api;
  before(async () => {
    herald = await startHeraldInProcess({
      HERALD_UPLOADS_PER_USER_PER_MINUTE: "100",
      HERALD_UPLOADS_PER_GROUP_PER_MINUTE: String(perGroup),
    });
    api = client(herald.url);
  });
  after(() => herald?.stop());

  it(`accepts ${perGroup} a minute into one group from all its members together, then 429 for everyone`, async () => {
    for (let i = 0; i < perGroup / 2; i++) {
      assert.equal((await upload(api, tokens.carol, `carol-${i}.txt`)).status, 202);
      assert.equal((await upload(api, tokens.bob, `bob-${i}.txt`)).status, 202);
    }
    const before = await snapshot(herald, api);

    const refused = await upload(api, tokens.alice, "alice.txt");
    assertTooManyRequests(refused);
    assert.match(refused.body.detail, new RegExp(`design may receive ${perGroup} files a minute`));
    assertTooManyRequests(await upload(api, tokens.carol, "carol-again.txt"));
    assert.deepEqual(await snapshot(herald, api), before);
    assert.deepEqual(await refusals(herald), { user_rate: 0, group_rate: 2, group_quota: 0 });
  });
});

describe("storage quota per group", () => {
  const quota = 1000;
  let herald: InProcessHerald;
  let api: Api;
  before(async () => {
    herald = await startHeraldInProcess({ HERALD_GROUP_QUOTA_BYTES: String(quota) });
    api = client(herald.url);
  });
  after(() => herald?.stop());

  const bytes = (n: number) => new Uint8Array(n).fill(0x61);

  it("accepts uploads up to the quota; a file larger than what is left gets 507 and nothing is kept", async () => {
    assert.equal((await upload(api, tokens.carol, "a.bin", bytes(400))).status, 202);
    assert.equal((await upload(api, tokens.carol, "b.bin", bytes(400))).status, 202);
    const before = await snapshot(herald, api);

    // 200 bytes are left: the file is fine (far under HERALD_MAX_UPLOAD_BYTES), the group is full.
    const refused = await upload(api, tokens.carol, "c.bin", bytes(300));
    assertProblem(refused, 507, "insufficient-storage");
    assert.match(refused.body.detail, /200 bytes left/);
    assert.match(refused.body.detail, /800 of 1000 bytes used/);
    assert.deepEqual(await snapshot(herald, api), before);
    assert.equal((await refusals(herald)).group_quota, 1);

    // Exactly what is left still fits.
    assert.equal((await upload(api, tokens.carol, "d.bin", bytes(200))).status, 202);
  });

  it("a group at its quota gets 507 at once, before the body is read", async () => {
    const before = await snapshot(herald, api);
    const refused = await upload(api, tokens.bob, "one-byte.txt", "x");
    assertProblem(refused, 507, "insufficient-storage");
    assert.match(refused.body.detail, /used 1000 bytes of its storage quota of 1000 bytes/);
    // Not even multipart, and still the 507: the body was never looked at.
    const res = await notMultipart(api, tokens.bob);
    assert.equal(res.status, 507, JSON.stringify(res.body));
    assert.deepEqual(await snapshot(herald, api), before);
    assert.deepEqual(await refusals(herald), { user_rate: 0, group_rate: 0, group_quota: 3 });
  });
});
