import { expect, fixture, html, waitUntil } from '@open-wc/testing';
import { emulateMedia, sendKeys } from '@web/test-runner-commands';
import '../../components/mesh-typing/register.js';
import type { MeshTyping } from '../../components/mesh-typing/mesh-typing.js';
import type { PresenceUser } from '../../components/context.js';
import { makeUser, type MeshTestRoom } from './helpers/fake-room.js';
import '../../components/mesh-presence-room/register.js';
import type { MeshPresenceRoom } from '../../components/mesh-presence-room/mesh-presence-room.js';
import { MeshClient } from '../../src/client/index.js';
import { getServerUrl } from './helpers/server-url.js';
import { captureWarnings, uniqueRoom } from './helpers/room-test-utils.js';

const ada = makeUser({ id: 'u-ada', name: 'Ada' });
const bo = makeUser({ id: 'u-bo', name: 'Bo' });
const me = makeUser({ id: 'me', name: 'Me', self: true });
const typing = (...users: PresenceUser[]) => users.map((u) => ({ ...u, typing: true }));
const people = (n: number) => typing(...['Ada', 'Bo', 'Cy', 'Dee', 'Eli', 'Fay'].slice(0, n).map((name) => makeUser({ id: `u-${name.toLowerCase()}`, name })));

const part = (el: MeshTyping, name: string) => el.shadowRoot!.querySelector<HTMLElement>(`[part~="${name}"]`);
const text = (el: MeshTyping) => part(el, 'text')?.textContent ?? '';
const liveRegion = (el: MeshTyping) => el.shadowRoot!.querySelector<HTMLElement>('[aria-live]')!;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function mount(template: ReturnType<typeof html>) {
  const room = await fixture<MeshTestRoom>(html`<mesh-test-room>${template}</mesh-test-room>`);
  const el = room.querySelector('mesh-typing')!;
  await el.updateComplete;
  return { room, el };
}

async function show(room: MeshTestRoom, el: MeshTyping, users: PresenceUser[]) {
  room.setRoom({ users });
  await el.updateComplete;
}

/** What a keystroke does to a field, without the keyboard (precise timing). */
function input(field: HTMLInputElement | HTMLTextAreaElement, value: string) {
  field.value = value;
  field.dispatchEvent(new InputEvent('input', { bubbles: true, composed: true }));
}

