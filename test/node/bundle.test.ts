/**
 * The script-tag bundle in a real browser: dist/mesh-presence.js (built here with the
 * same Vite config as `npm run build`) on plain HTML pages with nothing but the script
 * tag, against the real presence server, in headless Chromium.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'vite';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../helpers/chromium.js';
import { BUNDLE_ENTRY, libraryBuild } from '../../vite.config.js';
import { createPresenceServer } from '../../src/server/index.js';
import { silentLogger } from '../helpers/server.js';


function page(presenceUrl: string, user: string, scripts: string[]): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>bundle</title>
${scripts.map((src) => `<script type="module" src="${src}"></script>`).join('\n')}
</head>
<body>
  <mesh-presence-room url="${presenceUrl}" room="bundle-test" user-id="${user}" name="${user[0]!.toUpperCase()}${user.slice(1)}">
    <mesh-avatars></mesh-avatars>
    <mesh-status-picker></mesh-status-picker>
    <textarea id="message"></textarea>
    <mesh-typing for="message" stop-delay="60000"></mesh-typing>
  </mesh-presence-room>
</body>
</html>`;
}

/** Serves the built bundle and generated pages on 127.0.0.1. */
async function startStatic(bundle: string, presenceUrl: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const user = url.searchParams.get('user') ?? 'ada';
    if (url.pathname === '/mesh-presence.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(bundle);
    } else if (url.pathname === '/page.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page(presenceUrl, user, ['/mesh-presence.js']));
    } else if (url.pathname === '/twice.html') {
      // Two copies of the bundle (two module URLs, so two module instances).
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page(presenceUrl, user, ['/mesh-presence.js', '/mesh-presence.js?copy=2']));
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Open a page and collect what goes wrong on it. */
async function open(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warn') errors.push(`${msg.type()}: ${msg.text()}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  return { page, errors };
}

const usersIn = (page: Page) =>
  page.evaluate(() => document.querySelector('mesh-presence-room')!.users.map((u) => `${u.id}:${u.status}`).sort().join(','));

test('the script-tag bundle works on a plain page, and loads twice harmlessly', async (t) => {
  // Torn down in this order: the browser first, so the servers need not wait for its sockets.
  let browser: Browser | undefined;
  let http: Server | undefined;
  const presence = createPresenceServer({ logger: silentLogger });
  const outDir = await mkdtemp(path.join(tmpdir(), 'mesh-presence-bundle-test-'));
  t.after(async () => {
    await browser?.close();
    if (http) await new Promise<void>((resolve) => http!.close(() => resolve()));
    await presence.close();
    await rm(outDir, { recursive: true, force: true });
  });
  const config = libraryBuild(BUNDLE_ENTRY, outDir, 'mesh-presence.js');
  await build({ ...config, configFile: false, build: { ...config.build, sourcemap: false } });
  const bundle = await readFile(path.join(outDir, 'mesh-presence.js'), 'utf8');
  assert.doesNotMatch(bundle, /from\s*["'](lit|@lit\/context|ws)["']/, 'Lit is inlined and ws is left out');
  assert.doesNotMatch(bundle, /^import\s/m, 'no imports: one self-contained module');

  const presenceUrl = await presence.listen(0, '127.0.0.1');
  http = await startStatic(bundle, presenceUrl);
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  browser = await launchChromium();

  const ada = await open(browser, `${base}/page.html?user=ada`);
  const bo = await open(browser, `${base}/twice.html?user=bo`);

  await t.test('both pages see both users', async () => {
    for (const { page } of [ada, bo]) {
      await page.waitForFunction(() => document.querySelector('mesh-presence-room')?.users.length === 2, { timeout: 5_000 });
    }
    assert.equal(await usersIn(ada.page), 'ada:online,bo:online');
    const avatars = await ada.page.evaluate(
      () => document.querySelector('mesh-avatars')!.shadowRoot!.querySelectorAll('[part~="avatar"]').length,
    );
    assert.equal(avatars, 2);
  });

  await t.test('typing on one page shows on the other', async () => {
    await ada.page.focus('#message');
    await ada.page.keyboard.type('Hello');
    await bo.page.waitForFunction(
      () => document.querySelector('mesh-typing')!.shadowRoot!.querySelector('[part~="text"]')?.textContent === 'Ada is typing…',
      { timeout: 5_000 },
    );
  });

  await t.test('a status picked with the keyboard reaches the other page', async () => {
    await bo.page.evaluate(() =>
      document.querySelector('mesh-status-picker')!.shadowRoot!.querySelector<HTMLElement>('[part~="button"]')!.focus(),
    );
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowDown', 'Enter'] as const) await bo.page.keyboard.press(key);
    await ada.page.waitForFunction(
      () => document.querySelector('mesh-presence-room')!.users.find((u) => u.id === 'bo')?.status === 'busy',
      { timeout: 5_000 },
    );
  });

  await t.test('in forced-colours mode the status dots and the focus rings stay visible', async () => {
    const { page } = ada;
    // straight through the DevTools protocol: puppeteer's emulateMediaFeatures() does not know forced-colors
    const cdp = await page.createCDPSession();
    await cdp.send('Emulation.setEmulatedMedia', { features: [{ name: 'forced-colors', value: 'active' }] });
    try {
      assert.equal(await page.evaluate(() => matchMedia('(forced-colors: active)').matches), true);
      const dots = await page.evaluate(() =>
        ['mesh-avatars', 'mesh-status-picker'].map((tag) => {
          const dot = document.querySelector(tag)!.shadowRoot!.querySelector('[part~="status-dot"]')!;
          const style = getComputedStyle(dot);
          return { tag, adjust: style.forcedColorAdjust, background: style.backgroundColor, border: style.borderTopStyle };
        }),
      );
      for (const dot of dots) {
        // the status colour is kept (not replaced by the system's Canvas), with a system-colour ring
        assert.equal(dot.adjust, 'none', dot.tag);
        assert.match(dot.background, /^rgb\((?!0, 0, 0\)|255, 255, 255\))/, dot.tag);
        assert.equal(dot.border, 'solid', dot.tag);
      }
      // keyboard focus, back from the text field: the picker's button, then the avatars' one tab stop
      const focusRing = () =>
        page.evaluate(() => {
          let el: Element | null = document.activeElement;
          while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
          const style = getComputedStyle(el!);
          return `${el!.getAttribute('part')}: ${style.outlineStyle} ${style.outlineWidth}`;
        });
      await page.focus('#message');
      await page.keyboard.down('Shift');
      await page.keyboard.press('Tab');
      assert.equal(await focusRing(), 'button: solid 2px');
      await page.keyboard.press('Tab');
      await page.keyboard.up('Shift');
      assert.equal(await focusRing(), 'item: solid 2px');
    } finally {
      await cdp.send('Emulation.setEmulatedMedia', { features: [] });
      await cdp.detach();
    }
  });

  await t.test('the page with two copies defined each element once and logged nothing wrong', async () => {
    const defined = await bo.page.evaluate(() =>
      ['mesh-presence-room', 'mesh-avatars', 'mesh-typing', 'mesh-status-picker'].map((tag) => Boolean(customElements.get(tag))),
    );
    assert.deepEqual(defined, [true, true, true, true]);
    assert.deepEqual(bo.errors, []);
    assert.deepEqual(ada.errors, []);
  });
});
