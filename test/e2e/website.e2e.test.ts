import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { client, tokens } from "../support/api-client.ts";
import { launchBrowser } from "../support/browser.ts";
import { type InProcessHerald, startHeraldInProcess } from "../support/in-process.ts";
import { startTestProvider, type TestProvider } from "../support/oidc-provider.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// The website as its users meet it, in Debian's Chromium (headless): Herald in this process,
// a real OpenID Connect provider and a real SMTP server beside it, and Herald opened by
// 127.0.0.2, not localhost, as a browser elsewhere on the network would (a page that only
// works on localhost is what issue 14 found). One story, in order: sign in, upload, watch the
// admins' emails go out, read a timeline, redrive a refused email, follow an email's link from
// a browser that is not signed in, sign out. Then the development outbox, on a Herald without
// a mail server. A screenshot of each page goes to test-output/screenshots/.
//
// Not covered here: HTTPS (security-headers.e2e.test.ts fakes the proxy's X-Forwarded-Proto
// instead), other browsers, screen readers, and how the pages look (screenshots are kept for a
// person to look at, not compared).

const screenshots = new URL("../../test-output/screenshots/", import.meta.url).pathname;
mkdirSync(screenshots, { recursive: true });

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const shoot = (page: Page, name: string) => page.screenshot({ path: `${screenshots}${name}.png`, fullPage: true });

