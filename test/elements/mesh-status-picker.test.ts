import { expect, fixture, html, oneEvent, waitUntil } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import '../../components/mesh-status-picker/register.js';
import '../../components/mesh-typing/register.js';
import type { MeshStatusPicker } from '../../components/mesh-status-picker/mesh-status-picker.js';
import type { MeshStatusChangeEvent } from '../../components/events/mesh-status-change-event.js';
import type { MeshRequestCloseEvent } from '../../components/events/mesh-request-close-event.js';
import { type MeshTestRoom } from './helpers/fake-room.js';
import '../../components/mesh-presence-room/register.js';
import type { MeshPresenceRoom } from '../../components/mesh-presence-room/mesh-presence-room.js';
import { MeshClient } from '../../src/client/index.js';
import type { PresenceState } from '../../src/protocol.js';
import { getServerUrl } from './helpers/server-url.js';
import { captureWarnings } from './helpers/room-test-utils.js';

const part = (el: MeshStatusPicker, name: string) => el.shadowRoot!.querySelector<HTMLElement>(`[part~="${name}"]`)!;
const parts = (el: MeshStatusPicker, name: string) => [...el.shadowRoot!.querySelectorAll<HTMLElement>(`[part~="${name}"]`)];
const isOpen = (el: MeshStatusPicker) => !part(el, 'listbox').hidden;
const activeOption = (el: MeshStatusPicker) => {
  const id = part(el, 'listbox').getAttribute('aria-activedescendant');
  return id ? el.shadowRoot!.getElementById(id)!.dataset.value : undefined;
};
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function clearStorage() {
  for (const key of Object.keys(localStorage)) if (key.startsWith('mesh-presence/')) localStorage.removeItem(key);
}

async function mount(template: ReturnType<typeof html>, userId = 'me') {
  const room = await fixture<MeshTestRoom>(html`<mesh-test-room></mesh-test-room>`);
  room.setRoom({ self: { id: userId, name: userId, avatar: '', color: '' } });
  // Rendered into the room after it provides the right user, as a page would have it.
  const { render } = await import('lit');
  render(template, room);
  const el = room.querySelector('mesh-status-picker')!;
  await el.updateComplete;
  return { room, el };
}

beforeEach(clearStorage);
afterEach(clearStorage);

