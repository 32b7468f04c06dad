/**
 * `npm run screenshot`: renders the demo in headless Chromium and writes docs/demo.png,
 * the picture at the top of the README, so that it always shows what the demo does.
 *
 * It starts the demo server (as `npm start` does, on a free port), opens three users in
 * separate browser contexts: Ada (the window photographed), Bo who has a picture and is
 * typing, and Cy who is busy; then crops Ada's page to the presence bar, the message box
 * and the typing line. A second picture, docs/theme-dark.png, shows the same with the
 * README's theming CSS (the css blocks between `<!-- theming:start -->` and
 * `<!-- theming:end -->`) in dark mode, so those examples are seen to work.
 *
 *     node --import tsx scripts/screenshot.ts [--out docs/demo.png] [--themed docs/theme-dark.png]
 *
 * Chromium: CHROME_PATH, else /usr/bin/chromium.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../test/helpers/chromium.js';
import { startDemo, type DemoServer } from '../demo/serve.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const TIMEOUT = 30_000;

/** Bo's picture: a person on a gradient, as an SVG data URL (no network needed). */
const BO_AVATAR = `data:image/svg+xml,${encodeURIComponent(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
    <defs><linearGradient id="g" x2="1" y2="1"><stop offset="0" stop-color="#38bdf8"/><stop offset="1" stop-color="#6366f1"/></linearGradient></defs>
    <rect width="64" height="64" fill="url(#g)"/>
    <circle cx="32" cy="25" r="11" fill="#fde68a"/>
    <path d="M12 64c0-13 9-21 20-21s20 8 20 21z" fill="#1e293b"/>
  </svg>`,
)}`;

/** The CSS of the README's theming examples. */
async function readmeThemingCss(): Promise<string> {
  const readme = await readFile(path.join(root, 'README.md'), 'utf8');
  const region = /<!-- theming:start -->([\s\S]*?)<!-- theming:end -->/.exec(readme)?.[1];
  if (!region) throw new Error('README.md has no <!-- theming:start --> … <!-- theming:end --> region');
  const blocks = [...region.matchAll(/```css\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (!blocks.length) throw new Error('README.md: no css blocks in the theming region');
  return blocks.join('\n');
}

async function openUser(browser: Browser, base: string, user: string): Promise<Page> {
  // a context per user: its own storage, so its own identity and status
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => console.error(`[${user}] ${String(err)}`));
  await page.setViewport({ width: 720, height: 900, deviceScaleFactor: 2 });
  // a stable picture: light theme, no animation caught halfway
  await page.emulateMediaFeatures([
    { name: 'prefers-color-scheme', value: 'light' },
    { name: 'prefers-reduced-motion', value: 'reduce' },
  ]);
  await page.goto(`${base}?user=${user}`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('mesh-presence-room')?.status === 'online');
  return page;
}

interface Clip {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Three users, Ada photographed while Bo types; returns the area written to `out`. */
async function scene(browser: Browser, base: string, out: string, themed: string, themeCss: string): Promise<Clip> {
  const pages: Page[] = [];
  try {
    // one after the other, so that the avatars are always in the same order
    for (const user of ['ada', 'bo', 'cy']) pages.push(await openUser(browser, base, user));
    const [ada, bo, cy] = pages as [Page, Page, Page];

    await bo.evaluate((avatar) => document.querySelector('mesh-presence-room')!.setAttribute('avatar', avatar), BO_AVATAR);

    // Cy is busy: set as a user's choice is (published, kept for Cy's other tabs)
    await cy.evaluate(async () => {
      const picker = document.querySelector('mesh-status-picker')!;
      await picker.updateComplete;
      picker.value = 'busy';
    });
    await ada.waitForFunction(() => {
      const users = document.querySelector('mesh-presence-room')!.users;
      return users.length === 3 && users.some((u) => u.id === 'cy' && u.status === 'busy');
    });
    await ada.waitForFunction(() => {
      const img = document.querySelector('mesh-avatars')!.shadowRoot!.querySelector<HTMLImageElement>('[part~="image"]');
      return img?.complete && img.naturalWidth > 0;
    });

    // Bo types; the picture is taken while Ada's typing line names him
    const typing = bo.type('#message', 'Looks good to me, shipping it after lunch', { delay: 60 });
    await ada.waitForFunction(() => {
      const line = document.querySelector('mesh-typing')?.shadowRoot?.querySelector('[part~="text"]');
      return /Bo/.test(line?.textContent ?? '');
    });
    // the presence bar, the message box and the typing line, with a margin
    const clip = await ada.evaluate(() => {
      const boxes = ['.bar', 'label[for="message"]', '#message', 'mesh-typing'].map((s) => document.querySelector(s)!.getBoundingClientRect());
      const margin = 12;
      const top = Math.min(...boxes.map((r) => r.top)) - margin;
      const left = Math.min(...boxes.map((r) => r.left)) - margin;
      const bottom = Math.max(...boxes.map((r) => r.bottom)) + margin;
      const right = Math.max(...boxes.map((r) => r.right)) + margin;
      return { x: Math.max(0, left), y: Math.max(0, top + window.scrollY), width: right - left, height: bottom - top };
    });
    await mkdir(path.dirname(out), { recursive: true });
    await ada.screenshot({ path: out as `${string}.png`, clip, type: 'png' });

    // the same moment in dark mode with the README's theming CSS
    await ada.emulateMediaFeatures([
      { name: 'prefers-color-scheme', value: 'dark' },
      { name: 'prefers-reduced-motion', value: 'reduce' },
    ]);
    await ada.addStyleTag({ content: themeCss });
    await ada.screenshot({ path: themed as `${string}.png`, clip, type: 'png' });
    await typing;
    return clip;
  } finally {
    await Promise.all(pages.map((page) => page.browserContext().close()));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: 'docs/demo.png' }, themed: { type: 'string', default: 'docs/theme-dark.png' } },
  });
  const out = path.resolve(root, values.out!);
  const themed = path.resolve(root, values.themed!);
  const themeCss = await readmeThemingCss();
  let demo: DemoServer | undefined;
  let browser: Browser | undefined;
  try {
    // no file watching: a source edited mid-run must not reload the pages being photographed
    demo = await startDemo({ port: 0, host: '127.0.0.1', watch: false });
    browser = await launchChromium(['--font-render-hinting=none']);
    const clip = await scene(browser, demo.url, out, themed, themeCss);
    for (const file of [out, themed]) {
      const { size } = await stat(file);
      console.log(`${path.relative(root, file)}: ${Math.round(clip.width)}×${Math.round(clip.height)} CSS px, ${(size / 1024).toFixed(1)} KiB`);
    }
  } finally {
    await browser?.close();
    await demo?.close();
  }
}

// The whole run, not one step: start-up and several waits of up to TIMEOUT each (one
// run takes about TIMEOUT on the shared 2-core machine).
const watchdog = setTimeout(() => {
  console.error(`screenshot: gave up after ${(TIMEOUT * 3) / 1000} s`);
  process.exit(1);
}, TIMEOUT * 3);
watchdog.unref();

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