/** A port free on every address; Herald must listen on it for HERALD_PUBLIC_URL to name it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

describe("the website, signed in through the identity provider, over plain HTTP on 127.0.0.2", () => {
  let sink: SmtpSink;
  let provider: TestProvider;
  let herald: InProcessHerald;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  let upload: { uploadId: string; notifications: Array<{ notificationId: string; recipient: string }> };
  const notificationTo = (recipient: string) =>
    upload.notifications.find((n) => n.recipient === recipient)!.notificationId;

  before(async () => {
    // Bob's address is refused for good (550) until the test fixes it: his email fails.
    sink = await startSmtpSink({ rejectRecipients: ["bob@example.test"] });
    provider = await startTestProvider();
    const port = await freePort();
    base = `http://127.0.0.2:${port}`;
    herald = await startHeraldInProcess({
      PORT: String(port),
      HERALD_PUBLIC_URL: base,
      SMTP_URL: sink.url,
      HERALD_RETRY_BASE_MS: "100",
      ...provider.heraldEnv(`${base}/auth/callback`),
    });
    context = await browser.newContext();
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    await herald?.stop();
    await provider?.stop();
    await sink?.close();
  });

  /** On Herald's sign-in page: through the provider's login form, and back. */
  async function signInThroughProvider(page: Page, login: string) {
    await page.getByRole("link", { name: /^Sign in with / }).click();
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', "any password");
    await page.click('button[type="submit"]');
    await page.waitForURL((url) => url.origin === base && url.pathname !== "/auth/callback");
  }

  it("when a signed-out user opens Herald, then it asks them to sign in, and after the provider's login shows their groups by name", async () => {
    await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, "/signin");
    assert.equal(new URL(page.url()).searchParams.get("returnTo"), "/");
    await shoot(page, "signin");

    await signInThroughProvider(page, "alice");
    assert.equal(page.url(), `${base}/`);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Your groups");
    assert.match((await page.getByRole("banner").textContent()) ?? "", /Signed in as\s+Alice Admin/);
    await page.getByRole("link", { name: "Design Team" }).waitFor();
    await shoot(page, "groups");
  });

  it("when she uploads a file, then a progress bar runs and the button is disabled until Herald has it, and it is listed with a download link", async () => {
    await page.getByRole("link", { name: "Design Team" }).click();
    await page.waitForURL(`${base}/groups/design`);
    // Every text the status line shows, to see the progress that went by.
    await page.evaluate(() => {
      const status = document.querySelector("[data-upload-status]")!;
      const seen: string[] = ((window as unknown as { statusTexts: string[] }).statusTexts = []);
      new MutationObserver(() => seen.push(status.textContent ?? "")).observe(status, {
        childList: true,
        subtree: true,
        characterData: true,
      });
    });
    // The upload is held at the network until the page has been looked at while it runs.
    let letThrough!: () => void;
    const held = new Promise<void>((resolve) => (letThrough = resolve));
    await page.route("**/api/groups/design/uploads", async (route) => {
      await held;
      await route.continue();
    });
    await page.getByLabel("File to share with Design Team").setInputFiles({
      name: "site-plan.pdf",
      mimeType: "application/pdf",
      buffer: Buffer.alloc(2 * 1024 * 1024, 7),
    });
    const answered = page.waitForResponse(
      (r) => r.url().endsWith("/api/groups/design/uploads") && r.request().method() === "POST",
    );
    await page.getByRole("button", { name: "Upload" }).click();

    const button = page.getByRole("button", { name: "Upload" });
    assert.equal(await button.isDisabled(), true, "the button is disabled while the upload runs");
    assert.equal(await page.locator("progress").isVisible(), true, "the progress bar shows");
    await shoot(page, "group-uploading");
    letThrough();

    const response = await answered;
    assert.equal(response.status(), 202);
    upload = await response.json();
    await page.getByRole("status").filter({ hasText: "Uploaded site-plan.pdf" }).waitFor();
    assert.equal(await button.isDisabled(), false, "the button is back once Herald answered");
    assert.equal(await page.locator("progress").evaluate((p: HTMLProgressElement) => p.value), 100);
    const statuses = await page.evaluate(() => (window as unknown as { statusTexts: string[] }).statusTexts);
    assert.ok(
      statuses.some((s) => /site-plan\.pdf: \d+%/.test(s)),
      `progress shown: ${JSON.stringify(statuses)}`,
    );

    const row = page.locator(`#upload-${upload.uploadId}`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /site-plan\.pdf\s*2\.0 MB\s*Alice Admin/);
    const download = row.getByRole("link", { name: "site-plan.pdf", exact: true });
    assert.equal(await download.getAttribute("href"), `/api/groups/design/uploads/${upload.uploadId}/content`);
  });

  it("when the emails go out, then the admin sees hers turn sent and Bob's refusal in plain words, without reloading", async () => {
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    const alices = page.locator(`#notification-${notificationTo("alice@example.test")}`);
    const bobs = page.locator(`#notification-${notificationTo("bob@example.test")}`);
    await alices.locator(".status-badge", { hasText: /^sent$/ }).waitFor({ timeout: 10_000 });
    await bobs.locator(".status-badge", { hasText: /^failed$/ }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
    assert.match((await alices.textContent()) ?? "", /site-plan\.pdf\s*Alice Admin\s*alice@example\.test\s*sent\s*1/);
    assert.match(
      (await bobs.textContent()) ?? "",
      /the mail server refused it: it does not accept mail for this address/,
    );
    assert.match((await bobs.textContent()) ?? "", /550/, "the server's own answer is there too");
    // Times are the reader's: the server's "… UTC" text has been rewritten from datetime.
    const shown = await alices.locator("time").textContent();
    assert.doesNotMatch(shown ?? "", /UTC$/);
    await shoot(page, "group");
  });

  it("when she opens Bob's timeline, then each step reads in words with its time, attempt and trace id, and a Redrive button is offered", async () => {
    await page
      .locator(`#notification-${notificationTo("bob@example.test")}`)
      .getByRole("link", { name: /^Timeline/ })
      .click();
    await page.waitForURL(`${base}/notifications/${notificationTo("bob@example.test")}`);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Email to Bob Admin about site-plan.pdf");
    assert.deepEqual(await page.locator("[data-steps] .what").allTextContents(), [
      "Requested: an email to bob@example.test",
      "Queued for sending",
      "Attempt 1 started",
      "Attempt 1 failed for good",
    ]);
    const steps = await page.locator("[data-steps] li").allTextContents();
    assert.match(steps[3]!, /the mail server refused it: it does not accept mail for this address/);
    const traceId = await page.locator(".facts dd code").textContent();
    assert.match(traceId ?? "", /^[\da-f]{32}$/);
    assert.match(steps[0]!, new RegExp(`trace ${traceId}`));
    await page.getByRole("button", { name: /^Redrive/ }).waitFor();
    await shoot(page, "timeline-failed");
  });

  it("when the address works again and she redrives it from the page, then the timeline shows it sent, without reloading", async () => {
    sink.rejectRecipients([]);
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await page.getByRole("button", { name: /^Redrive/ }).click();
    await page.getByRole("status").filter({ hasText: "Redriven: it is queued to be sent again." }).waitFor();
    await page.locator("[data-status-badge]", { hasText: /^sent$/ }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
    const steps = (await page.locator("[data-steps] li").allTextContents()).join("\n");
    assert.match(steps, /Redriven by Alice Admin: it will be sent again/);
    const redriveTrace = /Redriven by Alice Admin[^\n]*trace ([\da-f]{32})/.exec(steps)?.[1];
    assert.ok(redriveTrace, "the redrive names the trace it started");
    assert.notEqual(redriveTrace, await page.locator(".facts dd code").textContent());
    assert.match(steps, /Attempt 2: sent; the mail server took it/);
    assert.equal(await page.getByRole("button", { name: /^Redrive/ }).isVisible(), false);
    assert.equal(await page.locator("[data-attempts]").textContent(), "2");
    assert.equal(sink.countFor("bob@example.test"), 1);
    await shoot(page, "timeline-sent");
  });

  it("when a browser that is not signed in follows the email's link, then it signs in and lands on that upload, marked", async () => {
    const email = sink.messages.find(
      (m) => m.headers.get("x-herald-notification-id") === notificationTo("alice@example.test"),
    );
    assert.ok(email, "Alice's email arrived");
    const link = /https?:\/\/\S+\/groups\/design\/uploads\/[\w-]+/.exec(email.text ?? "")?.[0];
    assert.equal(link, `${base}/groups/design/uploads/${upload.uploadId}`);

    const fresh = await browser.newContext();
    try {
      const other = await fresh.newPage();
      await other.goto(link);
      assert.equal(new URL(other.url()).pathname, "/signin");
      await signInThroughProvider(other, "alice");
      assert.equal(other.url(), link, "the deep link survived the sign-in");
      const row = other.locator(`#upload-${upload.uploadId}`);
      assert.equal(await row.getAttribute("aria-current"), "true");
      assert.match(
        (await other.locator(".notice").textContent()) ?? "",
        /Showing site-plan\.pdf, uploaded by Alice Admin/,
      );
      assert.equal(await other.locator("tr.highlighted[data-notification-id]").count(), 2, "its two emails are marked");
      await shoot(other, "deep-link");
    } finally {
      await fresh.close();
    }
  });

  it("when someone outside the group opens its page, then they are told they are not a member (403), and see none of it", async () => {
    const fresh = await browser.newContext();
    try {
      const other = await fresh.newPage();
      await other.goto(`${base}/groups/design`);
      await signInThroughProvider(other, "dave");
      const response = await other.reload();
      assert.equal(response?.status(), 403);
      assert.equal(await other.getByRole("alert").textContent(), "You are not a member of group Design Team.");
      assert.doesNotMatch((await other.content()) ?? "", /site-plan/);
      await shoot(other, "forbidden");
    } finally {
      await fresh.close();
    }
  });

  it("when she signs out, then her pages ask her to sign in again", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((url) => url.pathname === "/signin");
    await page.goto(`${base}/groups/design`);
    assert.equal(new URL(page.url()).pathname, "/signin");
    assert.equal(new URL(page.url()).searchParams.get("returnTo"), "/groups/design");
  });

  it("when pages, assets and downloads are served over plain HTTP, then the headers neither upgrade to HTTPS nor let a file be sniffed or shown inline", async () => {
    const response = await page.goto(`${base}/signin`);
    const headers = response!.headers();
    assert.ok(headers["content-security-policy"], "a CSP is sent");
    assert.doesNotMatch(headers["content-security-policy"]!, /upgrade-insecure-requests/);
    assert.match(headers["content-security-policy"]!, /script-src 'self'/);
    assert.equal(headers["strict-transport-security"], undefined, "no HSTS over plain HTTP");
    assert.equal(headers["x-content-type-options"], "nosniff");
    assert.equal(headers["cache-control"], "private, no-store");

    const script = await page.locator('script[type="module"]').getAttribute("src");
    assert.match(script ?? "", /^\/assets\/app\.[\da-f]{12}\.js$/);
    const asset = await fetch(`${base}${script}`);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.match(asset.headers.get("content-type") ?? "", /^text\/javascript/);
    const stale = await fetch(`${base}/assets/app.000000000000.js`);
    assert.equal(stale.status, 404, "a hash this version does not have is not served");

    const download = await client(base).get(`/api/groups/design/uploads/${upload.uploadId}/content`, tokens.carol);
    assert.equal(download.status, 200);
    assert.match(download.headers.get("content-disposition") ?? "", /^attachment; filename="?site-plan\.pdf"?$/);
    assert.equal(download.headers.get("x-content-type-options"), "nosniff");
    assert.equal((await fetch(`${base}/ui.js`)).status, 404, "the old page's script is gone");
  });
});

