import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { signUnsubscribeToken } from "@herald/core";
import { client, tokens } from "../support/api-client.ts";
import { launchBrowser } from "../support/browser.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { writeSeed } from "../support/seed.ts";

// The Notifications page (/preferences) as its users meet it, in Debian's Chromium (headless):
// Herald in this process, signed in by picking a seeded user (development sign-in; the
// identity provider's way in is website.e2e's). Two groups: Alice administers both, Carol is a
// member of Design Team and an admin of Research. One story per user, in order: Alice's
// browser is in New York, she picks a digest for one group and "No email" as her default, an
// unsubscribe link changes one, and forged or bad forms change nothing; Carol, on a phone,
// uses the keyboard. Whatever the page says is checked against GET /api/me/preferences.
// Screenshots go to test-output/screenshots/ (kept for a person to look at, not compared).

const screenshots = new URL("../../test-output/screenshots/", import.meta.url).pathname;
mkdirSync(screenshots, { recursive: true });
const shoot = (page: Page, name: string) => page.screenshot({ path: `${screenshots}${name}.png`, fullPage: true });

const secret = "e2e-unsubscribe-secret-0123456789abcdefghijklmnop";
const groups = [
  { id: "design", name: "Design Team", admins: ["alice", "bob"], members: ["carol"] },
  { id: "research", name: "Research", admins: ["alice", "carol"], members: ["bob"] },
];

let browser: Browser;
let herald: InProcessHerald;
let base: string;
before(async () => {
  const seedFile = writeSeed(groups);
  herald = await startHeraldInProcess({ HERALD_SEED: seedFile, HERALD_UNSUBSCRIBE_SECRET: secret });
  base = herald.url;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await herald?.stop();
});

/** What the API says the user's preferences are. */
async function apiPreferences(token: string) {
  const res = await client(base).get("/api/me/preferences", token);
  assert.equal(res.status, 200);
  return res.body as {
    default: unknown;
    groups: Array<{ groupId: string; preference: unknown; setting: unknown }>;
    history: unknown[];
  };
}
const groupIn = (prefs: Awaited<ReturnType<typeof apiPreferences>>, groupId: string) =>
  prefs.groups.find((g) => g.groupId === groupId);

/** Opens Herald, picks the seeded user on the sign-in page, and follows the menu to Notifications. */
async function signInAndOpenNotifications(page: Page, name: RegExp) {
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, "/signin");
  await page.getByLabel(name).check();
  await page.getByRole("button", { name: "Sign in as this user" }).click();
  await page.waitForURL(`${base}/`);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Notifications" }).click();
  await page.waitForURL(`${base}/preferences`);
}

const inEffect = (section: Locator) => section.locator(".in-effect strong").textContent();

/** Submits the section's form and waits for the page it leads to; returns the POST's status (303 when saved). */
async function save(page: Page, section: Locator) {
  // Marks this document, so that what is read next is from the page the form leads to.
  await page.evaluate(() => ((window as unknown as { before: boolean }).before = true));
  const answered = page.waitForResponse((r) => r.url() === `${base}/preferences` && r.request().method() === "POST");
  await section.getByRole("button", { name: /^Save/ }).click();
  const status = (await answered).status();
  await page.waitForFunction(() => !(window as unknown as { before?: boolean }).before);
  await page.waitForLoadState();
  return status;
}

