import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ParsedMail } from "mailparser";
import { verifyUnsubscribeToken } from "@herald/core";
import { client, tokens } from "../support/api-client.ts";
import { eventually } from "../support/herald-process.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";
import { writeSeed } from "../support/seed.ts";

// Daily digests end to end, in embedded mode: Herald in this process on the real clock (a
// 1-second tick and grace, a digest time on the next minute that is at least 15 s away),
// mail to a real SMTP server, parsed with mailparser. Three admins of one group: alice on a
// digest (in Asia/Kolkata, +05:30), bob on "immediate", dave "off". Herald is stopped before
// the digest moment and started after it with the mail server away, so the digest is requested
// by the first tick after a restart and cannot be sent; restarted again, it is tried again and
// refused for good (the server refuses alice), then redriven and sent once; a further restart
// sends nothing twice. The tests run in order and build on each
// other; the whole file takes one to one and a half minutes (the wait for the digest moment).

const secret = "e2e-unsubscribe-secret-0123456789abcdefghijklmnop";
const publicUrl = "https://herald.example.test";
const groups = [{ id: "design", name: "Design Team", admins: ["alice", "bob", "dave"], members: ["carol"] }];

let sink: SmtpSink;
let herald: InProcessHerald;
let api: ReturnType<typeof client>;
let env: Record<string, string>;

before(async () => {
  sink = await startSmtpSink();
  const seedFile = writeSeed(groups);
  env = {
    SMTP_URL: sink.url,
    HERALD_SEED: seedFile,
    HERALD_UNSUBSCRIBE_SECRET: secret,
    HERALD_PUBLIC_URL: publicUrl,
    HERALD_DIGEST_TICK_SECONDS: "1",
    HERALD_DIGEST_GRACE_SECONDS: "1",
  };
  herald = await startHeraldInProcess(env);
  api = client(herald.url);
});
after(async () => {
  await herald?.stop();
  await sink?.close();
});

/** The next whole minute at least 15 s away, and how Asia/Kolkata's clock (+05:30) shows it. */
function digestMomentAhead(): { moment: Date; time: string } {
  const moment = new Date(Math.ceil((Date.now() + 15_000) / 60_000) * 60_000);
  const kolkata = new Date(moment.getTime() + 330 * 60_000);
  const time = kolkata.toISOString().slice(11, 16);
  return { moment, time };
}