describe("what the pages' script polls, as each kind of user gets it", () => {
  let herald: InProcessHerald;
  let upload: { uploadId: string; notifications: Array<{ notificationId: string }> };
  before(async () => {
    herald = await startHeraldInProcess({ HERALD_RETRY_BASE_MS: "100" });
    upload = (await client(herald.url).upload("design", tokens.carol, { name: "notes.txt", content: "notes" })).body;
  });
  after(async () => {
    await herald?.stop();
  });

  it("when a member asks for the group's activity, then they get its uploads by name but not the admins' emails", async () => {
    const carol = await client(herald.url).get("/api/groups/design/activity", tokens.carol);
    assert.equal(carol.status, 200);
    assert.equal(carol.body.group.name, "Design Team");
    assert.equal(carol.body.isAdmin, false);
    assert.equal(carol.body.notifications, null);
    assert.equal(carol.body.uploads[0].uploaderName, "Carol Member");
    const alice = await client(herald.url).get("/api/groups/design/activity", tokens.alice);
    assert.equal(alice.body.notifications.length, 2);
    assert.equal(alice.body.notifications[0].filename, "notes.txt");
  });

  it("when someone may not see a group or a notification, then the poll is refused with a problem, as the page is", async () => {
    const api = client(herald.url);
    const outsider = await api.get("/api/groups/design/activity", tokens.dave);
    assert.equal(outsider.status, 403);
    assert.equal(outsider.body.type, "urn:herald:problem:forbidden");
    assert.equal(outsider.body.detail, "You are not a member of group Design Team.");
    const none = await api.get("/api/groups/nope/activity", tokens.alice);
    assert.equal(none.status, 404);
    assert.equal(none.body.detail, "There is no group nope.");
    const id = upload.notifications[0]!.notificationId;
    const member = await api.get(`/api/notifications/${id}/timeline`, tokens.carol);
    assert.equal(member.status, 403);
    assert.equal(member.body.detail, "Only admins of the notification's group may see it.");
    const unknown = await api.get("/api/notifications/nope/timeline", tokens.alice);
    assert.equal(unknown.status, 404);
    const admin = await api.get(`/api/notifications/${id}/timeline`, tokens.alice);
    assert.equal(admin.status, 200);
    assert.equal(admin.body.steps[0].what.startsWith("Requested: an email to"), true);
    const anonymous = await api.get("/api/groups/design/activity", undefined);
    assert.equal(anonymous.status, 401);
  });
});