describe("the Notifications page, for an admin whose browser is in New York", () => {
  let context: BrowserContext;
  let page: Page;
  const design = () => page.locator("#pref-group-design");
  const research = () => page.locator("#pref-group-research");
  const mine = () => page.locator("#pref-default");

  before(async () => {
    context = await browser.newContext({ timezoneId: "America/New_York", locale: "en-US" });
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
  });

  it("when she opens Notifications from the menu, then her default and each group she administers show an email per upload, with her own zone preselected", async () => {
    await signInAndOpenNotifications(page, /Alice Admin/);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Notifications");
    assert.equal(await mine().locator("legend").textContent(), "Your default");
    assert.equal(await inEffect(mine()), "An email per upload");
    for (const group of [design(), research()]) {
      assert.equal(await inEffect(group), "An email per upload (your default)");
      assert.equal(await group.getByLabel(/^Same as my default/).isChecked(), true);
      assert.equal(await group.getByLabel("Time of day").inputValue(), "08:00");
      assert.equal(
        await group.getByLabel("Time zone", { exact: true }).inputValue(),
        "America/New_York",
        "the browser's zone",
      );
    }
    assert.deepEqual(await page.locator("main legend").allTextContents(), ["Your default", "Design Team", "Research"]);
    assert.equal(await page.getByRole("heading", { name: "Groups where you are a member" }).count(), 0);
    assert.match((await page.locator("main").textContent()) ?? "", /No changes yet/);
  });

  it("when she chooses a daily digest at 07:30 in Tokyo for Design Team and saves, then after a reload it is in effect, and the API agrees", async () => {
    await design().getByLabel("Time of day").fill("07:30");
    await design().getByLabel("Time zone", { exact: true }).selectOption("Asia/Tokyo");
    assert.equal(await design().getByLabel("A daily digest").isChecked(), true, "setting its time chose the digest");
    assert.equal(await save(page, design()), 303, "saved, and back to the page");
    assert.equal(new URL(page.url()).searchParams.get("saved"), "group:design");
    assert.equal(await design().getByRole("status").textContent(), "Saved.");

    await page.reload();
    assert.equal(await inEffect(design()), "A daily digest at 07:30 in Asia/Tokyo");
    assert.equal(await design().getByLabel("A daily digest").isChecked(), true);
    assert.equal(await design().getByLabel("Time of day").inputValue(), "07:30");
    assert.equal(
      await design().getByLabel("Time zone", { exact: true }).inputValue(),
      "Asia/Tokyo",
      "the saved zone, not a guess",
    );
    assert.equal(await inEffect(research()), "An email per upload (your default)", "the other group is as it was");

    assert.equal(await save(page, design()), 303, "saved again as it is");
    assert.equal(await design().getByRole("status").textContent(), "Nothing to change: that was already your choice.");

    const prefs = await apiPreferences(tokens.alice);
    assert.deepEqual(groupIn(prefs, "design")?.preference, { digest: { time: "07:30", timeZone: "Asia/Tokyo" } });
    assert.equal(prefs.history.length, 1, "one change recorded, not two");
    assert.equal(groupIn(prefs, "research")?.setting, "default");
    assert.equal(prefs.default, "immediate");
    await shoot(page, "preferences-digest");
  });

  it("when she sets her default to No email, then the group that follows it says so, and the history lists both changes as hers, in her local time", async () => {
    await mine().getByLabel("No email", { exact: true }).check();
    assert.equal(await save(page, mine()), 303);
    assert.equal(await inEffect(mine()), "No email");
    assert.equal(await inEffect(research()), "No email (your default)");
    assert.equal(await inEffect(design()), "A daily digest at 07:30 in Asia/Tokyo");
    assert.equal((await apiPreferences(tokens.alice)).default, "off");

    const history = page.locator(".history li");
    assert.deepEqual(await history.locator(".what").allTextContents(), [
      "Your default: no email",
      "Design Team: a daily digest at 07:30 in Asia/Tokyo",
    ]);
    assert.deepEqual(await history.locator(".by").allTextContents(), ["set by you", "set by you"]);
    // The server writes "… UTC"; the page's script rewrites each time in the reader's zone.
    const when = await history.first().locator("time").textContent();
    assert.doesNotMatch(when ?? "", /UTC$/);
    const instant = new Date((await history.first().locator("time").getAttribute("datetime"))!);
    const newYork = instant.toLocaleString("en-US", {
      timeZone: "America/New_York",
      dateStyle: "medium",
      timeStyle: "medium",
    });
    const spaced = (text: string | null) => (text ?? "").replace(/\s+/g, " ");
    assert.equal(spaced(when), spaced(newYork), "the time on New York's clock");
  });

  it("when an unsubscribe link in an email turns Research off, then the page shows it in effect and says the link did it", async () => {
    const token = signUnsubscribeToken(secret, {
      userId: "alice",
      groupId: "research",
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const oneClick = await fetch(`${base}/unsubscribe?token=${encodeURIComponent(token)}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    assert.equal(oneClick.status, 200);

    await page.goto(`${base}/preferences`);
    assert.equal(await inEffect(research()), "No email", "its own choice now, not the default's");
    assert.equal(await research().getByLabel("No email", { exact: true }).isChecked(), true);
    const latest = page.locator(".history li").first();
    assert.equal(await latest.locator(".what").textContent(), "Research: no email");
    assert.equal(await latest.locator(".by").textContent(), "set by an unsubscribe link");
  });

  it("when a form is posted without the page's CSRF token, or with another one, then it is refused 403 and nothing changes", async () => {
    const before = await apiPreferences(tokens.alice);
    // The browser's own cookies go along (page.request shares the context's): only the token is missing.
    const bare = await page.request.post(`${base}/preferences`, {
      form: { scope: "default", choice: "immediate" },
      maxRedirects: 0,
    });
    assert.equal(bare.status(), 403);
    assert.match(await bare.text(), /A CSRF token is required/);
    const forged = await page.request.post(`${base}/preferences`, {
      form: { _csrf: "x".repeat(32), scope: "default", choice: "immediate" },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);
    assert.match(await forged.text(), /The CSRF token does not match this session/);
    const signedOut = await fetch(`${base}/preferences`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "scope=default&choice=immediate",
      redirect: "manual",
    });
    assert.equal(signedOut.status, 401);
    assert.deepEqual(await apiPreferences(tokens.alice), before);
  });

  it("when the time zone is not one that exists, then the page says so next to the zone field, and nothing changes", async () => {
    const before = await apiPreferences(tokens.alice);
    await page.goto(`${base}/preferences`);
    // What a stale or tampered page could send: a zone the server does not know.
    await design()
      .getByLabel("Time zone", { exact: true })
      .evaluate((select: HTMLSelectElement) => select.add(new Option("Mars/Olympus_Mons")));
    await design().getByLabel("Time zone", { exact: true }).selectOption("Mars/Olympus_Mons");
    await design().getByLabel("Time of day").fill("09:00");
    assert.equal(await save(page, design()), 400);

    assert.equal(
      await page.getByRole("alert").textContent(),
      "Nothing was changed: the choice for Design Team has a problem, shown below.",
    );
    const zone = design().getByLabel("Time zone", { exact: true });
    assert.equal(await zone.getAttribute("aria-invalid"), "true");
    const error = page.locator(`#${await zone.getAttribute("aria-describedby")}`);
    assert.equal(
      await error.textContent(),
      "“Mars/Olympus_Mons” is not a time zone this server knows: choose one from the list, e.g. Europe/Berlin or UTC.",
    );
    assert.equal(await zone.evaluate((el) => el === document.activeElement), true, "the field to fix has the focus");
    assert.equal(await design().getByLabel("A daily digest").isChecked(), true, "what she chose is kept");
    assert.equal(await design().getByLabel("Time of day").inputValue(), "09:00");
    assert.equal(await inEffect(design()), "A daily digest at 07:30 in Asia/Tokyo");
    assert.deepEqual(await apiPreferences(tokens.alice), before);
    await shoot(page, "preferences-bad-zone");
  });

  it("when a browser without a time field sends a time that is not HH:MM, then the page says so next to the time and nothing changes; 7:45 is taken as 07:45", async () => {
    const before = await apiPreferences(tokens.alice);
    await page.goto(`${base}/preferences`);
    const time = design().getByLabel("Time of day");
    await time.evaluate((input: HTMLInputElement) => (input.type = "text"));
    await time.fill("7.30pm");
    assert.equal(await save(page, design()), 400);
    assert.equal(await time.getAttribute("aria-invalid"), "true");
    assert.equal(
      await page.locator(`#${await time.getAttribute("aria-describedby")}`).textContent(),
      "“7.30pm” is not a time of day: give it as HH:MM on a 24-hour clock, e.g. 08:00 or 17:30.",
    );
    assert.deepEqual(await apiPreferences(tokens.alice), before);

    await time.evaluate((input: HTMLInputElement) => (input.type = "text"));
    await time.fill("7:45");
    assert.equal(await save(page, design()), 303);
    assert.equal(await inEffect(design()), "A daily digest at 07:45 in Asia/Tokyo");
    assert.deepEqual(groupIn(await apiPreferences(tokens.alice), "design")?.preference, {
      digest: { time: "07:45", timeZone: "Asia/Tokyo" },
    });
  });
});

describe("the Notifications page, for a member, on a phone, with the keyboard", () => {
  let context: BrowserContext;
  let page: Page;
  before(async () => {
    context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
  });

  it("when Carol opens it, then it says she gets no email for the group she is only a member of, and offers a choice for the one she administers", async () => {
    await signInAndOpenNotifications(page, /Carol Member/);
    assert.equal(
      await page.locator(".member-groups li").textContent(),
      "You get no email about uploads to Design Team: only its admins are emailed.",
    );
    assert.equal(await page.locator("#pref-group-design").count(), 0, "no choice for Design Team");
    assert.equal(await page.locator("#pref-group-research legend").textContent(), "Research");
    const fitsThePhone = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.equal(fitsThePhone, true, "nothing sticks out sideways at phone width");
    await shoot(page, "preferences-phone");
  });

  it("when she posts a choice for the group she is only a member of, then it is refused 403 and nothing is recorded", async () => {
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
    const refused = await page.request.post(`${base}/preferences`, {
      form: { _csrf: csrf!, scope: "group:design", choice: "off" },
      maxRedirects: 0,
    });
    assert.equal(refused.status(), 403);
    assert.match(await refused.text(), /You are not an admin of Design Team/);
    assert.deepEqual((await apiPreferences(tokens.carol)).history, []);
  });

  it("when she picks No email for Research with the arrow keys and saves with Tab and Enter, then it is in effect, and the focus was visible on the way", async () => {
    const research = page.locator("#pref-group-research");
    await research.getByLabel(/^Same as my default/).focus();
    await page.keyboard.press("ArrowUp");
    assert.equal(await research.getByLabel("No email", { exact: true }).isChecked(), true);
    const saveButton = research.getByRole("button", { name: "Save the choice for Research" });
    for (let i = 0; i < 10 && !(await saveButton.evaluate((b) => b === document.activeElement)); i++) {
      await page.keyboard.press("Tab");
    }
    assert.equal(await saveButton.evaluate((b) => b === document.activeElement), true, "Tab reaches Save");
    const outline = await saveButton.evaluate((b) => getComputedStyle(b).outlineStyle);
    assert.notEqual(outline, "none", "the focused button shows a focus ring");
    await page.keyboard.press("Enter");
    await page.waitForURL(/saved=group%3Aresearch/);
    assert.equal(await inEffect(research), "No email");
    assert.equal(groupIn(await apiPreferences(tokens.carol), "research")?.preference, "off");
    assert.equal(
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      true,
      "the saved page fits the phone too",
    );
  });
});