describe('<mesh-status-picker> rendering', () => {
  it('offers online, away, busy and do not disturb, starting online', async () => {
    const { room, el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    expect(parts(el, 'option').map((o) => o.textContent!.trim())).to.deep.equal(['Online', 'Away', 'Busy', 'Do not disturb']);
    expect(el.value).to.equal('online');
    expect(part(el, 'label').textContent).to.equal('Online');
    expect(part(el, 'button').textContent!.replace(/\s+/g, ' ').trim()).to.equal('Status: Online');
    expect(room.intents.status).to.deep.equal(['online']);
    expect(isOpen(el)).to.equal(false);
  });

  it('takes custom options with labels and colours from child <option> elements', async () => {
    const { room, el } = await mount(html`<mesh-status-picker>
      <option value="ready" data-color="rgb(1, 2, 3)">Ready</option>
      <option value="spectating">Spectating</option>
    </mesh-status-picker>`);
    expect(el.value).to.equal('ready');
    expect(parts(el, 'option').map((o) => o.dataset.value)).to.deep.equal(['ready', 'spectating']);
    expect(getComputedStyle(part(el, 'status-dot')).backgroundColor).to.equal('rgb(1, 2, 3)');
    expect(room.intents.status).to.deep.equal(['ready']);

    const option = document.createElement('option');
    option.value = 'playing';
    option.textContent = 'Playing';
    el.append(option);
    await waitUntil(() => parts(el, 'option').length === 3, 'the new option is offered');
  });

  it('starts with the value attribute, publishing it', async () => {
    const { room, el } = await mount(html`<mesh-status-picker value="busy"></mesh-status-picker>`);
    expect(el.value).to.equal('busy');
    expect(part(el, 'label').textContent).to.equal('Busy');
    expect(room.intents.status).to.deep.equal(['busy']);
  });

  it('warns once for an invalid value and falls back to the first option', async () => {
    const warnings = captureWarnings();
    try {
      const { el } = await mount(html`<mesh-status-picker value="sleeping"></mesh-status-picker>`);
      el.requestUpdate();
      await el.updateComplete;
      expect(el.value).to.equal('online');
      expect(warnings.calls.filter((w) => w.includes('sleeping'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });

  it('warns separately for a bad initial value and a bad value set later', async () => {
    const warnings = captureWarnings();
    try {
      const { el } = await mount(html`<mesh-status-picker value="sleeping"></mesh-status-picker>`);
      el.value = 'snoozing';
      el.value = 'snoozing';
      await el.updateComplete;
      expect(el.value).to.equal('online');
      expect(warnings.calls.filter((w) => w.includes('sleeping'))).to.have.length(1);
      expect(warnings.calls.filter((w) => w.includes('snoozing'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });

  it('an empty label warns once and falls back to "Status"', async () => {
    const warnings = captureWarnings();
    try {
      const { el } = await mount(html`<mesh-status-picker label=""></mesh-status-picker>`);
      el.requestUpdate();
      await el.updateComplete;
      expect(part(el, 'button').textContent!.replace(/\s+/g, ' ').trim()).to.equal('Status: Online');
      expect(part(el, 'listbox').getAttribute('aria-label')).to.equal('Status');
      expect(warnings.calls.filter((w) => w.includes('label'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });

  it('points its caret down in both text directions', async () => {
    const page = await fixture<HTMLElement>(html`<div>
      <mesh-test-room dir="ltr"><mesh-status-picker></mesh-status-picker></mesh-test-room>
      <mesh-test-room dir="rtl"><mesh-status-picker></mesh-status-picker></mesh-test-room>
    </div>`);
    for (const el of page.querySelectorAll('mesh-status-picker')) {
      await el.updateComplete;
      const caret = getComputedStyle(el.shadowRoot!.querySelector('[part~="caret"]')!);
      // a square with its right and bottom sides drawn, turned 45°: a chevron pointing down
      expect([caret.borderRightStyle, caret.borderBottomStyle, caret.borderLeftStyle, caret.borderTopStyle]).to.deep.equal(['solid', 'solid', 'none', 'none']);
      expect(caret.transform).to.match(/^matrix\(0\.707/);
    }
  });

  it('warns once outside a room', async () => {
    const warnings = captureWarnings();
    try {
      const el = await fixture<MeshStatusPicker>(html`<mesh-status-picker></mesh-status-picker>`);
      await delay(20);
      expect(el.value).to.equal('online');
      expect(warnings.calls.filter((w) => w.includes('mesh-presence-room'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });
});

describe('<mesh-status-picker> keyboard and pointer', () => {
  it('opens with ArrowDown, moves with the arrows, picks with Enter and returns focus', async () => {
    const { room, el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    part(el, 'button').focus();
    await sendKeys({ press: 'ArrowDown' });
    await el.updateComplete;
    expect(isOpen(el)).to.equal(true);
    expect(part(el, 'button').getAttribute('aria-expanded')).to.equal('true');
    expect(el.shadowRoot!.activeElement).to.equal(part(el, 'listbox'));
    expect(activeOption(el)).to.equal('online');
    await sendKeys({ press: 'ArrowDown' });
    await sendKeys({ press: 'ArrowDown' });
    await sendKeys({ press: 'ArrowUp' });
    await el.updateComplete;
    expect(activeOption(el)).to.equal('away');
    const changed = oneEvent(el, 'mesh-status-change') as Promise<MeshStatusChangeEvent>;
    await sendKeys({ press: 'Enter' });
    const event = await changed;
    expect(event.detail).to.deep.equal({ value: 'away', previous: 'online' });
    expect(event.bubbles && event.composed).to.equal(true);
    await el.updateComplete;
    expect(el.value).to.equal('away');
    expect(isOpen(el)).to.equal(false);
    expect(el.shadowRoot!.activeElement).to.equal(part(el, 'button'));
    expect(room.intents.status).to.deep.equal(['online', 'away']);
    expect(parts(el, 'option')[1]!.getAttribute('aria-selected')).to.equal('true');
  });

  it('supports Home, End, Space and type-ahead', async () => {
    const { el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    part(el, 'button').focus();
    await sendKeys({ press: 'Space' });
    await el.updateComplete;
    expect(isOpen(el)).to.equal(true);
    await sendKeys({ press: 'End' });
    await el.updateComplete;
    expect(activeOption(el)).to.equal('dnd');
    await sendKeys({ press: 'Home' });
    await el.updateComplete;
    expect(activeOption(el)).to.equal('online');
    await sendKeys({ press: 'b' });
    await el.updateComplete;
    expect(activeOption(el)).to.equal('busy');
    await delay(600); // the type-ahead buffer resets
    await sendKeys({ press: 'Space' });
    await el.updateComplete;
    expect(el.value).to.equal('busy');
  });

  it('closes on Escape without choosing, focus back on the button', async () => {
    const { room, el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    let events = 0;
    el.addEventListener('mesh-status-change', () => events++);
    part(el, 'button').click();
    await el.updateComplete;
    await sendKeys({ press: 'ArrowDown' });
    await sendKeys({ press: 'Escape' });
    await el.updateComplete;
    expect(isOpen(el)).to.equal(false);
    expect(el.value).to.equal('online');
    expect(el.shadowRoot!.activeElement).to.equal(part(el, 'button'));
    expect(events).to.equal(0);
    expect(room.intents.status).to.deep.equal(['online']);
  });

  it('picks with a click and closes when focus leaves', async () => {
    const { el } = await mount(html`<mesh-status-picker></mesh-status-picker><button id="elsewhere">x</button>`);
    part(el, 'button').click();
    await el.updateComplete;
    parts(el, 'option')[2]!.click();
    await el.updateComplete;
    expect(el.value).to.equal('busy');
    expect(isOpen(el)).to.equal(false);
    part(el, 'button').click();
    await el.updateComplete;
    document.getElementById('elsewhere')!.focus();
    await el.updateComplete;
    expect(isOpen(el)).to.equal(false);
  });

  it('fires a cancelable mesh-request-close before the listbox closes; preventDefault keeps it open, a choice still counts', async () => {
    const { el } = await mount(html`<mesh-status-picker></mesh-status-picker><button id="elsewhere">x</button>`);
    const requests: MeshRequestCloseEvent[] = [];
    let keepOpen = true;
    const onRequest = (event: MeshRequestCloseEvent) => {
      requests.push(event);
      if (keepOpen) event.preventDefault();
    };
    document.addEventListener('mesh-request-close', onRequest);
    try {
      part(el, 'button').click();
      await el.updateComplete;
      expect(requests, 'opening asks nothing').to.have.length(0);
      await sendKeys({ press: 'Escape' });
      await el.updateComplete;
      expect(isOpen(el)).to.equal(true);
      await sendKeys({ press: 'ArrowDown' });
      await sendKeys({ press: 'Enter' });
      await el.updateComplete;
      expect(el.value, 'the choice is made').to.equal('away');
      expect(isOpen(el), 'kept open after the choice').to.equal(true);
      part(el, 'button').click();
      await el.updateComplete;
      expect(isOpen(el)).to.equal(true);
      expect(requests.map((e) => e.detail.source)).to.deep.equal(['escape', 'select', 'toggle']);
      expect(requests.every((e) => e.cancelable && e.bubbles && e.composed)).to.equal(true);
      el.hide(false);
      await el.updateComplete;
      expect(isOpen(el), 'hide() closes without asking').to.equal(false);
      expect(requests).to.have.length(3);
      keepOpen = false;
      part(el, 'button').click();
      await el.updateComplete;
      document.getElementById('elsewhere')!.focus();
      await el.updateComplete;
      expect(isOpen(el)).to.equal(false);
      expect(requests.at(-1)!.detail.source).to.equal('focusout');
    } finally {
      document.removeEventListener('mesh-request-close', onRequest);
    }
  });

  it('after a prevented toggle close, the arrows on the button reach the open list and Escape asks to close', async () => {
    const { el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    const sources: string[] = [];
    let keepOpen = true;
    const onRequest = (event: MeshRequestCloseEvent) => {
      sources.push(event.detail.source);
      if (keepOpen) event.preventDefault();
    };
    document.addEventListener('mesh-request-close', onRequest);
    try {
      part(el, 'button').focus();
      await sendKeys({ press: 'Enter' });
      await el.updateComplete;
      expect(isOpen(el)).to.equal(true);
      part(el, 'button').focus();
      await sendKeys({ press: 'Enter' }); // toggle, prevented: open, focus on the button
      await el.updateComplete;
      expect(isOpen(el)).to.equal(true);
      expect(el.shadowRoot!.activeElement?.getAttribute('part')).to.equal('button');
      await sendKeys({ press: 'ArrowDown' });
      await el.updateComplete;
      expect(el.shadowRoot!.activeElement?.getAttribute('part'), 'focus back in the list').to.contain('listbox');
      part(el, 'button').focus();
      keepOpen = false;
      await sendKeys({ press: 'Escape' });
      await el.updateComplete;
      expect(isOpen(el), 'Escape on the button closes').to.equal(false);
      expect(sources).to.deep.equal(['toggle', 'escape']);
    } finally {
      document.removeEventListener('mesh-request-close', onRequest);
    }
  });

  it('fires no event when code sets value, but publishes and persists it', async () => {
    const { room, el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    let events = 0;
    el.addEventListener('mesh-status-change', () => events++);
    el.value = 'dnd';
    await el.updateComplete;
    expect(events).to.equal(0);
    expect(room.intents.status).to.deep.equal(['online', 'dnd']);
    expect(localStorage.getItem('mesh-presence/user/me/status')).to.equal('dnd');
  });
});

describe('<mesh-status-picker> persistence and tabs', () => {
  it('keeps the choice across a reload: a persisted choice wins over the value attribute', async () => {
    const first = await mount(html`<mesh-status-picker value="online"></mesh-status-picker>`);
    part(first.el, 'button').click();
    await first.el.updateComplete;
    parts(first.el, 'option')[2]!.click();
    first.room.remove();

    const again = await mount(html`<mesh-status-picker value="online"></mesh-status-picker>`);
    expect(again.el.value).to.equal('busy');
    expect(again.room.intents.status).to.deep.equal(['busy']);

    const otherUser = await mount(html`<mesh-status-picker value="away"></mesh-status-picker>`, 'someone-else');
    expect(otherUser.el.value).to.equal('away');
  });

  it("follows the user's choice in their other tabs at once, and only theirs", async () => {
    const a = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    const b = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    const stranger = await mount(html`<mesh-status-picker></mesh-status-picker>`, 'stranger');
    let eventsInB = 0;
    b.el.addEventListener('mesh-status-change', () => eventsInB++);
    a.el.value = 'busy';
    await waitUntil(() => b.el.value === 'busy', 'the other tab follows');
    await b.el.updateComplete;
    expect(b.room.intents.status).to.deep.equal(['online', 'busy']);
    expect(eventsInB).to.equal(0);

    // A message from another tab of this user, as a BroadcastChannel delivers it.
    const tab = new BroadcastChannel('mesh-presence/user/me');
    tab.postMessage({ type: 'status', value: 'dnd' });
    tab.close();
    await waitUntil(() => a.el.value === 'dnd' && b.el.value === 'dnd', 'both follow');
    await delay(50);
    expect(stranger.el.value).to.equal('online');
  });


  it('falls back to storage events without BroadcastChannel', async () => {
    const original = window.BroadcastChannel;
    // The channel is chosen when the picker starts: start it without BroadcastChannel.
    (window as { BroadcastChannel?: unknown }).BroadcastChannel = undefined;
    let picker: MeshStatusPicker;
    try {
      picker = (await mount(html`<mesh-status-picker></mesh-status-picker>`)).el;
    } finally {
      window.BroadcastChannel = original;
    }
    // Another document of the origin stands in for another tab: its writes fire storage events here.
    const frame = await fixture<HTMLIFrameElement>(html`<iframe src="about:blank"></iframe>`);
    const otherTab = frame.contentWindow!.localStorage;
    otherTab.setItem('mesh-presence/user/me/message', JSON.stringify({ type: 'status', value: 'away', nonce: 1 }));
    await waitUntil(() => picker.value === 'away', 'follows the storage message');
    picker.value = 'busy';
    expect(JSON.parse(localStorage.getItem('mesh-presence/user/me/message')!)).to.include({ type: 'status', value: 'busy' });
  });
});

describe('<mesh-status-picker> auto-away', () => {
  it('turns away after inactivity and back on activity', async () => {
    const { room, el } = await mount(html`<mesh-status-picker auto-away="200"></mesh-status-picker>`);
    await waitUntil(() => el.value === 'away', 'away after 200 ms', { timeout: 2_000 });
    await el.updateComplete;
    expect(part(el, 'label').textContent).to.equal('Away');
    expect(room.intents.status).to.deep.equal(['online', 'away']);
    expect(localStorage.getItem('mesh-presence/user/me/status')).to.equal(null); // not a choice
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Shift' }));
    await el.updateComplete;
    expect(el.value).to.equal('online');
    expect(room.intents.status).to.deep.equal(['online', 'away', 'online']);
  });

  it('never overrides a chosen busy, dnd or do-not-disturb, though the user went idle', async () => {
    // a picker of another user in the same page turns away: the idle time has passed here too
    const dnd = await mount(html`<mesh-status-picker auto-away="100" value="dnd"></mesh-status-picker>`);
    const busy = await mount(html`<mesh-status-picker auto-away="100" value="busy"></mesh-status-picker>`, 'busy-user');
    const custom = await mount(html`<mesh-status-picker auto-away="100" value="do-not-disturb">
      <option value="online">Online</option><option value="away">Away</option><option value="do-not-disturb">Do not disturb</option>
    </mesh-status-picker>`, 'custom-user');
    const probe = await mount(html`<mesh-status-picker auto-away="100"></mesh-status-picker>`, 'probe');
    await waitUntil(() => probe.el.value === 'away', 'the probe turns away', { timeout: 2_000 });
    await delay(50);
    expect(dnd.el.value).to.equal('dnd');
    expect(dnd.room.intents.status).to.deep.equal(['dnd']);
    expect(custom.el.value).to.equal('do-not-disturb');
    expect(custom.room.intents.status).to.deep.equal(['do-not-disturb']);
    expect(busy.el.value).to.equal('busy');
    expect(busy.room.intents.status).to.deep.equal(['busy']);
  });

  it("does not turn away while another of the user's tabs is active", async () => {
    const { el } = await mount(html`<mesh-status-picker auto-away="300"></mesh-status-picker>`);
    const otherTab = new BroadcastChannel('mesh-presence/user/me');
    try {
      for (let i = 0; i < 8; i++) {
        otherTab.postMessage({ type: 'activity', at: Date.now() });
        await delay(75);
      }
      expect(el.value).to.equal('online'); // 600 ms, twice the timeout, without local activity
      await waitUntil(() => el.value === 'away', 'away once all tabs are quiet', { timeout: 2_000 });
      otherTab.postMessage({ type: 'activity', at: Date.now() });
      await waitUntil(() => el.value === 'online', 'back when another tab is used');
    } finally {
      otherTab.close();
    }
  });

  it('warns once for an invalid auto-away and leaves it off', async () => {
    const warnings = captureWarnings();
    try {
      const { el } = await mount(html`<mesh-status-picker auto-away="soon"></mesh-status-picker>`);
      el.requestUpdate();
      await el.updateComplete;
      expect(warnings.calls.filter((w) => w.includes('auto-away'))).to.have.length(1);
    } finally {
      warnings.restore();
    }
  });
});

/** The shared client is keyed by URL: a query string makes one connection per tab. */
async function tabUrl(tab: string) {
  const url = new URL(await getServerUrl());
  url.searchParams.set('tab', tab);
  return url.href;
}

describe('<mesh-status-picker> with the real room and server', () => {
  it('publishes a keyboard choice on every tab of the user, seen by the others', async () => {
    const room = `status-${Math.random().toString(36).slice(2)}`;
    // Two "tabs" of Ada (two connections) and Bo.
    const page = await fixture<HTMLElement>(html`<div>
      <mesh-presence-room url=${await tabUrl('ada-1')} room=${room} user-id="ada" name="Ada">
        <mesh-status-picker></mesh-status-picker>
        <textarea id="ada-text"></textarea><mesh-typing for="ada-text"></mesh-typing>
      </mesh-presence-room>
      <mesh-presence-room url=${await tabUrl('ada-2')} room=${room} user-id="ada" name="Ada">
        <mesh-status-picker></mesh-status-picker>
      </mesh-presence-room>
      <mesh-presence-room url=${await tabUrl('bo')} room=${room} user-id="bo" name="Bo"></mesh-presence-room>
    </div>`);
    const [ada1, ada2, bo] = [...page.querySelectorAll<MeshPresenceRoom>('mesh-presence-room')] as MeshPresenceRoom[];
    const seenByBo = () => bo!.users.find((u) => u.id === 'ada');
    await waitUntil(() => seenByBo()?.tabCount === 2 && seenByBo()?.status === 'online', 'Bo sees Ada online in 2 tabs', { timeout: 5_000 });

    // Watch each of Ada's connections separately: states are per connection.
    const observer = new MeshClient(await tabUrl('observer'), { reconnect: false });
    const states = new Map<string, PresenceState | null | undefined>();
    try {
      const result = await observer.subscribePresence(room, (update) => {
        if (update.type === 'state') states.set(update.connectionId, update.state);
      });
      for (const [id, state] of Object.entries(result.states)) states.set(id, state);
      const picker = ada1!.querySelector('mesh-status-picker')!;
      part(picker, 'button').focus();
      await sendKeys({ press: 'ArrowDown' });
      await sendKeys({ press: 'End' });
      await sendKeys({ press: 'ArrowUp' });
      await sendKeys({ press: 'Enter' });
      await waitUntil(() => seenByBo()?.status === 'busy', 'Bo sees Ada busy', { timeout: 3_000 });
      expect(ada2!.querySelector('mesh-status-picker')!.value).to.equal('busy');
      const adaStates = () => [...states.values()].filter((st) => st?.userId === 'ada');
      await waitUntil(
        () => adaStates().length === 2 && adaStates().every((st) => st!.status === 'busy'),
        'both of Ada\'s connections publish busy',
        { timeout: 3_000 },
      );
      // Typing afterwards does not clobber the status.
      ada1!.querySelector('textarea')!.focus();
      await sendKeys({ type: 'hi' });
      await waitUntil(() => seenByBo()?.typing === true, 'Bo sees Ada typing', { timeout: 3_000 });
      expect(seenByBo()!.status).to.equal('busy');
    } finally {
      await observer.close();
    }
  });
});

describe('<mesh-status-picker> outside a room', () => {
  it('neither persists nor opens a channel without a user', async () => {
    const warnings = captureWarnings();
    const original = window.BroadcastChannel;
    let opened = 0;
    window.BroadcastChannel = class extends original {
      constructor(name: string) {
        super(name);
        opened++;
      }
    };
    try {
      const el = await fixture<MeshStatusPicker>(html`<mesh-status-picker></mesh-status-picker>`);
      el.value = 'busy';
      await el.updateComplete;
      expect(el.value).to.equal('busy'); // it still works as a control
      expect(opened).to.equal(0);
      expect(Object.keys(localStorage).filter((k) => k.startsWith('mesh-presence/'))).to.deep.equal([]);
      await delay(20);
      expect(warnings.calls.filter((w) => w.includes('mesh-presence-room'))).to.have.length(1);
    } finally {
      window.BroadcastChannel = original;
      warnings.restore();
    }
  });
});

describe('<mesh-status-picker> accessibility', () => {
  it('is accessible closed', async () => {
    const { el } = await mount(html`<mesh-status-picker></mesh-status-picker>`);
    await expect(el).to.be.accessible();
  });

  it('is accessible open, with custom options', async () => {
    const { el } = await mount(html`<mesh-status-picker label="Game state">
      <option value="ready">Ready</option><option value="spectating">Spectating</option>
    </mesh-status-picker>`);
    part(el, 'button').click();
    await el.updateComplete;
    expect(isOpen(el)).to.equal(true);
    await expect(el).to.be.accessible();
  });

  it('is accessible outside a room (its empty state)', async () => {
    const warnings = captureWarnings();
    try {
      const el = await fixture<MeshStatusPicker>(html`<mesh-status-picker></mesh-status-picker>`);
      await expect(el).to.be.accessible();
      await delay(20); // the warning, caught here
    } finally {
      warnings.restore();
    }
  });
});
