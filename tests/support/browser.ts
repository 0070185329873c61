// Headless Chromium for the console's tests and benchmark: Debian's `chromium` package driven
// by playwright-core (nothing downloads a browser). The flags keep it off the network it has
// no business with (updates, sync, field trials) and make it run as root in a container;
// playwright gives every launch a fresh profile directory of its own and removes it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(extraArgs: string[] = []): Promise<TestBrowser> {
  if (!existsSync(chromiumPath))
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium (or set CHROMIUM_PATH)`);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: 60_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

/** Where the console's tests leave their screenshots for review (gitignored). */
export const screenshotDir = join(import.meta.dirname, "../../.artifacts/console");
