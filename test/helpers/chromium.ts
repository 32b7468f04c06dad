/**
 * Headless Chromium as every browser test (and the screenshot script) starts it on these
 * machines: Debian's chromium, as root, with a closed network (see TOOLCHAIN.md). Without
 * the background-networking flags Chromium keeps dialling Google's hosts and the refused
 * connections pile up.
 */
import puppeteer, { type Browser } from 'puppeteer-core';

/** `CHROME_PATH`, else Debian's `/usr/bin/chromium`. */
export const CHROMIUM_PATH = process.env.CHROME_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Launches headless Chromium through puppeteer-core with the flags above (plus `extraArgs`). */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}
