import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ParsedMail } from "mailparser";
import { signUnsubscribeToken, verifyUnsubscribeToken } from "@herald/core";
import { client, tokens } from "../support/api-client.ts";
import { eventually } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";
import { writeSeed } from "../support/seed.ts";

// Per-admin notification preferences (immediate / off, per group and a default) and RFC 8058
// one-click unsubscribe, end to end: embedded Herald in this process, mail to a real SMTP
// server, parsed with mailparser. Two groups with the same two admins, so that "off" for one
// group is seen to leave the other alone. The tests run in order and build on each other.

const secret = "e2e-unsubscribe-secret-0123456789abcdefghijklmnop";
const publicUrl = "https://herald.example.test";
const groups = [
  { id: "design", name: "Design Team", admins: ["alice", "bob"], members: ["carol"] },
  { id: "research", name: "Research", admins: ["alice", "bob"], members: ["carol"] },
];

let sink: SmtpSink;
let herald: InProcessHerald;
let api: ReturnType<typeof client>;
let env: Record<string, string>;

before(async () => {
  sink = await startSmtpSink();
  const seedFile = writeSeed(groups);
  env = { SMTP_URL: sink.url, HERALD_SEED: seedFile, HERALD_UNSUBSCRIBE_SECRET: secret, HERALD_PUBLIC_URL: publicUrl };
  herald = await startHeraldInProcess(env);
  api = client(herald.url);
});
after(async () => {
  await herald?.stop();
  await sink?.close();
});

const preferences = async (token: string) => {
  const res = await api.get("/api/me/preferences", token);
  assert.equal(res.status, 200);
  return res.body;
};
const put = (token: string, body: unknown) =>
  fetch(`${herald.url}/api/me/preferences`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const preferenceChanges = async (source: string) => {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  return Number(new RegExp(`herald_preference_changes_total\\{source="${source}"\\} (\\d+)`).exec(text)?.[1]);
};

/** Uploads as carol; returns whom the upload notifies, once each of them has the email. */
async function uploadTo(groupId: string, name: string) {
  const res = await api.upload(groupId, tokens.carol, { name, content: name });
  assert.equal(res.status, 202);
  const notified = (res.body.notifications as Array<{ notificationId: string; recipient: string }>).map(
    (n) => n.recipient,
  );
  for (const { notificationId } of res.body.notifications) {
    await eventually(
      async () => sink.countNotification(notificationId) === 1 || undefined,
      15_000,
      `email ${notificationId}`,
    );
  }
  return notified.sort();
}

const mailTo = (address: string, filename: string): ParsedMail => {
  const mail = sink.messages.find(
    (m) => m.subject?.includes(filename) && [m.to].flat().some((to) => to?.value.some((v) => v.address === address)),
  );
  assert.ok(mail, `an email to ${address} about ${filename}`);
  return mail;
};
const unsubscribeLink = (mail: ParsedMail) => {
  const line = mail.headerLines.find((h) => h.key === "list-unsubscribe")?.line ?? "";
  // Unfolded as RFC 5322 says (the line break goes, the whitespace after it stays).
  const url = /^List-Unsubscribe:\s*<(https:[^>\s]+)>$/.exec(line.replace(/\r?\n(?=[ \t])/g, ""))?.[1];
  assert.ok(url, `List-Unsubscribe header: ${line}`);
  return new URL(url);
};
/** The link's path and query, on the Herald under test (the link itself names HERALD_PUBLIC_URL). */
const local = (link: URL) => `${herald.url}${link.pathname}${link.search}`;
const oneClick = (url: string) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });

