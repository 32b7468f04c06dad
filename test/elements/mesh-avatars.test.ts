import { expect, fixture, fixtureCleanup, html, oneEvent, waitUntil } from '@open-wc/testing';
import { emulateMedia, sendKeys } from '@web/test-runner-commands';
import '../../components/mesh-avatars/register.js';
import '../../components/mesh-presence-room/register.js';
import type { MeshAvatars } from '../../components/mesh-avatars/mesh-avatars.js';
import type { MeshRequestCloseEvent } from '../../components/events/mesh-request-close-event.js';
import type { MeshPresenceRoom } from '../../components/mesh-presence-room/mesh-presence-room.js';
import { makeUser, type MeshTestRoom } from './helpers/fake-room.js';
import type { PresenceUser } from '../../components/context.js';
import { getClient, resetClients } from '../../src/client/index.js';
import { getServerUrl, waitServerPresence } from './helpers/server-url.js';
import { captureWarnings, contextOf, pause, uniqueRoom, until, userUrl } from './helpers/room-test-utils.js';
import { accessibleText, contrast } from './helpers/a11y.js';

const ada = makeUser({ id: 'u-ada', name: 'Ada Lovelace', status: 'online' });
const bo = makeUser({ id: 'u-bo', name: 'Bo', status: 'busy', tabCount: 3 });
const me = makeUser({ id: 'me', name: 'Me Myself', self: true, status: 'away' });

async function mount(users: PresenceUser[], attrs = ''): Promise<{ room: MeshTestRoom; avatars: MeshAvatars }> {
  const room = await fixture<MeshTestRoom>(html`<mesh-test-room></mesh-test-room>`);
  room.setRoom({ users });
  room.innerHTML = `<mesh-avatars ${attrs}></mesh-avatars>`;
  const avatars = room.querySelector('mesh-avatars')!;
  await avatars.updateComplete;
  return { room, avatars };
}

function many(count: number): PresenceUser[] {
  return Array.from({ length: count }, (_, i) => makeUser({ id: `u${i}`, name: `User ${i}` }));
}

const parts = (el: MeshAvatars, part: string) => [...el.shadowRoot!.querySelectorAll<HTMLElement>(`[part~="${part}"]`)];
const stackIds = (el: MeshAvatars) =>
  [...el.shadowRoot!.querySelectorAll<HTMLElement>('[part~="stack"] [part~="avatar"]')].map((a) => a.dataset.userId);
const items = (el: MeshAvatars) => [...el.shadowRoot!.querySelectorAll<HTMLElement>('[part~="stack"] [role="listitem"]')];
/** The accessible name of each person in the stack (what a screen reader says). */
const names = (el: MeshAvatars) => items(el).map(accessibleText);
const item = (el: MeshAvatars, id: string) => el.shadowRoot!.querySelector<HTMLElement>(`[part~="item"][data-user-id="${id}"]`);

