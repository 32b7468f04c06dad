/**
 * The framework demos of `npm start`, end to end in headless Chromium: the plain HTML
 * page (static, only the script-tag bundle), the Vue 3 app and the Svelte 5 app. Each is
 * opened from the main demo page's links by two users, who check what they see: both
 * avatars, the other's name on the typing line, a status choice, a room switch that moves
 * one out of the other's avatars, and the list that the page fills from
 * `mesh-users-change`. One demo server and one browser for all three.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../helpers/chromium.js';
import { startDemo, type DemoServer } from '../../demo/serve.js';
import type { PresenceServer } from '../../src/server/index.js';

const WAIT = 10_000;

/** What a person sees on a demo page (avatars by their accessible names). */
interface View {
  avatars: string[];
  typing: string;
  title: string;
  list: string[];
}

// A bare arrow (no inner named functions): puppeteer sends its source to the page.
const readView = (): View => ({
  avatars: [
    ...document
      .querySelector('mesh-avatars')!
      .shadowRoot!.querySelectorAll('[part~="item"]:not([data-state="leaving"]) .visually-hidden'),
  ]
    .map((node) => node.textContent!.trim())
    .sort(),
  typing: document.querySelector('mesh-typing')!.shadowRoot!.querySelector('[part~="text"]')?.textContent ?? '',
  title: document.getElementById('list-title')!.textContent!.trim(),
  list: [...document.querySelectorAll('ul.users li')].map((li) => li.textContent!.replace(/\s+/g, ' ').trim()).sort(),
});

interface User {
  name: string;
  page: Page;
  errors: string[];
  scripts: string[];
}

/** Wait until the page shows `want` (the fields given); fail with what it shows instead. */
async function shows(user: User, want: Partial<View>, what: string): Promise<void> {
  const expected = JSON.stringify(want);
  try {
    await user.page.waitForFunction(
      (read: string, expectedJson: string) => {
        const view = (0, eval)(read)() as Record<string, unknown>;
        const wanted = JSON.parse(expectedJson) as Record<string, unknown>;
        return Object.keys(wanted).every((key) => JSON.stringify(view[key]) === JSON.stringify(wanted[key]));
      },
      { timeout: WAIT },
      readView.toString(),
      expected,
    );
  } catch (err) {
    const now = await user.page.evaluate(readView).catch(() => undefined);
    assert.fail(`${what}: ${user.name} should see ${expected}, sees ${JSON.stringify(now)} (${String(err)})`);
  }
}

/** Open `url` as a new user, in a browser context of its own (own storage, own connection). */
async function open(browser: Browser, url: string, name: string): Promise<User> {
  const page = await (await browser.createBrowserContext()).newPage();
  await page.setViewport({ width: 800, height: 700 });
  const user: User = { name, page, errors: [], scripts: [] };
  page.on('pageerror', (err) => user.errors.push(String(err)));
  page.on('console', (msg) => {
    // the Vite pages run Lit's development build, which says so once
    if (msg.type() === 'warn' && msg.text().startsWith('Lit is in dev mode')) return;
    if (msg.type() === 'error' || msg.type() === 'warn') user.errors.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on('request', (req) => {
    if (req.resourceType() === 'script') user.scripts.push(new URL(req.url()).pathname);
  });
  await page.goto(url, { waitUntil: 'load' });
  return user;
}

/** Resolves once none of `rooms` has anyone present on the server. */
async function roomsEmpty(presence: PresenceServer, rooms: string[]): Promise<void> {
  const deadline = Date.now() + WAIT;
  for (;;) {
    // listen before looking, so that a leave between the two is not missed
    let off = (): void => {};
    const left = new Promise<void>((resolve) => {
      off = presence.onLeave(() => resolve());
    });
    try {
      const present = await Promise.all(rooms.map(async (room) => (await presence.getPresence(room)).present.length));
      if (present.every((n) => n === 0)) return;
      const remaining = deadline - Date.now();
      assert.ok(remaining > 0, `rooms ${rooms.join(', ')} still have ${present.join(', ')} connections`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([left, new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)))]);
      clearTimeout(timer);
    } finally {
      off();
    }
  }
}