const put = (token: string, body: unknown) =>
  fetch(`${herald.url}/api/me/preferences`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const metric = async (name: string) => {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
};
const mailsTo = (address: string): ParsedMail[] =>
  sink.messages.filter((m) => [m.to].flat().some((to) => to?.value.some((v) => v.address === address)));
const digestsTo = (address: string) => mailsTo(address).filter((m) => /Daily digest/.test(m.subject ?? ""));

/** The digest's notification in the group's list, as alice (an admin) sees it. */
const digestNotification = async () => {
  const { body } = await api.get("/api/groups/design/notifications", tokens.alice);
  return (body.items as Array<Record<string, string>>).find((n) => n.digestId);
};

/** Uploads as carol; returns the upload id and whom it notified, once they have the email. */
async function uploadAs(name: string, content: string) {
  const res = await api.upload("design", tokens.carol, { name, content });
  assert.equal(res.status, 202);
  const notifications = res.body.notifications as Array<{ notificationId: string; recipient: string }>;
  for (const { notificationId } of notifications)
    await eventually(async () => sink.countNotification(notificationId) === 1 || undefined, 15_000, "email");
  return { uploadId: res.body.uploadId as string, notified: notifications.map((n) => n.recipient) };
}

/** The digest moment of this run (set by the first test, with Herald started) and its HH:MM. */
let moment: Date;
let time: string;
const listed: string[] = [];

describe("daily digests", () => {
  it("a digest is a choice like the others: set per group with a time and an IANA zone, and read back", async () => {
    ({ moment, time } = digestMomentAhead());
    const digest = { digest: { time, timeZone: "Asia/Kolkata" } };
    const res = await put(tokens.alice, { groups: { design: digest } });
    assert.equal(res.status, 200);
    const design = (await res.json()).groups[0];
    assert.deepEqual(design, { groupId: "design", groupName: "Design Team", preference: digest, setting: digest });
    const readBack = await api.get("/api/me/preferences", tokens.alice);
    assert.deepEqual(readBack.body.groups[0].preference, digest);
    assert.deepEqual(readBack.body.history.at(-1).preference, digest);
    assert.equal((await put(tokens.dave, { groups: { design: "off" } })).status, 200);
  });

  it("when files are uploaded before the digest time, then only the immediate admin is emailed at once", async () => {
    for (const name of ["brief.txt", "logo.svg"]) {
      const { uploadId, notified } = await uploadAs(name, `${name} content`);
      assert.deepEqual(notified, ["bob@example.test"], "alice waits for her digest, dave is off");
      listed.push(uploadId);
    }
    assert.ok(Date.now() < moment.getTime(), "the uploads are before the digest moment");
    assert.equal(mailsTo("alice@example.test").length, 0);
    assert.equal(mailsTo("bob@example.test").length, 2);
  });

  it("when Herald is down at the digest time, then the first tick after its start requests the digest", async () => {
    await herald.stop();
    await sink.down(); // so the digest waits, for the next test's restart
    await new Promise((r) => setTimeout(r, Math.max(0, moment.getTime() - Date.now()) + 1500));
    herald = await startHeraldInProcess(env, herald.dataDir);
    api = client(herald.url);
    const digest = await eventually(async () => (await digestNotification()) ?? undefined, 15_000, "the digest");
    assert.equal(digest.recipient, "alice@example.test");
    assert.equal(digest.digestId, `alice:design:${moment.toISOString()}`, "named by admin, group and window end");
    assert.notEqual(digest.status, "sent", "the mail server is away");
    assert.equal(await metric("herald_digests_requested_total"), 1);
    assert.equal(await metric("herald_digest_uploads_sum"), 2);
    const lateness = await metric("herald_digest_lateness_seconds_sum");
    assert.ok(
      lateness >= 1 && lateness < 30,
      `lateness ${lateness} s: from the digest time to the run after the start`,
    );
  });

  it("when Herald restarts before the digest could be sent, then it is tried again after the restart", async () => {
    await herald.stop();
    sink.rejectRecipients(["alice@example.test"]); // back, but refusing alice for good (550)
    await sink.up();
    herald = await startHeraldInProcess(env, herald.dataDir);
    api = client(herald.url);
    await eventually(async () => (await digestNotification())?.status === "failed" || undefined, 15_000, "failed");
    assert.match((await digestNotification())?.lastError ?? "", /550/);
    assert.equal(digestsTo("alice@example.test").length, 0);
  });

  it("when an admin redrives the failed digest, then it is sent, once", async () => {
    sink.rejectRecipients([]);
    const digest = (await digestNotification())!;
    const redriven = await api.post(`/api/notifications/${digest.notificationId}/redrive`, tokens.alice, "");
    assert.equal(redriven.status, 202);
    await eventually(async () => digestsTo("alice@example.test").length === 1 || undefined, 15_000, "alice's digest");
    await new Promise((r) => setTimeout(r, 3000)); // three more ticks
    assert.equal(digestsTo("alice@example.test").length, 1);
    assert.equal(mailsTo("alice@example.test").length, 1, "and no email per upload");
    assert.equal(mailsTo("dave@example.test").length, 0, "dave is off");
    assert.equal(await metric("herald_digests_requested_total"), 0, "not requested again after the restart");
    assert.equal(await metric("herald_digests_sent_total"), 1);
  });

  it("the digest lists exactly the window's uploads: file, size, uploader, time on the admin's clock, link; HTML and text", async () => {
    const [mail] = digestsTo("alice@example.test");
    assert.equal(mail!.subject, "[Design Team] Daily digest: 2 uploads");
    const text = mail!.text ?? "";
    const html = String(mail!.html);
    assert.equal((text.match(/^ {2}\S.*$/gm) ?? []).length, 2, `two uploads listed:\n${text}`);
    for (const [i, name] of ["brief.txt", "logo.svg"].entries()) {
      const link = `${publicUrl}/groups/design/uploads/${listed[i]}`;
      assert.match(
        text,
        new RegExp(
          `${name.replace(".", "\\.")}\\n\\s+Size: ${name.length + 8} bytes\\n\\s+Uploaded by Carol Member at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d GMT\\+5:30\\n\\s+${link}`,
        ),
      );
      assert.ok(html.includes(`<a href="${link}">${name}</a>`), `html links ${name}`);
    }
    assert.match(
      text,
      new RegExp(`and \\d{4}-\\d\\d-\\d\\d ${time} GMT\\+5:30:`),
      "the window ends at the chosen time",
    );
    assert.match(text, /times are in Asia\/Kolkata/);
  });

  it("the digest carries List-Unsubscribe and List-Unsubscribe-Post like every email, for that admin and group", async () => {
    const [mail] = digestsTo("alice@example.test");
    const list = mail!.headers.get("list") as Record<string, { url?: string; name?: string }>;
    const link = new URL(list.unsubscribe!.url!);
    assert.equal(link.origin + link.pathname, `${publicUrl}/unsubscribe`);
    assert.equal(list["unsubscribe-post"]?.name, "List-Unsubscribe=One-Click");
    const verified = verifyUnsubscribeToken(secret, link.searchParams.get("token"));
    assert.ok(verified.ok);
    assert.deepEqual([verified.userId, verified.groupId], ["alice", "design"]);
  });

  it("the digest is a notification in the group's list, with its history: requested, queued, tried, redriven, sent", async () => {
    const digest = await digestNotification();
    assert.equal(digest?.status, "sent");
    const history = await api.get(`/api/notifications/${digest!.notificationId}/history`, tokens.alice);
    const types: string[] = history.body.items.map((e: { type: string }) => e.type);
    assert.equal(types[0], "DigestRequested");
    assert.equal(types[1], "NotificationQueued");
    assert.equal(types.at(-1), "NotificationSent");
    assert.equal(types.filter((t) => t === "NotificationSent").length, 1);
    assert.ok(types.includes("NotificationFailed") && types.includes("NotificationRedriven"), types.join(", "));
    assert.deepEqual(history.body.items[0].data.uploadIds, listed);
  });

  it("when a file is uploaded after the digest time and Herald restarts again, then nothing is sent twice", async () => {
    const { notified } = await uploadAs("late.txt", "after the window");
    assert.deepEqual(notified, ["bob@example.test"]);
    await herald.stop();
    herald = await startHeraldInProcess(env, herald.dataDir);
    api = client(herald.url);
    await new Promise((r) => setTimeout(r, 3000)); // three ticks
    assert.equal(digestsTo("alice@example.test").length, 1, "tomorrow's digest will list late.txt");
    assert.equal(mailsTo("bob@example.test").length, 3, "bob got one email per upload, no more");
    assert.equal(mailsTo("dave@example.test").length, 0);
  });
});
