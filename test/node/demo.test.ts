/**
 * `npm start`'s server: Vite serving demo/ with the presence server attached at
 * /presence on the same origin. Checks the page is served, the presence socket and
 * Vite's own HMR socket both upgrade, a foreign origin is refused, and two browser
 * pages of the demo see each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { Browser } from 'puppeteer-core';
import { launchChromium } from '../helpers/chromium.js';
import { startDemo, type DemoServer } from '../../demo/serve.js';


/** The first message on a socket, or the HTTP status that refused the upgrade. */
function firstMessage(url: string, options: { origin?: string; protocol?: string } = {}): Promise<{ status?: number; message?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocol, { origin: options.origin });
    ws.once('message', (data) => {
      ws.close();
      resolve({ message: String(data) });
    });
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      resolve({ status: res.statusCode });
    });
    ws.once('error', reject);
  });
}

test('the demo server serves the page, the presence socket and Vite HMR on one origin', async (t) => {
  let browser: Browser | undefined;
  let demo: DemoServer | undefined;
  t.after(async () => {
    await browser?.close();
    await demo?.close();
  });
  demo = await startDemo({ port: 0, host: '127.0.0.1' });
  const origin = new URL(demo.url).origin;
  assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(demo.presenceUrl, `${origin.replace('http', 'ws')}/presence`);

  await t.test('serves the page, which loads the elements', async () => {
    const res = await fetch(demo!.url);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /<mesh-presence-room[\s>]/);
    assert.match(body, /<mesh-typing for="message">/);
    const main = await (await fetch(new URL('main.ts', demo!.url))).text();
    assert.match(main, /components\/index\.ts/);
  });

  await t.test('upgrades /presence for the page origin and refuses others', async () => {
    const ok = await firstMessage(demo!.presenceUrl, { origin });
    assert.equal(JSON.parse(ok.message!).command, 'mesh/assign-id');
    const refused = await firstMessage(demo!.presenceUrl, { origin: 'http://evil.example' });
    assert.equal(refused.status, 403);
  });

  await t.test("keeps Vite's HMR socket working", async () => {
    // The HMR socket wants the token that Vite writes into its client script.
    const client = await (await fetch(new URL('@vite/client', demo!.url))).text();
    const token = /const wsToken = "([^"]+)"/.exec(client)?.[1];
    assert.ok(token, 'the Vite client carries its HMR token');
    const hmr = await firstMessage(`${origin.replace('http', 'ws')}/?token=${token}`, { origin, protocol: 'vite-hmr' });
    assert.equal(JSON.parse(hmr.message!).type, 'connected');
  });

  await t.test('two windows of the demo are two users who see each other', async () => {
    browser = await launchChromium();
    const errors: string[] = [];
    const pages = [];
    for (const user of ['ada', 'bo']) {
      const page = await (await browser.createBrowserContext()).newPage();
      page.on('pageerror', (err) => errors.push(String(err)));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(msg.text());
      });
      await page.goto(`${demo!.url}?user=${user}`);
      pages.push(page);
    }
    for (const page of pages) {
      await page.waitForFunction(() => document.querySelector('mesh-presence-room')?.users.length === 2, { timeout: 15_000 });
    }
    const names = await pages[0]!.evaluate(() => document.querySelector('mesh-presence-room')!.users.map((u) => u.name).sort());
    assert.deepEqual(names, ['Ada', 'Bo']);
    assert.equal(await pages[0]!.evaluate(() => document.getElementById('connection')!.textContent), 'Connected.');
    assert.deepEqual(errors, []);
  });
});