test('the plain HTML, Vue 3 and Svelte 5 demos, each with two users', { timeout: 120_000 }, async (t) => {
  let browser: Browser | undefined;
  let demo: DemoServer | undefined;
  t.after(async () => {
    await browser?.close();
    await demo?.close();
  });
  demo = await startDemo({ port: 0, host: '127.0.0.1', watch: false });

  // the demos are reached through the main page's links
  const main = await (await fetch(demo.url)).text();
  const nav = /<nav class="demos"[^>]*>([\s\S]*?)<\/nav>/.exec(main)?.[1] ?? '';
  const links = new Map([...nav.matchAll(/<a href="([^"]+)"[^>]*>([^<]+)<\/a>/g)].map((m) => [m[2]!, new URL(m[1]!, demo!.url)]));

  await t.test('the main demo page links to the three framework demos', () => {
    assert.deepEqual([...links.keys()], ['Lit + TypeScript', 'Plain HTML', 'Vue 3', 'Svelte 5']);
  });

  await t.test('the plain page is the static file, and its bundle is built from vite.config.ts', { timeout: 30_000 }, async () => {
    const page = await fetch(links.get('Plain HTML')!);
    assert.equal(page.status, 200);
    const onDisk = await readFile(path.join(import.meta.dirname, '../../demo/plain/index.html'), 'utf8');
    assert.equal(await page.text(), onDisk, 'served as it is on disk: no Vite client, no transform');
    const bundle = await fetch(new URL('mesh-presence.js', links.get('Plain HTML')!));
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type') ?? '', /^text\/javascript/);
    const code = await bundle.text();
    assert.match(code, /^\/\*! mesh-presence, MIT\./, 'the banner of the library build');
    assert.doesNotMatch(code, /^import\s|from\s*["']lit["']/m, 'one self-contained module');
  });

  browser = await launchChromium();

  for (const framework of ['Plain HTML', 'Vue 3', 'Svelte 5']) {
    await t.test(`${framework}: two users see each other, typing, status, a room switch and the event-fed list`, { timeout: 45_000 }, async () => {
      const url = links.get(framework);
      assert.ok(url, `the main page links to ${framework}`);
      const ada = await open(browser!, `${url}?user=ada`, 'Ada');
      const bo = await open(browser!, `${url}?user=bo`, 'Bo');
      let passed = false;
      try {
        await shows(ada, { avatars: ['Ada (you), online', 'Bo, online'], title: 'In demo: 2 people', list: ['Ada (you) — online', 'Bo — online'] }, 'both joined');
        await shows(bo, { avatars: ['Ada, online', 'Bo (you), online'], title: 'In demo: 2 people', list: ['Ada — online', 'Bo (you) — online'] }, 'both joined');

        await ada.page.focus('#message');
        await ada.page.keyboard.type('Hello');
        await shows(bo, { typing: 'Ada is typing…', list: ['Ada — online, typing…', 'Bo (you) — online'] }, 'Ada types');
        await ada.page.$eval('#message', (el) => (el as HTMLTextAreaElement).blur());
        await shows(bo, { typing: '', list: ['Ada — online', 'Bo (you) — online'] }, 'Ada left the field');

        // Bo picks "busy" with the keyboard: online → away → busy
        await bo.page.evaluate(() =>
          document.querySelector('mesh-status-picker')!.shadowRoot!.querySelector<HTMLElement>('[part~="button"]')!.focus(),
        );
        for (const key of ['ArrowDown', 'ArrowDown', 'ArrowDown', 'Enter'] as const) await bo.page.keyboard.press(key);
        await shows(ada, { avatars: ['Ada (you), online', 'Bo, busy'], list: ['Ada (you) — online', 'Bo — busy'] }, 'Bo is busy');

        // Bo switches room: he is alone in the lounge, and out of Ada's avatars (after the leave grace)
        await bo.page.click('input[name="room"][value="lounge"]');
        await shows(bo, { avatars: ['Bo (you), busy'], title: 'In lounge: 1 person', list: ['Bo (you) — busy'] }, 'Bo moved to the lounge');
        await shows(ada, { avatars: ['Ada (you), online'], title: 'In demo: 1 person', list: ['Ada (you) — online'] }, 'Bo moved to the lounge');

        // Ada follows him
        await ada.page.click('input[name="room"][value="lounge"]');
        await shows(ada, { avatars: ['Ada (you), online', 'Bo, busy'], title: 'In lounge: 2 people', list: ['Ada (you) — online', 'Bo — busy'] }, 'Ada joined the lounge');
        await shows(bo, { avatars: ['Ada, online', 'Bo (you), busy'], title: 'In lounge: 2 people', list: ['Ada — online', 'Bo (you) — busy'] }, 'Ada joined the lounge');

        for (const user of [ada, bo]) assert.deepEqual(user.errors, [], `${user.name}'s page logged no error or warning`);
        if (framework === 'Plain HTML') {
          assert.deepEqual(ada.scripts, ['/plain/mesh-presence.js'], 'the plain page loads the bundle and nothing else');
        }
        passed = true;
      } finally {
        await ada.page.browserContext().close();
        await bo.page.browserContext().close();
        // the next demo uses the same rooms; after a failure, do not hide it behind this one
        const emptied = roomsEmpty(demo!.presence, ['demo', 'lounge']);
        await (passed ? emptied : emptied.catch(() => {}));
      }
    });
  }
});