describe("notification preferences through the API", () => {
  it("start at immediate for every group the user is an admin of, with no history", async () => {
    assert.deepEqual(await preferences(tokens.alice), {
      default: "immediate",
      groups: [
        { groupId: "design", groupName: "Design Team", preference: "immediate", setting: "default" },
        { groupId: "research", groupName: "Research", preference: "immediate", setting: "default" },
      ],
      history: [],
    });
    assert.deepEqual((await preferences(tokens.carol)).groups, [], "carol administers no group");
  });

  it("refuses bad input with problem+json naming the field, digests' times and zones included, and records nothing", async () => {
    const digest = (time: string, timeZone: string) => ({ digest: { time, timeZone } });
    const refusals: Array<[unknown, number, RegExp]> = [
      [{ default: "digest" }, 400, /default: must be "immediate", "off" or \{"digest":\{"time":"HH:MM","timeZone"/],
      [{ groups: { design: "digest" } }, 400, /groups\.design: must be "immediate", "off", "default" or \{"digest"/],
      [{ default: "loud" }, 400, /default: must be "immediate", "off" or/],
      [{ default: digest("08:00", "Mars/Olympus_Mons") }, 400, /default\.digest\.timeZone: must be an IANA time zone/],
      [{ groups: { design: digest("08:00", "CEST") } }, 400, /groups\.design\.digest\.timeZone: must be an IANA/],
      [{ default: digest("24:00", "UTC") }, 400, /default\.digest\.time: must be HH:MM on a 24-hour clock/],
      [{ default: digest("8:00", "UTC") }, 400, /default\.digest\.time: must be HH:MM/],
      [{ default: { digest: { time: "08:00" } } }, 400, /default\.digest\.timeZone/],
      [{ default: { digest: { time: "08:00", timeZone: "UTC", days: 2 } } }, 400, /default\.digest: .*days/],
      [{ groups: { design: "off" }, extra: 1 }, 400, /extra/],
      [{}, 400, /name at least one change/],
      [{ groups: { nowhere: "off" } }, 404, /No group nowhere/],
    ];
    for (const [body, status, detail] of refusals) {
      const res = await put(tokens.alice, body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
      assert.match((await res.json()).detail, detail);
    }
    const notJson = await fetch(`${herald.url}/api/me/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.alice}`, "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(notJson.status, 400);
    assert.match(notJson.headers.get("content-type") ?? "", /^application\/problem\+json/);
    const carol = await put(tokens.carol, { groups: { design: "off" } });
    assert.equal(carol.status, 403, "only admins are notified, so only admins choose");
    assert.equal((await put("not-a-token", { default: "off" })).status, 401);
    assert.deepEqual((await preferences(tokens.alice)).history, []);
    assert.equal(await preferenceChanges("api"), 0);
  });

  it("off for a group: that admin gets no email for its uploads, the other admin still does", async () => {
    const res = await put(tokens.alice, { groups: { design: "off" } });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body.groups[0], {
      groupId: "design",
      groupName: "Design Team",
      preference: "off",
      setting: "off",
    });
    assert.equal(body.groups[1].preference, "immediate", "research is left alone");
    assert.equal(body.history.length, 1);
    assert.equal(body.history[0].groupId, "design");
    assert.equal(body.history[0].preference, "off");
    assert.equal(body.history[0].setBy, "user");
    assert.ok(Date.parse(body.history[0].at) > 0);
    assert.deepEqual(await preferences(tokens.alice), body, "read back as it was answered");

    assert.deepEqual(await uploadTo("design", "design-1.txt"), ["bob@example.test"]);
    assert.equal(sink.countFor("alice@example.test"), 0);
    assert.deepEqual(await uploadTo("research", "research-1.txt"), ["alice@example.test", "bob@example.test"]);
    assert.equal(await preferenceChanges("api"), 1);

    // The same choice again changes nothing, and records nothing.
    assert.equal((await put(tokens.alice, { groups: { design: "off" } })).status, 200);
    assert.equal((await preferences(tokens.alice)).history.length, 1);
  });
});

describe("one-click unsubscribe (RFC 8058)", () => {
  it("every email carries List-Unsubscribe (an https link with a signed token) and List-Unsubscribe-Post", async () => {
    assert.ok(sink.messages.length >= 3);
    for (const mail of sink.messages) {
      const link = unsubscribeLink(mail);
      assert.equal(link.origin, publicUrl);
      assert.equal(link.pathname, "/unsubscribe");
      const post = mail.headerLines.filter((h) => h.key === "list-unsubscribe-post").map((h) => h.line);
      assert.deepEqual(post, ["List-Unsubscribe-Post: List-Unsubscribe=One-Click"]);
      // mailparser's own reading of the List-* headers.
      const list = mail.headers.get("list") as Record<string, { url?: string; name?: string }>;
      assert.equal(list.unsubscribe?.url, link.href);
      assert.equal(list["unsubscribe-post"]?.name, "List-Unsubscribe=One-Click");
      const to = [mail.to].flat()[0]!.value[0]!.address!;
      const verified = verifyUnsubscribeToken(secret, link.searchParams.get("token"));
      assert.ok(verified.ok);
      assert.equal(`${verified.userId}@example.test`, to, "the token names the recipient");
      assert.equal(verified.groupId, /research/.test(mail.subject ?? "") ? "research" : "design");
      const daysLeft = (verified.expiresAt.getTime() - Date.now()) / 86_400_000;
      assert.ok(daysLeft > 59 && daysLeft <= 60, `expires in ${daysLeft} days`);
    }
  });

  it("GET shows a confirm page with a POST form and changes nothing", async () => {
    const link = unsubscribeLink(mailTo("alice@example.test", "research-1.txt"));
    const before = await preferences(tokens.alice);
    const page = await fetch(local(link));
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    const html = await page.text();
    assert.match(html, /<form method="post" action="\/unsubscribe\?token=[^"]+">/);
    assert.match(html, /Research/);
    assert.deepEqual(await preferences(tokens.alice), before);
    assert.equal(await preferenceChanges("unsubscribe"), 0);
  });

  it("POST with the token turns that group's mail off for that admin, recorded as an event", async () => {
    const link = unsubscribeLink(mailTo("alice@example.test", "research-1.txt"));
    const res = await oneClick(local(link));
    assert.equal(res.status, 200);
    assert.match(await res.text(), /no more emails about uploads to <strong>Research<\/strong>/);

    const after = await preferences(tokens.alice);
    assert.equal(after.groups.find((g: { groupId: string }) => g.groupId === "research").preference, "off");
    assert.deepEqual(
      after.history.map(({ groupId, preference, setBy }: Record<string, string>) => ({ groupId, preference, setBy })),
      [
        { groupId: "design", preference: "off", setBy: "user" },
        { groupId: "research", preference: "off", setBy: "unsubscribe-link" },
      ],
    );
    assert.equal(await preferenceChanges("unsubscribe"), 1);
    assert.equal((await preferences(tokens.bob)).history.length, 0, "bob's preferences are his own");

    const alicesMail = sink.countFor("alice@example.test");
    assert.deepEqual(await uploadTo("research", "research-2.txt"), ["bob@example.test"]);
    assert.equal(sink.countFor("alice@example.test"), alicesMail, "no further mail for that group");

    // A mail client may send it twice: the second records nothing.
    assert.equal((await oneClick(local(link))).status, 200);
    assert.equal((await preferences(tokens.alice)).history.length, 2);
  });

  it("refuses forged, expired, tampered and malformed tokens, and records nothing", async () => {
    const bobsLink = unsubscribeLink(mailTo("bob@example.test", "research-2.txt"));
    const bobsToken = bobsLink.searchParams.get("token")!;
    const [, signature] = bobsToken.split(".");
    const inAMonth = new Date(Date.now() + 30 * 86_400_000);
    // The payload of a token for bob and the other group, with the signature of bob's real one.
    const [otherGroup] = signUnsubscribeToken("anything-at-all", {
      userId: "bob",
      groupId: "design",
      expiresAt: inAMonth,
    }).split(".");
    const cases: Array<[string, string, number, string]> = [
      [
        "forged",
        signUnsubscribeToken("not-the-secret-but-as-long-as-it-0123456789", {
          userId: "bob",
          groupId: "research",
          expiresAt: inAMonth,
        }),
        403,
        "forged",
      ],
      [
        "expired",
        signUnsubscribeToken(secret, { userId: "bob", groupId: "research", expiresAt: new Date(Date.now() - 1000) }),
        403,
        "expired",
      ],
      ["another group's", `${otherGroup}.${signature}`, 403, "forged"],
      ["malformed", "not-a-token", 400, "malformed"],
    ];
    const bobBefore = await preferences(tokens.bob);
    for (const [what, token, status, reason] of cases) {
      const url = `${herald.url}/unsubscribe?token=${encodeURIComponent(token)}`;
      const posted = await oneClick(url);
      assert.equal(posted.status, status, what);
      assert.match(posted.headers.get("content-type") ?? "", /^application\/problem\+json/, what);
      assert.equal((await posted.json()).type, `urn:herald:problem:unsubscribe-token-${reason}`, what);
      const page = await fetch(url);
      assert.equal(page.status, status, `GET ${what}`);
      assert.match(await page.text(), /This unsubscribe link does not work/);
    }
    assert.equal((await oneClick(`${herald.url}/unsubscribe`)).status, 400, "no token at all");
    assert.deepEqual(await preferences(tokens.bob), bobBefore);
    assert.equal(await preferenceChanges("unsubscribe"), 1);
    // Bob still hears about research: nothing was turned off for him.
    assert.deepEqual(await uploadTo("research", "research-3.txt"), ["bob@example.test"]);
  });

  it("keeps the preferences across a restart: they are replayed from the log", async () => {
    const before = await preferences(tokens.alice);
    await herald.stop();
    herald = await startHeraldInProcess(env, herald.dataDir);
    api = client(herald.url);
    assert.deepEqual(await preferences(tokens.alice), before);
    assert.deepEqual(await uploadTo("design", "design-2.txt"), ["bob@example.test"]);
    assert.deepEqual(await uploadTo("research", "research-4.txt"), ["bob@example.test"]);
    // And a link from before the restart still works (the secret is the same).
    const bobsLink = unsubscribeLink(mailTo("bob@example.test", "design-1.txt"));
    assert.equal((await oneClick(local(bobsLink))).status, 200);
    assert.equal((await preferences(tokens.bob)).groups[0].preference, "off");
    assert.deepEqual(await uploadTo("design", "design-3.txt"), []);
  });
});

describe("invalid unsubscribe links", () => {
  it("are throttled per client address like failed sign-ins: 429 with Retry-After, and a valid link waits too", async () => {
    const claims = { userId: "alice", groupId: "design", expiresAt: new Date(Date.now() + 86_400_000) };
    const forged = `${herald.url}/unsubscribe?token=${signUnsubscribeToken("x".repeat(40), claims)}`;
    // HERALD_AUTH_FAILURES_PER_MINUTE's default; this Herald (restarted above) counted none yet.
    for (let i = 0; i < 20; i++) assert.equal((await oneClick(forged)).status, 403);
    const throttled = await oneClick(forged);
    assert.equal(throttled.status, 429);
    assert.ok(Number(throttled.headers.get("retry-after")) >= 1);
    const valid = unsubscribeLink(mailTo("bob@example.test", "research-1.txt"));
    assert.equal((await oneClick(local(valid))).status, 429);
    assert.equal((await preferences(tokens.bob)).groups[1].preference, "immediate", "and nothing was recorded");
  });
});