describe('<mesh-avatars> rendering', () => {
  it('renders initials on a colour from the user id, and an image when there is one', async () => {
    const withImage = makeUser({ id: 'u-img', name: 'Cy', avatar: 'data:image/gif;base64,R0lGODlhAQABAAAAACw=' });
    const { avatars } = await mount([ada, withImage]);
    const [first, second] = parts(avatars, 'avatar');
    expect(first!.querySelector('[part~="initials"]')!.textContent).to.equal('AL');
    expect(getComputedStyle(first!).backgroundColor).to.match(/^rgb/);
    expect(second!.querySelector('[part~="image"]')!.getAttribute('src')).to.equal(withImage.avatar);
    expect(second!.querySelector('[part~="initials"]')).to.equal(null);
  });

  it('falls back to initials when the image fails to load', async () => {
    const broken = makeUser({ id: 'u-x', name: 'Xe Broken', avatar: 'data:image/png;base64,AAAA' });
    const { avatars } = await mount([broken]);
    const img = parts(avatars, 'image')[0]!;
    if (!img.matches(':not([src])')) await oneEvent(img, 'error');
    await avatars.updateComplete;
    expect(parts(avatars, 'initials')[0]!.textContent).to.equal('XB');
  });

  it('derives the same colour for the same id and different ones for others', async () => {
    const { avatars } = await mount([ada, bo]);
    const again = await mount([makeUser({ id: 'u-ada', name: 'Other name' })]);
    const colour = (el: MeshAvatars, i: number) => getComputedStyle(parts(el, 'avatar')[i]!).backgroundColor;
    expect(colour(avatars, 0)).to.equal(colour(again.avatars, 0));
    expect(colour(avatars, 0)).not.to.equal(colour(avatars, 1));
  });

  it('uses the user colour when given', async () => {
    const { avatars } = await mount([makeUser({ id: 'u-c', color: 'rgb(1, 2, 3)' })]);
    expect(getComputedStyle(parts(avatars, 'avatar')[0]!).backgroundColor).to.equal('rgb(1, 2, 3)');
  });

  it('shows a status dot with a per-status part and says the status', async () => {
    const { avatars } = await mount([ada, bo]);
    const dots = parts(avatars, 'status-dot');
    expect(dots.map((d) => d.getAttribute('part'))).to.deep.equal(['status-dot status-online', 'status-dot status-busy']);
    expect(names(avatars)[1]).to.equal('Bo, busy');
  });

  it('puts the local user first, marked "you", with the self part', async () => {
    const { avatars } = await mount([ada, me, bo]);
    expect(stackIds(avatars)).to.deep.equal(['me', 'u-ada', 'u-bo']);
    expect(parts(avatars, 'self').map((a) => a.dataset.userId)).to.deep.equal(['me']);
    expect(names(avatars)[0]).to.equal('Me Myself (you), away');
  });

  it('self-position="last" and "hidden" move or hide the local user', async () => {
    const last = await mount([me, ada, bo], 'self-position="last"');
    expect(stackIds(last.avatars)).to.deep.equal(['u-ada', 'u-bo', 'me']);
    const hidden = await mount([me, ada], 'self-position="hidden"');
    expect(stackIds(hidden.avatars)).to.deep.equal(['u-ada']);
  });

  it('shows at most max avatars and a +N disclosure button for the rest', async () => {
    const { avatars } = await mount(many(8));
    expect(parts(avatars, 'avatar').filter((a) => a.closest('[part~="stack"]'))).to.have.length(5);
    const button = parts(avatars, 'overflow')[0] as HTMLButtonElement;
    expect(button.tagName).to.equal('BUTTON');
    expect(button.textContent!.replace(/\s+/g, ' ').trim()).to.equal('+3 more people');
    expect(button.getAttribute('aria-expanded')).to.equal('false');
    const list = parts(avatars, 'list')[0]!;
    expect(button.getAttribute('aria-controls')).to.equal(list.id);
    expect(list.hidden).to.equal(true);

    button.click();
    await avatars.updateComplete;
    expect(button.getAttribute('aria-expanded')).to.equal('true');
    expect(list.hidden).to.equal(false);
    const entries = parts(avatars, 'list-item').map((li) => li.textContent!.replace(/\s+/g, ' ').trim());
    expect(entries).to.have.length(3);
    entries.forEach((text, i) => expect(text).to.match(new RegExp(`User ${i + 5} online$`)));
  });

  it('max is configurable; with no overflow there is no button', async () => {
    const { avatars } = await mount(many(3), 'max="2"');
    expect(stackIds(avatars)).to.deep.equal(['u0', 'u1']);
    expect(parts(avatars, 'overflow')[0]!.textContent!.trim()).to.match(/^\+1 more person$/);
    avatars.max = 3;
    await avatars.updateComplete;
    expect(parts(avatars, 'overflow')).to.have.length(0);
  });

  it('Escape closes the list and returns focus to the button; a click outside closes it', async () => {
    const { avatars } = await mount(many(7));
    const button = parts(avatars, 'overflow')[0] as HTMLButtonElement;
    button.focus();
    await sendKeys({ press: 'Enter' });
    await avatars.updateComplete;
    expect(button.getAttribute('aria-expanded')).to.equal('true');
    await sendKeys({ press: 'Escape' });
    await avatars.updateComplete;
    expect(button.getAttribute('aria-expanded')).to.equal('false');
    expect(avatars.shadowRoot!.activeElement).to.equal(button);

    button.click();
    await avatars.updateComplete;
    document.body.click();
    await avatars.updateComplete;
    expect(button.getAttribute('aria-expanded')).to.equal('false');
  });

  it('fires a cancelable mesh-request-close before the list closes; preventDefault keeps it open', async () => {
    const { avatars } = await mount(many(7));
    const button = parts(avatars, 'overflow')[0] as HTMLButtonElement;
    const requests: MeshRequestCloseEvent[] = [];
    let keepOpen = true;
    const onRequest = (event: MeshRequestCloseEvent) => {
      requests.push(event);
      if (keepOpen) event.preventDefault();
    };
    document.addEventListener('mesh-request-close', onRequest);
    try {
      button.click();
      await avatars.updateComplete;
      expect(requests, 'opening asks nothing').to.have.length(0);
      button.focus();
      await sendKeys({ press: 'Escape' });
      document.body.click();
      button.click();
      await avatars.updateComplete;
      expect(requests.map((e) => e.detail.source)).to.deep.equal(['escape', 'click-outside', 'toggle']);
      expect(requests.every((e) => e.cancelable && e.bubbles && e.composed)).to.equal(true);
      expect(button.getAttribute('aria-expanded'), 'kept open').to.equal('true');
      keepOpen = false;
      document.body.click();
      await avatars.updateComplete;
      expect(button.getAttribute('aria-expanded')).to.equal('false');
      expect(requests.at(-1)!.detail.source).to.equal('click-outside');
    } finally {
      document.removeEventListener('mesh-request-close', onRequest);
    }
  });

  it('shows a tab-count badge only with show-tab-count and more than one tab', async () => {
    const without = await mount([ada, bo]);
    expect(parts(without.avatars, 'badge')).to.have.length(0);
    const { avatars } = await mount([ada, bo], 'show-tab-count');
    const badges = parts(avatars, 'badge');
    expect(badges.map((b) => b.textContent)).to.deep.equal(['3']);
    expect(names(avatars)[1]).to.equal('Bo, busy, 3 tabs');
  });

  it('shows the empty slot when nobody is there', async () => {
    const room = await fixture<MeshTestRoom>(html`
      <mesh-test-room><mesh-avatars><span slot="empty">Nobody here</span></mesh-avatars></mesh-test-room>
    `);
    const avatars = room.querySelector('mesh-avatars')!;
    await avatars.updateComplete;
    expect(avatars.shadowRoot!.querySelector<HTMLSlotElement>('slot[name="empty"]')!.assignedElements()).to.have.length(1);
    expect(parts(avatars, 'stack')).to.have.length(0);
    room.setRoom({ users: [ada] });
    await avatars.updateComplete;
    expect(avatars.shadowRoot!.querySelector('slot[name="empty"]')).to.equal(null);
  });

  it('marks stale users (the stale custom state) and says so', async () => {
    const { room, avatars } = await mount([ada, bo]);
    room.setRoom({ stale: true, status: 'reconnecting' });
    await avatars.updateComplete;
    expect(avatars.matches(':state(stale)')).to.equal(true);
    expect(getComputedStyle(parts(avatars, 'avatar')[0]!).filter).to.contain('grayscale');
    expect(parts(avatars, 'stack')[0]!.getAttribute('aria-label')).to.contain('connection lost');
    expect(stackIds(avatars)).to.deep.equal(['u-ada', 'u-bo']);
    room.setRoom({ stale: false, status: 'online' });
    await avatars.updateComplete;
    expect(avatars.matches(':state(stale)')).to.equal(false);
  });

  it('animates arrivals and keeps a leaving user on screen until the animation ends', async () => {
    const { room, avatars } = await mount([ada]);
    avatars.style.setProperty('--mesh-avatars-animation-duration', '100ms');
    room.setRoom({ users: [ada, bo] });
    await avatars.updateComplete;
    expect(item(avatars, 'u-bo')!.dataset.state).to.equal('entering');
    expect(getComputedStyle(item(avatars, 'u-bo')!).animationName).to.equal('mesh-avatars-enter');
    room.setRoom({ users: [bo] });
    await avatars.updateComplete;
    const adaItem = item(avatars, 'u-ada')!;
    expect(adaItem.dataset.state).to.equal('leaving');
    expect(adaItem.getAttribute('aria-hidden')).to.equal('true');
    await new Promise((r) => setTimeout(r, 250));
    await avatars.updateComplete;
    expect(stackIds(avatars)).to.deep.equal(['u-bo']);
  });

  it('with prefers-reduced-motion nothing animates and leavers go at once', async () => {
    await emulateMedia({ reducedMotion: 'reduce' });
    try {
      const { room, avatars } = await mount([ada]);
      room.setRoom({ users: [ada, bo] });
      await avatars.updateComplete;
      expect(avatars.shadowRoot!.querySelectorAll('[data-state]')).to.have.length(0);
      room.setRoom({ users: [bo] });
      await avatars.updateComplete;
      expect(stackIds(avatars)).to.deep.equal(['u-bo']);
    } finally {
      await emulateMedia({ reducedMotion: 'no-preference' });
    }
  });

  it('picks black or white initials by contrast with any user colour', async () => {
    const colours = ['#ca8a04', '#1e3a8a', 'rgb(250, 250, 210)', 'oklch(0.7 0.2 140)', 'hsl(200 80% 40%)', '#767676'];
    const users = colours.map((color, i) => makeUser({ id: `c${i}`, name: `Co Lour${i}`, color }));
    const { avatars } = await mount(users, 'max="10"');
    const ratios = parts(avatars, 'avatar').map((a) => {
      const initials = a.querySelector('[part~="initials"]')!;
      return contrast(getComputedStyle(initials).color, getComputedStyle(a).backgroundColor);
    });
    for (const ratio of ratios) expect(ratio).to.be.at.least(4.5);
    // a light colour gets dark initials, a dark one light initials
    const textOf = (i: number) => getComputedStyle(parts(avatars, 'initials')[i]!).color;
    expect(contrast(textOf(0), 'rgb(0, 0, 0)')).to.be.below(1.1);
    expect(contrast(textOf(1), 'rgb(255, 255, 255)')).to.be.below(1.1);
    await expect(avatars).to.be.accessible();
  });

  it('ignores a user colour that is not a colour', async () => {
    const { avatars } = await mount([makeUser({ id: 'u-evil', color: 'red; background-image: url(https://example.invalid/x)' })]);
    const avatar = parts(avatars, 'avatar')[0]!;
    expect(avatar.getAttribute('style')).not.to.contain('url(');
    expect(getComputedStyle(avatar).backgroundImage).to.equal('none');
  });

  it('closes the overflow list when removed, so it does not come back open', async () => {
    const { room, avatars } = await mount(many(7));
    (parts(avatars, 'overflow')[0] as HTMLButtonElement).click();
    await avatars.updateComplete;
    expect(parts(avatars, 'list')[0]!.hidden).to.equal(false);
    avatars.remove();
    room.append(avatars);
    await avatars.updateComplete;
    expect(parts(avatars, 'overflow')[0]!.getAttribute('aria-expanded')).to.equal('false');
    expect(parts(avatars, 'list')[0]!.hidden).to.equal(true);
  });

  it('tracks arrivals across max changes: one shown by a larger max does not animate again later', async () => {
    const [a, b, c] = many(3) as [PresenceUser, PresenceUser, PresenceUser];
    const { room, avatars } = await mount([a, b, c], 'max="2"');
    avatars.style.setProperty('--mesh-avatars-animation-duration', '50ms');
    avatars.max = 3;
    await avatars.updateComplete;
    expect(stackIds(avatars)).to.deep.equal(['u0', 'u1', 'u2']);
    expect(item(avatars, 'u2')!.dataset.state).to.equal('entering'); // it came into view
    await waitUntil(() => item(avatars, 'u2')!.dataset.state === undefined, 'the animation ends', { timeout: 1_000 });
    room.setRoom({ users: [a, b, { ...c, status: 'busy' }] }); // an unrelated change
    await avatars.updateComplete;
    expect(item(avatars, 'u2')!.dataset.state).to.equal(undefined);
    avatars.selfPosition = 'last';
    room.setRoom({ users: [{ ...me }, a, b, c] });
    await avatars.updateComplete;
    expect(stackIds(avatars)).to.deep.equal(['u0', 'u1', 'u2']); // me is past max
    avatars.max = 4;
    await avatars.updateComplete;
    expect(item(avatars, 'me')!.dataset.state).to.equal('entering');
  });

  it('shows names on keyboard focus: one tab stop, arrows move between people, Escape hides the name', async () => {
    const { avatars } = await mount([me, ada, bo, ...many(4)]);
    const before = document.createElement('button');
    before.textContent = 'before';
    avatars.before(before);
    before.focus();
    const tooltipShown = (id: string) => getComputedStyle(item(avatars, id)!.querySelector('[part~="tooltip"]')!).visibility === 'visible';
    expect(items(avatars).filter((i) => i.tabIndex === 0)).to.have.length(1);

    await sendKeys({ press: 'Tab' });
    expect(avatars.shadowRoot!.activeElement).to.equal(item(avatars, 'me'));
    expect(tooltipShown('me')).to.equal(true);
    expect(getComputedStyle(item(avatars, 'me')!).outlineStyle).to.equal('solid');

    await sendKeys({ press: 'ArrowRight' });
    expect(avatars.shadowRoot!.activeElement).to.equal(item(avatars, 'u-ada'));
    expect(tooltipShown('u-ada')).to.equal(true);
    expect(tooltipShown('me')).to.equal(false);
    await avatars.updateComplete;
    expect(items(avatars).filter((i) => i.tabIndex === 0).map((i) => i.dataset.userId)).to.deep.equal(['u-ada']);

    await sendKeys({ press: 'End' });
    expect(avatars.shadowRoot!.activeElement).to.equal(item(avatars, 'u1'));
    await sendKeys({ press: 'Escape' });
    await avatars.updateComplete;
    expect(tooltipShown('u1')).to.equal(false);
    await sendKeys({ press: 'Home' });
    await avatars.updateComplete;
    expect(avatars.shadowRoot!.activeElement).to.equal(item(avatars, 'me'));
    expect(tooltipShown('me')).to.equal(true);

    // the next Tab leaves the stack for the +N button
    await sendKeys({ press: 'Tab' });
    expect(avatars.shadowRoot!.activeElement).to.equal(parts(avatars, 'overflow')[0]);
  });

  it('mirrors the arrow keys in right-to-left text', async () => {
    const { room, avatars } = await mount([ada, bo]);
    room.setAttribute('dir', 'rtl');
    item(avatars, 'u-ada')!.focus();
    await sendKeys({ press: 'ArrowLeft' });
    expect(avatars.shadowRoot!.activeElement).to.equal(item(avatars, 'u-bo'));
  });

  it('bad attribute values warn once and fall back to the defaults', async () => {
    const warnings = captureWarnings();
    try {
      const { avatars } = await mount(many(7), 'max="lots" self-position="middle"');
      expect(stackIds(avatars)).to.have.length(5);
      avatars.requestUpdate();
      await avatars.updateComplete;
      expect(warnings.calls.filter((w) => w.includes('max='))).to.have.length(1);
      expect(warnings.calls.filter((w) => w.includes('self-position='))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });

  it('warns once when used outside a room and shows its empty state', async () => {
    const warnings = captureWarnings();
    try {
      const el = await fixture<MeshAvatars>(html`<mesh-avatars></mesh-avatars>`);
      await new Promise((r) => setTimeout(r, 20));
      expect(warnings.calls.filter((w) => w.includes('not inside a <mesh-presence-room>'))).to.have.length(1);
      expect(parts(el, 'stack')).to.have.length(0);
    } finally {
      warnings.restore();
    }
  });

  describe('accessibility', () => {
    it('is accessible when empty', async () => {
      const { avatars } = await mount([]);
      await expect(avatars).to.be.accessible();
    });

    it('is accessible when populated, each person named', async () => {
      const { avatars } = await mount([me, ada, bo], 'show-tab-count');
      await expect(avatars).to.be.accessible();
      expect(names(avatars)).to.deep.equal(['Me Myself (you), away', 'Ada Lovelace, online', 'Bo, busy, 3 tabs']);
    });

    it('is accessible with the overflow list open', async () => {
      const { avatars } = await mount([me, ...many(7)]);
      (parts(avatars, 'overflow')[0] as HTMLButtonElement).click();
      await avatars.updateComplete;
      await expect(avatars).to.be.accessible();
    });

    it('is accessible when stale', async () => {
      const { room, avatars } = await mount([ada, bo]);
      room.setRoom({ stale: true });
      await avatars.updateComplete;
      await expect(avatars).to.be.accessible();
    });
  });
});

describe('<mesh-avatars> in a real room', () => {
  let url: string;

  before(async () => {
    url = await getServerUrl();
  });

  afterEach(async () => {
    fixtureCleanup();
    await resetClients();
  });

  /** One simulated user: a room with avatars inside, on its own connection. */
  async function user(n: number, room: string, userId: string, name: string, attrs = ''): Promise<{ room: MeshPresenceRoom; avatars: MeshAvatars }> {
    const wrapper = await fixture<HTMLDivElement>(html`<div></div>`);
    wrapper.innerHTML = `<mesh-presence-room url="${userUrl(url, n)}" room="${room}" user-id="${userId}" name="${name}">
      <mesh-avatars ${attrs}></mesh-avatars></mesh-presence-room>`;
    const roomEl = wrapper.querySelector('mesh-presence-room')!;
    const avatars = wrapper.querySelector('mesh-avatars')!;
    await roomEl.updateComplete;
    await avatars.updateComplete;
    return { room: roomEl, avatars };
  }

  async function shows(el: { room: MeshPresenceRoom; avatars: MeshAvatars }, wanted: string[]): Promise<void> {
    await until(el.room, 'mesh-users-change', () => el.room.users.length === wanted.length, `${wanted.length} users`);
    await el.avatars.updateComplete;
    expect(stackIds(el.avatars)).to.deep.equal(wanted);
  }

  it('shows both users to each other, the local one first and marked "you"', async () => {
    const room = uniqueRoom();
    const a = await user(1, room, 'ada', 'Ada Lovelace');
    const b = await user(2, room, 'bo', 'Bo Peep');
    await shows(a, ['ada', 'bo']);
    await shows(b, ['bo', 'ada']);
    expect(names(b.avatars)).to.deep.equal(['Bo Peep (you), online', 'Ada Lovelace, online']);
    expect(parts(b.avatars, 'initials').map((i) => i.textContent)).to.deep.equal(['BP', 'AL']);
  });

  it('shows a tab-count badge for a user with two tabs', async () => {
    const room = uniqueRoom();
    const observer = await user(1, room, 'obs', 'Observer', 'show-tab-count');
    await user(2, room, 'ada', 'Ada');
    await user(3, room, 'ada', 'Ada');
    await until(observer.room, 'mesh-users-change', () => observer.room.users.find((u) => u.id === 'ada')?.tabCount === 2, 'two tabs');
    await observer.avatars.updateComplete;
    expect(parts(observer.avatars, 'badge').map((b) => b.textContent)).to.deep.equal(['2']);
  });

  it('a user who reloads does not flicker out and back in', async () => {
    // without animations a user who left is removed at once, so any flicker shows in the DOM
    await emulateMedia({ reducedMotion: 'reduce' });
    try {
      const room = uniqueRoom();
      const observer = await user(1, room, 'obs', 'Observer');
      const ada = await user(2, room, 'ada', 'Ada');
      await shows(observer, ['obs', 'ada']);
      const adaAvatar = observer.avatars.shadowRoot!.querySelector('[data-user-id="ada"]')!;
      const removed: string[] = [];
      const observerOfDom = new MutationObserver((records) => {
        for (const r of records) for (const node of r.removedNodes) if (node instanceof Element) removed.push(node.outerHTML);
      });
      observerOfDom.observe(observer.avatars.shadowRoot!, { childList: true, subtree: true });

      // the reload: the page's connection closes, a new one joins as the same user
      const client = getClient(userUrl(url, 2));
      await client.release();
      const closed = new Promise<void>((resolve) => client.on('status', (s) => s === 'offline' && resolve()));
      ada.room.parentElement!.remove();
      await closed;
      const again = await user(2, room, 'ada', 'Ada');
      await shows(again, ['ada', 'obs']);
      await waitServerPresence(room, 2);
      await pause(150);
      observerOfDom.disconnect();
      await observer.avatars.updateComplete;
      expect(observer.avatars.shadowRoot!.querySelector('[data-user-id="ada"]')).to.equal(adaAvatar);
      expect(removed.filter((html) => html.includes('data-user-id="ada"'))).to.deep.equal([]);
      expect(observer.avatars.shadowRoot!.querySelectorAll('[data-state="leaving"]')).to.have.length(0);
    } finally {
      await emulateMedia({ reducedMotion: 'no-preference' });
    }
  });

  it('shows status changes of the other user', async () => {
    const room = uniqueRoom();
    const a = await user(1, room, 'ada', 'Ada');
    const b = await user(2, room, 'bo', 'Bo');
    await shows(b, ['bo', 'ada']);
    contextOf(a.room).setStatus('busy');
    await until(b.room, 'mesh-users-change', () => b.room.users.find((u) => u.id === 'ada')?.status === 'busy', 'busy');
    await b.avatars.updateComplete;
    expect(parts(b.avatars, 'status-dot')[1]!.getAttribute('part')).to.contain('status-busy');
  });

  it('is accessible in a populated real room', async () => {
    const room = uniqueRoom();
    const a = await user(1, room, 'ada', 'Ada');
    await user(2, room, 'bo', 'Bo');
    await shows(a, ['ada', 'bo']);
    await expect(a.avatars).to.be.accessible();
  });
});