describe('<mesh-typing> rendering', () => {
  it('shows nothing when nobody types, and never the local user', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    expect(part(el, 'text')).to.equal(null);
    await show(room, el, [ada, ...typing(me)]);
    expect(part(el, 'text')).to.equal(null);
    expect(part(el, 'dots')).to.equal(null);
  });

  it('names one, two, and summarises many with Intl.ListFormat', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    await show(room, el, [...typing(ada), me]);
    expect(text(el)).to.equal('Ada is typing…');
    await show(room, el, typing(ada, bo));
    expect(text(el)).to.equal('Ada and Bo are typing…');
    await show(room, el, people(3));
    expect(text(el)).to.equal('Ada, Bo, and Cy are typing…');
    await show(room, el, people(5));
    expect(text(el)).to.equal('Ada, Bo, and 3 others are typing…');
  });

  it('honours max', async () => {
    const { room, el } = await mount(html`<mesh-typing max="1"></mesh-typing>`);
    await show(room, el, people(4));
    expect(text(el)).to.equal('Ada and 3 others are typing…');
  });

  it('shows animated dots, hidden from assistive technology', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    await show(room, el, typing(ada));
    const dots = part(el, 'dots')!;
    expect(dots.getAttribute('aria-hidden')).to.equal('true');
    expect(getComputedStyle(dots.firstElementChild!).animationName).to.equal('bounce');
  });

  it('keeps the dots still under reduced motion', async () => {
    await emulateMedia({ reducedMotion: 'reduce' });
    try {
      const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
      await show(room, el, typing(ada));
      expect(getComputedStyle(part(el, 'dots')!.firstElementChild!).animationName).to.equal('none');
    } finally {
      await emulateMedia({ reducedMotion: 'no-preference' });
    }
  });

  it('uses the element lang, else the document lang, with overridable texts', async () => {
    const { room, el } = await mount(
      html`<mesh-typing lang="de" text-one="{names} tippt…" text-many="{names} tippen…" text-others="{count} weitere"></mesh-typing>`,
    );
    await show(room, el, typing(ada, bo));
    expect(text(el)).to.equal('Ada und Bo tippen…');
    await show(room, el, people(5));
    expect(text(el)).to.equal('Ada, Bo und 3 weitere tippen…');
    el.setAttribute('lang', 'fr');
    await el.updateComplete;
    expect(text(el)).to.equal('Ada, Bo et 3 weitere tippen…');

    const previous = document.documentElement.lang;
    document.documentElement.lang = 'es';
    try {
      const other = await mount(html`<mesh-typing></mesh-typing>`);
      await show(other.room, other.el, typing(ada, bo));
      expect(text(other.el)).to.equal('Ada y Bo are typing…');
    } finally {
      document.documentElement.lang = previous;
    }
  });

  it("uses the closest ancestor's lang before the document's", async () => {
    const page = await fixture<HTMLElement>(
      html`<div lang="de"><mesh-test-room><mesh-typing text-many="{names} tippen…"></mesh-typing></mesh-test-room></div>`,
    );
    const room = page.querySelector<MeshTestRoom>('mesh-test-room')!;
    const el = page.querySelector('mesh-typing')!;
    await show(room, el, typing(ada, bo));
    expect(text(el)).to.equal('Ada und Bo tippen…');
    el.formatter = (_users, lang) => lang;
    await el.updateComplete;
    expect(text(el)).to.equal('de');
  });

  it('takes a formatter that replaces the wording', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    el.formatter = (users, lang) => `${users.length} @ ${lang}`;
    await show(room, el, typing(ada, bo));
    expect(text(el)).to.equal('2 @ en');
  });

  it('keeps a name shown at least a moment, so the line does not flicker', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    await show(room, el, typing(ada));
    const shownAt = Date.now();
    await show(room, el, [ada]);
    expect(text(el)).to.equal('Ada is typing…');
    await waitUntil(() => part(el, 'text') === null, 'the name should go after about 1 s', { timeout: 2_000 });
    expect(Date.now() - shownAt).to.be.at.least(900);
  });

  it('shows nothing while the room is stale', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    await show(room, el, typing(ada));
    room.setRoom({ stale: true, status: 'reconnecting' });
    await delay(1_100); // the hold time passes
    await el.updateComplete;
    expect(part(el, 'text')).to.equal(null);
  });

  it('announces the line through a polite live region, debounced', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    const region = liveRegion(el);
    expect(region.getAttribute('aria-live')).to.equal('polite');
    await show(room, el, typing(ada));
    await show(room, el, typing(ada, bo));
    expect(region.textContent!.trim()).to.equal(''); // not every change is read out
    await waitUntil(() => region.textContent!.trim() !== '', 'announcement', { timeout: 2_000 });
    expect(region.textContent!.trim()).to.equal('Ada and Bo are typing…');
  });

  it('warns once for a bad max and falls back to 2', async () => {
    const warnings = captureWarnings();
    try {
      const { room, el } = await mount(html`<mesh-typing max="zero"></mesh-typing>`);
      await show(room, el, people(4));
      await show(room, el, people(4));
      expect(text(el)).to.equal('Ada, Bo, and 2 others are typing…');
      expect(warnings.calls.filter((w) => w.includes('max'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });

  it('warns once outside a room and shows nothing', async () => {
    const warnings = captureWarnings();
    try {
      const el = await fixture<MeshTyping>(html`<mesh-typing></mesh-typing>`);
      await delay(20);
      el.requestUpdate();
      await el.updateComplete;
      expect(part(el, 'text')).to.equal(null);
      expect(warnings.calls.filter((w) => w.includes('mesh-presence-room'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });
});

describe('<mesh-typing> reporting the local user', () => {
  it('reports typing at the first keystroke, then at most once per throttle interval', async () => {
    const { room } = await mount(html`<textarea id="t"></textarea><mesh-typing for="t" throttle="300"></mesh-typing>`);
    const field = room.querySelector('textarea')!;
    field.focus();
    await sendKeys({ type: 'hel' });
    expect(room.intents.typing).to.deep.equal([true]);
    await sendKeys({ type: 'lo' });
    expect(room.intents.typing).to.deep.equal([true]);
    await delay(320);
    await sendKeys({ type: '!' });
    expect(room.intents.typing).to.deep.equal([true, true]);
  });

  it('clears on pause', async () => {
    const { room } = await mount(html`<textarea id="t"></textarea><mesh-typing for="t" stop-delay="150"></mesh-typing>`);
    input(room.querySelector('textarea')!, 'h');
    expect(room.intents.typing).to.deep.equal([true]);
    await waitUntil(() => room.intents.typing.length === 2, 'stopped', { timeout: 1_000 });
    expect(room.intents.typing).to.deep.equal([true, false]);
  });

  it('clears on blur', async () => {
    const { room } = await mount(html`<textarea id="t"></textarea><button>x</button><mesh-typing for="t"></mesh-typing>`);
    const field = room.querySelector('textarea')!;
    field.focus();
    input(field, 'h');
    room.querySelector('button')!.focus();
    expect(room.intents.typing).to.deep.equal([true, false]);
  });

  it('clears on an emptied field, and does not report an empty field', async () => {
    const { room } = await mount(html`<input id="t" /><mesh-typing for="t"></mesh-typing>`);
    const field = room.querySelector('input')!;
    input(field, 'h');
    input(field, '');
    input(field, '   ');
    expect(room.intents.typing).to.deep.equal([true, false]);
  });

  it('clears on Enter in an input, but not in a textarea', async () => {
    const { room } = await mount(
      html`<input id="i" /><textarea id="t"></textarea><mesh-typing for="i"></mesh-typing>`,
    );
    const field = room.querySelector('input')!;
    field.focus();
    await sendKeys({ type: 'hi' });
    await sendKeys({ press: 'Enter' });
    expect(room.intents.typing).to.deep.equal([true, false]);

    const el = room.querySelector('mesh-typing')!;
    el.for = 't';
    await el.updateComplete;
    room.querySelector('textarea')!.focus();
    await sendKeys({ type: 'hi' });
    await sendKeys({ press: 'Enter' });
    expect(room.intents.typing).to.deep.equal([true, false, true]);
  });

  it('clears on form submit', async () => {
    const { room } = await mount(
      html`<form @submit=${(e: Event) => e.preventDefault()}><textarea id="t"></textarea><button>Send</button></form>
        <mesh-typing for="t"></mesh-typing>`,
    );
    input(room.querySelector('textarea')!, 'h');
    room.querySelector('form')!.requestSubmit();
    expect(room.intents.typing).to.deep.equal([true, false]);
  });

  it('watches a contenteditable element', async () => {
    const { room } = await mount(html`<div id="t" contenteditable="true"></div><mesh-typing for="t"></mesh-typing>`);
    const field = room.querySelector<HTMLElement>('#t')!;
    field.focus();
    await sendKeys({ type: 'hi' });
    expect(room.intents.typing).to.deep.equal([true]);
    await sendKeys({ press: 'Backspace' });
    await sendKeys({ press: 'Backspace' });
    expect(room.intents.typing).to.deep.equal([true, false]);
  });

  it('finds a field that appears later, and follows a changed for', async () => {
    const { room, el } = await mount(html`<mesh-typing for="later"></mesh-typing>`);
    const later = document.createElement('textarea');
    later.id = 'later';
    room.append(later);
    input(later, 'a');
    expect(room.intents.typing).to.deep.equal([true]);

    const other = document.createElement('input');
    other.id = 'other';
    room.append(other);
    el.for = 'other';
    await el.updateComplete;
    expect(room.intents.typing).to.deep.equal([true, false]); // the old field's flag is cleared
    input(later, 'ab');
    expect(room.intents.typing).to.deep.equal([true, false]);
    input(other, 'a');
    expect(room.intents.typing).to.deep.equal([true, false, true]);
  });

  it('looks up the field in its own shadow root first, then in the document', async () => {
    const page = await fixture<HTMLElement>(
      html`<div><textarea id="t" class="outer"></textarea><textarea id="doc-only"></textarea><div class="host"></div></div>`,
    );
    const shadow = page.querySelector('.host')!.attachShadow({ mode: 'open' });
    shadow.innerHTML = '<mesh-test-room><textarea id="t" class="inner"></textarea><mesh-typing for="t"></mesh-typing></mesh-test-room>';
    const room = shadow.querySelector<MeshTestRoom>('mesh-test-room')!;
    const el = shadow.querySelector('mesh-typing')!;
    await el.updateComplete;
    input(page.querySelector('.outer')!, 'x');
    expect(room.intents.typing).to.deep.equal([]);
    input(shadow.querySelector('.inner')!, 'x');
    expect(room.intents.typing).to.deep.equal([true]);
    el.for = 'doc-only';
    await el.updateComplete;
    input(page.querySelector<HTMLTextAreaElement>('#doc-only')!, 'x');
    expect(room.intents.typing).to.deep.equal([true, false, true]);
  });

  it('clears the flag when removed while typing', async () => {
    const { room, el } = await mount(html`<textarea id="t"></textarea><mesh-typing for="t"></mesh-typing>`);
    input(room.querySelector('textarea')!, 'h');
    el.remove();
    expect(room.intents.typing).to.deep.equal([true, false]);
  });

  it('warns once when for names an element that cannot be typed in', async () => {
    const warnings = captureWarnings();
    try {
      const { el } = await mount(html`<div id="d"></div><mesh-typing for="d"></mesh-typing>`);
      el.requestUpdate();
      await el.updateComplete;
      expect(warnings.calls.filter((w) => w.includes('for="d"'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });
});

/** The shared client is keyed by URL: a query string makes one connection per user. */
async function userUrl(user: string) {
  const url = new URL(await getServerUrl());
  url.searchParams.set('as', user);
  return url.href;
}

describe('<mesh-typing> with the real room and server', () => {
  it("shows one user's typing at the other, and clears it on pause", async () => {
    const room = uniqueRoom('typing');
    const page = await fixture<HTMLElement>(html`<div>
      <mesh-presence-room id="a" url=${await userUrl('ada')} room=${room} user-id="ada" name="Ada">
        <textarea id="ada-field"></textarea><mesh-typing for="ada-field" stop-delay="400"></mesh-typing>
      </mesh-presence-room>
      <mesh-presence-room id="b" url=${await userUrl('bo')} room=${room} user-id="bo" name="Bo">
        <mesh-typing></mesh-typing>
      </mesh-presence-room>
    </div>`);
    const [roomA, roomB] = [...page.querySelectorAll<MeshPresenceRoom>('mesh-presence-room')] as [MeshPresenceRoom, MeshPresenceRoom];
    const typingA = roomA.querySelector('mesh-typing')!;
    const typingB = roomB.querySelector('mesh-typing')!;
    await waitUntil(() => roomA.users.length === 2 && roomB.users.length === 2, 'both see both', { timeout: 5_000 });

    const field = roomA.querySelector('textarea')!;
    field.focus();
    await sendKeys({ type: 'Hello' });
    await waitUntil(() => text(typingB) === 'Ada is typing…', 'Bo sees Ada typing', { timeout: 3_000 });
    expect(text(typingA)).to.equal(''); // never the local user
    await waitUntil(() => part(typingB, 'text') === null, 'cleared after the pause', { timeout: 3_000 });
    expect(roomB.users.find((u) => u.id === 'ada')!.typing).to.equal(false);
  });

  it('drops a stale typing flag within 8 s, keeping the typist\'s status', async function () {
    this.timeout(15_000);
    const room = uniqueRoom('typing');
    const page = await fixture<HTMLElement>(html`<div>
      <mesh-presence-room url=${await userUrl('bo')} room=${room} user-id="bo" name="Bo">
        <mesh-typing></mesh-typing>
      </mesh-presence-room>
    </div>`);
    const roomB = page.querySelector<MeshPresenceRoom>('mesh-presence-room')!;
    const typingB = roomB.querySelector('mesh-typing')!;

    // A typist whose tab froze: one typing:true, then nothing (no "stopped" message).
    const frozen = new MeshClient(await userUrl('frozen'), { reconnect: false });
    try {
      await frozen.joinRoom(room);
      const published = await frozen.publishPresenceState(room, {
        state: { userId: 'cy', name: 'Cy', avatar: '', color: '', status: 'busy', typing: true, state: {} },
      });
      expect(published).to.equal(true);
      const sentAt = Date.now();
      await waitUntil(() => text(typingB) === 'Cy is typing…', 'Bo sees Cy typing', { timeout: 3_000 });
      await waitUntil(() => part(typingB, 'text') === null, 'the stale flag goes', { timeout: 9_000, interval: 100 });
      const after = Date.now() - sentAt;
      expect(after).to.be.below(8_500);
      expect(after).to.be.at.least(5_000); // it went by the timeout, not earlier
      const cy = roomB.users.find((u) => u.id === 'cy')!;
      expect(cy.status).to.equal('busy');
      expect(cy.typing).to.equal(false);
    } finally {
      await frozen.close();
    }
  });

  it('a state republished with its old typingAt stamp (a rejoin) does not show a stale typist again', async function () {
    this.timeout(15_000);
    const room = uniqueRoom('typing');
    const page = await fixture<HTMLElement>(html`<div>
      <mesh-presence-room url=${await userUrl('bo')} room=${room} user-id="bo" name="Bo" typing-timeout="500">
        <mesh-typing></mesh-typing>
      </mesh-presence-room>
    </div>`);
    const roomB = page.querySelector<MeshPresenceRoom>('mesh-presence-room')!;
    const typingB = roomB.querySelector('mesh-typing')!;
    const typist = new MeshClient(await userUrl('typist'), { reconnect: false });
    const watcher = new MeshClient(await userUrl('watcher'), { reconnect: false });
    try {
      const seen: unknown[] = [];
      await watcher.subscribePresence(room, (u) => {
        seen.push(u.type);
      });
      await typist.joinRoom(room);
      const cy = (typingAt: number) => ({ userId: 'cy', name: 'Cy', avatar: '', color: '', status: 'online', typing: true, typingAt, state: {} });
      expect(await typist.publishPresenceState(room, { state: cy(111) })).to.equal(true);
      await waitUntil(() => text(typingB) === 'Cy is typing…', 'Bo sees Cy typing', { timeout: 3_000 });
      await waitUntil(() => part(typingB, 'text') === null, 'the flag times out', { timeout: 3_000, interval: 50 });
      // a rejoin on the same connection (the server had lost the membership) sends the
      // remembered state, old stamp and all
      seen.length = 0;
      await typist.leaveRoom(room);
      await typist.joinRoom(room);
      expect(await typist.publishPresenceState(room, { state: cy(111) })).to.equal(true);
      await waitUntil(() => seen.join() === 'leave,join,state', `the rejoin went round: ${seen.join()}`, { timeout: 3_000 });
      await delay(150);
      expect(part(typingB, 'text')).to.equal(null);
      expect(roomB.users.find((u) => u.id === 'cy')!.typing).to.equal(false);
      // a fresh stamp is real typing again
      expect(await typist.publishPresenceState(room, { state: cy(222) })).to.equal(true);
      await waitUntil(() => text(typingB) === 'Cy is typing…', 'a new stamp shows Cy typing', { timeout: 3_000 });
    } finally {
      await typist.close();
      await watcher.close();
    }
  });
});

describe('<mesh-typing> accessibility', () => {
  it('is accessible when empty', async () => {
    const { el } = await mount(html`<mesh-typing></mesh-typing>`);
    await expect(el).to.be.accessible();
  });

  it('is accessible with people typing', async () => {
    const { room, el } = await mount(html`<mesh-typing></mesh-typing>`);
    await show(room, el, people(5));
    await expect(el).to.be.accessible();
  });
});
