/**
 * Memory-leak check (after Spectrum Web Components): a full room with all four elements,
 * used and removed again and again, must leave nothing behind: no joined room or
 * presence subscription on the shared client, no listener on document or window, no
 * open BroadcastChannel.
 */
import { expect, fixture, fixtureCleanup, html, waitUntil } from '@open-wc/testing';
import '../../components/bundle.js';
import type { MeshPresenceRoom } from '../../components/mesh-presence-room/mesh-presence-room.js';
import { getClient, resetClients } from '../../src/client/index.js';
import { getServerUrl, waitServerPresence } from './helpers/server-url.js';
import { uniqueRoom, until, userUrl } from './helpers/room-test-utils.js';

type Entry = { target: string; type: string; listener: unknown; capture: boolean };

/** Records listeners added to and removed from `targets` (as addEventListener dedupes them). */
function trackListeners(targets: Record<string, EventTarget>) {
  const live: Entry[] = [];
  const restores: Array<() => void> = [];
  const captureOf = (options: unknown) =>
    typeof options === 'boolean' ? options : Boolean((options as AddEventListenerOptions | undefined)?.capture);
  for (const [name, target] of Object.entries(targets)) {
    const { addEventListener: add, removeEventListener: remove } = target;
    const find = (type: string, listener: unknown, capture: boolean) =>
      live.findIndex((e) => e.target === name && e.type === type && e.listener === listener && e.capture === capture);
    target.addEventListener = function (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions) {
      const capture = captureOf(options);
      if (listener && find(type, listener, capture) < 0) live.push({ target: name, type, listener, capture });
      return add.call(this, type, listener, options);
    };
    target.removeEventListener = function (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions) {
      const index = find(type, listener, captureOf(options));
      if (index >= 0) live.splice(index, 1);
      return remove.call(this, type, listener, options);
    };
    restores.push(() => {
      target.addEventListener = add;
      target.removeEventListener = remove;
    });
  }
  return {
    /** Listeners added since tracking began and still there, as "target type". */
    left: () => live.map((e) => `${e.target} ${e.type}${e.capture ? ' (capture)' : ''}`),
    restore: () => restores.forEach((r) => r()),
  };
}

/** Counts BroadcastChannels opened and not closed. */
function trackChannels() {
  const original = window.BroadcastChannel;
  const open = new Set<BroadcastChannel>();
  window.BroadcastChannel = class extends original {
    constructor(name: string) {
      super(name);
      open.add(this);
    }
    override close(): void {
      open.delete(this);
      super.close();
    }
  };
  return { open: () => open.size, restore: () => (window.BroadcastChannel = original) };
}

afterEach(async () => {
  fixtureCleanup();
  await resetClients();
});

describe('leaks', () => {
  it('mounting, using and removing a full room 20 times leaves nothing behind', async function () {
    this.timeout(30_000);
    const server = await getServerUrl();
    const name = uniqueRoom('leak');
    const url = userUrl(server, 1);
    // Bo stays in the room, so Ada's avatars have an overflow list to open (max="1").
    const bo = await fixture<MeshPresenceRoom>(html`<mesh-presence-room url=${userUrl(server, 2)} room=${name} user-id="bo"></mesh-presence-room>`);
    await until(bo, 'mesh-users-change', () => bo.users.length === 1, 'bo listed');
    // held by the test, so that the connection (and what it still holds) outlives the rooms
    const client = getClient(url);
    await client.connect(); // its own page-lifecycle listeners are not the elements'
    const listeners = trackListeners({ document, window });
    const channels = trackChannels();
    try {
      for (let i = 0; i < 20; i++) {
        const page = await fixture<HTMLElement>(html`<div>
          <mesh-presence-room url=${url} room=${name} user-id="ada" name="Ada">
            <mesh-avatars max="1"></mesh-avatars>
            <mesh-status-picker auto-away="60000"></mesh-status-picker>
            <textarea id="leak-field"></textarea>
            <mesh-typing for="leak-field"></mesh-typing>
          </mesh-presence-room>
        </div>`);
        const room = page.querySelector('mesh-presence-room')!;
        await until(room, 'mesh-users-change', () => room.users.length === 2, 'ada and bo listed');
        // use everything: the overflow list and the picker's listbox open, typing on
        const avatars = page.querySelector('mesh-avatars')!;
        await avatars.updateComplete;
        avatars.shadowRoot!.querySelector<HTMLButtonElement>('[part~="overflow"]')!.click();
        const picker = page.querySelector('mesh-status-picker')!;
        picker.show();
        const field = page.querySelector('textarea')!;
        field.value = 'x';
        field.dispatchEvent(new InputEvent('input', { bubbles: true, composed: true }));
        await avatars.updateComplete;
        await picker.updateComplete;
        expect(avatars.shadowRoot!.querySelector('[part~="overflow"]')!.getAttribute('aria-expanded')).to.equal('true');
        page.remove();
      }
      await waitUntil(
        () => client.joinedRooms.length === 0 && client.subscribedRooms.length === 0,
        'the shared client holds no room any more',
        { timeout: 5_000 },
      );
      expect(client.joinedRooms).to.deep.equal([]);
      expect(client.subscribedRooms).to.deep.equal([]);
      expect(listeners.left()).to.deep.equal([]);
      expect(channels.open()).to.equal(0);
      // on the server, only Bo is left
      await waitServerPresence(name, 1);
    } finally {
      listeners.restore();
      channels.restore();
      await client.release();
    }
  });
});