describe("the development outbox, on a Herald with no mail server, signed in by picking a seeded user", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await startHeraldInProcess({ HERALD_RETRY_BASE_MS: "100" });
  });
  after(async () => {
    await herald?.stop();
  });

  it("when a developer picks Alice, then her outbox shows only her mail, rendered as HTML in a sandbox and as text", async () => {
    const port = herald.port;
    const base = `http://127.0.0.2:${port}`;
    const api = client(base);
    assert.equal((await api.upload("design", tokens.carol, { name: "brief.txt", content: "the brief" })).status, 202);
    const deadline = Date.now() + 10_000;
    while ((await api.get("/api/outbox", tokens.alice)).body.items?.length !== 1) {
      assert.ok(Date.now() < deadline, "Alice's email reached the outbox");
      await new Promise((r) => setTimeout(r, 100));
    }

    const context = await browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
    try {
      const page = await context.newPage();
      await page.goto(`${base}/outbox`);
      assert.equal(new URL(page.url()).pathname, "/signin");
      assert.equal(await page.getByRole("link", { name: /^Sign in with / }).count(), 0, "no identity provider is set");
      await page.getByLabel(/Alice Admin/).check();
      await page.getByRole("button", { name: "Sign in as this user" }).click();
      await page.waitForURL(`${base}/outbox`);
      const subjects = await page.locator("tbody a").allTextContents();
      assert.equal(subjects.length, 1, "only the mail to Alice, not Bob's");
      assert.match(subjects[0]!, /brief\.txt/);
      await shoot(page, "outbox");
      const fitsThePhone = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      assert.equal(await fitsThePhone(), true, "nothing sticks out sideways at phone width");

      await page.locator("tbody a").first().click();
      const frame = page.frameLocator("iframe.email");
      await frame
        .locator("body")
        .filter({ hasText: /brief\.txt/ })
        .waitFor();
      assert.equal(
        await page.locator("iframe.email").getAttribute("sandbox"),
        "allow-top-navigation-by-user-activation",
      );
      assert.match((await page.locator(".email-text").textContent()) ?? "", /brief\.txt/);
      assert.doesNotMatch(
        (await page.locator("main").textContent()) ?? "",
        /Content-Transfer-Encoding|MIME-Version/,
        "not the raw source",
      );
      assert.equal(await fitsThePhone(), true, "the email fits the phone too");
      await shoot(page, "outbox-email");

      await page.goto(`${base}/groups/design`);
      await page.locator("[data-notification-id]").first().waitFor();
      assert.equal(await fitsThePhone(), true, "wide tables scroll in their own box, not the page");
      await shoot(page, "group-phone");
    } finally {
      await context.close();
    }
  });
});
