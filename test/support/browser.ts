import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

// Debian's Chromium, headless, driven by playwright-core (which brings no browser of its own).
// Playwright gives each launch a fresh profile (a new temporary user-data dir, removed at
// close), and each context its own cookies and storage, as a second browser would have.
// A missing Chromium is a failure that says how to install it, never a skipped test.

export const chromiumPath = process.env.HERALD_CHROMIUM ?? "/usr/bin/chromium";

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `No Chromium at ${chromiumPath}: the browser tests need it. Install it with \`apt-get install chromium\` ` +
        "(or set HERALD_CHROMIUM to where it is).",
    );
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
