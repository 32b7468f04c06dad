import { expect, fixture, fixtureCleanup, html } from '@open-wc/testing';
import '../../components/mesh-presence-room/register.js';
import '../../components/mesh-avatars/register.js';
import type { MeshPresenceRoom } from '../../components/mesh-presence-room/mesh-presence-room.js';
import type { PresenceUser } from '../../components/context.js';
import type { MeshJoinEvent } from '../../components/events/mesh-join-event.js';
import type { MeshLeaveEvent } from '../../components/events/mesh-leave-event.js';
import type { MeshStateEvent } from '../../components/events/mesh-state-event.js';
import type { MeshErrorEvent } from '../../components/events/mesh-error-event.js';
import { MeshClient, getClient, resetClients } from '../../src/client/index.js';
import {
  createPrivateServer,
  getServerPresence,
  getServerUrl,
  waitServerPresence,
  type PrivateServer,
} from './helpers/server-url.js';
import { captureWarnings, contextOf, pause, record, uniqueRoom, until, userUrl } from './helpers/room-test-utils.js';

let url: string;

interface RoomOptions {
  url: string;
  room: string;
  userId?: string;
  name?: string;
  token?: string;
  getToken?: () => string | Promise<string>;
  watchOnly?: boolean;
  leaveGrace?: number;
  typingTimeout?: number;
  avatars?: boolean;
}

/** A `<mesh-presence-room>` in its own fixture (each one is one simulated user). */
async function mountRoom(options: RoomOptions): Promise<MeshPresenceRoom> {
  const room = document.createElement('mesh-presence-room');
  room.url = options.url;
  room.room = options.room;
  if (options.userId !== undefined) room.userId = options.userId;
  if (options.name !== undefined) room.name = options.name;
  if (options.token !== undefined) room.token = options.token;
  if (options.getToken !== undefined) room.getToken = options.getToken;
  if (options.watchOnly) room.watchOnly = true;
  if (options.leaveGrace !== undefined) room.leaveGrace = options.leaveGrace;
  if (options.typingTimeout !== undefined) room.typingTimeout = options.typingTimeout;
  if (options.avatars) room.append(document.createElement('mesh-avatars'));
  const wrapper = await fixture<HTMLDivElement>(html`<div></div>`);
  wrapper.append(room);
  await room.updateComplete;
  return room;
}

const ids = (room: MeshPresenceRoom) => room.users.map((u) => u.id);
const userOf = (room: MeshPresenceRoom, id: string): PresenceUser | undefined => room.users.find((u) => u.id === id);
const hasUsers = (room: MeshPresenceRoom, ...wanted: string[]) => () =>
  wanted.every((id) => ids(room).includes(id)) && room.users.length === wanted.length;

function waitUsers(room: MeshPresenceRoom, ...wanted: string[]): Promise<void> {
  return until(room, 'mesh-users-change', hasUsers(room, ...wanted), `users [${wanted.join(', ')}], have [${ids(room).join(', ')}]`);
}

function waitUser(room: MeshPresenceRoom, id: string, predicate: (user: PresenceUser) => boolean, what: string): Promise<void> {
  return until(room, 'mesh-users-change', () => {
    const user = userOf(room, id);
    return user !== undefined && predicate(user);
  }, what);
}

before(async () => {
  url = await getServerUrl();
});

afterEach(async () => {
  fixtureCleanup();
  await resetClients();
});

describe('<mesh-presence-room>', () => {
  it('does not affect layout', async () => {
    const room = await mountRoom({ url, room: uniqueRoom() });
    expect(getComputedStyle(room).display).to.equal('contents');
  });

  it('two users in one room see each other, each marked self on their own side', async () => {
    const name = uniqueRoom();
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada', name: 'Ada' });
    const b = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'bo', name: 'Bo' });
    await Promise.all([waitUsers(a, 'ada', 'bo'), waitUsers(b, 'ada', 'bo')]);
    expect(userOf(a, 'ada')).to.include({ self: true, name: 'Ada', tabCount: 1, status: 'online', typing: false });
    expect(userOf(a, 'bo')).to.include({ self: false, name: 'Bo', tabCount: 1 });
    expect(userOf(b, 'bo')!.self).to.equal(true);
    expect(userOf(b, 'ada')!.self).to.equal(false);
    expect(a.status).to.equal('online');
    const context = contextOf(a);
    expect(context.room).to.equal(name);
    expect(context.joined).to.equal(true);
    expect(context.self).to.deep.equal({ id: 'ada', name: 'Ada', avatar: '', color: '' });
    expect(context.users.map((u) => u.id)).to.deep.equal(ids(a));
  });

  it('users is read-only', async () => {
    const room = await mountRoom({ url, room: uniqueRoom(), userId: 'ada' });
    expect(() => ((room as unknown as { users: unknown }).users = [])).to.throw();
  });

  it('fires mesh-join when a user appears and mesh-leave only after the leave grace', async () => {
    const name = uniqueRoom();
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada', leaveGrace: 400 });
    await waitUsers(a, 'ada');
    const seen = record<CustomEvent>(document, ['mesh-join', 'mesh-leave', 'mesh-users-change']);
    const b = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'bo', leaveGrace: 400 });
    await waitUsers(a, 'ada', 'bo');
    const joins = seen.events.filter((e) => e.type === 'mesh-join' && e.target === a) as MeshJoinEvent[];
    expect(joins.map((e) => e.detail.user.id)).to.deep.equal(['bo']);
    expect(joins[0]!.detail.room).to.equal(name);
    expect(joins[0]!.bubbles && joins[0]!.composed).to.equal(true);
    const change = seen.events.find((e) => e.type === 'mesh-users-change' && e.target === a)!;
    expect((change.detail as { users: PresenceUser[] }).users.map((u) => u.id)).to.include('bo');

    b.remove();
    const removedAt = performance.now();
    await pause(150);
    expect(seen.events.filter((e) => e.type === 'mesh-leave' && e.target === a)).to.have.length(0);
    expect(ids(a)).to.include('bo');
    await waitUsers(a, 'ada');
    const leaves = seen.events.filter((e) => e.type === 'mesh-leave' && e.target === a) as MeshLeaveEvent[];
    expect(leaves.map((e) => e.detail.user.id)).to.deep.equal(['bo']);
    expect(performance.now() - removedAt).to.be.greaterThan(350);
    seen.stop();
  });

  it('groups tabs: two connections with the same user id are one user with tabCount 2', async () => {
    const name = uniqueRoom();
    const observer = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'obs', leaveGrace: 200 });
    await mountRoom({ url: userUrl(url, 2), room: name, userId: 'ada', name: 'Ada' });
    const tab2 = await mountRoom({ url: userUrl(url, 3), room: name, userId: 'ada', name: 'Ada' });
    await waitUser(observer, 'ada', (u) => u.tabCount === 2, 'ada with 2 tabs');
    expect(ids(observer)).to.deep.equal(['obs', 'ada']);
    const seen = record<CustomEvent>(observer, ['mesh-leave', 'mesh-join']);
    tab2.remove();
    await waitUser(observer, 'ada', (u) => u.tabCount === 1, 'ada with 1 tab');
    expect(seen.events).to.have.length(0);
    seen.stop();
  });

  it('a reload (connection closed and reopened) neither leaves nor rejoins', async () => {
    const name = uniqueRoom();
    const observer = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'obs' });
    const a = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'ada', name: 'Ada' });
    await waitUsers(observer, 'obs', 'ada');
    const seen = record<CustomEvent>(observer, ['mesh-leave', 'mesh-join']);
    const before = (await getServerPresence(name)).present;
    const client = getClient(userUrl(url, 2));
    await client.release(); // the test's own reference
    const closed = new Promise<void>((resolve) => client.on('status', (s) => s === 'offline' && resolve()));
    a.remove(); // its client closes: the connection leaves, as on a reload
    await closed;
    const reloaded = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'ada', name: 'Ada' });
    await waitUsers(reloaded, 'obs', 'ada');
    const after = (await waitServerPresence(name, 2)).present;
    expect(after).not.to.deep.equal(before); // a new connection indeed
    await pause(150);
    expect(userOf(observer, 'ada')!.tabCount).to.equal(1);
    expect(seen.events.map((e) => e.type)).to.deep.equal([]);
    seen.stop();
  });

  it('does not list a connection under its id while its first state is on its way', async () => {
    const name = uniqueRoom();
    const raw = new MeshClient(userUrl(url, 9));
    try {
      expect((await raw.joinRoom(name)).success).to.equal(true); // joined, no state yet
      const seen = record<MeshJoinEvent>(document, ['mesh-join']);
      const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada' });
      await waitUsers(a, 'ada');
      await pause(300);
      expect(ids(a)).to.deep.equal(['ada']);
      await raw.publishPresenceState(name, { state: { userId: 'raw', name: 'Raw client' } });
      await waitUsers(a, 'ada', 'raw');
      expect(seen.events.map((e) => e.detail.user.id)).to.deep.equal(['ada', 'raw']);
      seen.stop();
    } finally {
      await raw.close();
    }
  });

  it('identity from server-trusted metadata wins over what the client claims', async () => {
    const server = await createPrivateServer({ authenticate: true });
    try {
      const name = uniqueRoom();
      const a = await mountRoom({
        url: userUrl(server.url, 1),
        room: name,
        token: 'u-ada:Ada Verified',
        userId: 'impostor',
        name: 'Impostor',
      });
      const b = await mountRoom({ url: userUrl(server.url, 2), room: name, token: 'u-bo:Bo', userId: 'u-bo' });
      await waitUsers(b, 'u-ada', 'u-bo');
      const ada = userOf(b, 'u-ada')!;
      expect(ada.name).to.equal('Ada Verified');
      expect(ada.metadata).to.deep.equal({ userId: 'u-ada', name: 'Ada Verified' });
      // the trusted id is the local user too
      await waitUser(a, 'u-ada', (u) => u.self, 'ada marked self');
    } finally {
      await resetClients();
      await server.dispose();
    }
  });

  it('composes identity, status, typing and page state: changing one keeps the others', async () => {
    const name = uniqueRoom();
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada', name: 'Ada' });
    const b = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'bo' });
    await waitUsers(b, 'ada', 'bo');
    const ctx = contextOf(a);
    ctx.setStatus('busy');
    a.setState({ page: 'intro', cursor: 3 });
    await waitUser(b, 'ada', (u) => u.status === 'busy' && u.state.page === 'intro', 'ada busy on intro');
    ctx.setTyping(true);
    await waitUser(b, 'ada', (u) => u.typing, 'ada typing');
    expect(userOf(b, 'ada')).to.deep.include({ status: 'busy', name: 'Ada', state: { page: 'intro', cursor: 3 } });
    ctx.setTyping(false);
    await waitUser(b, 'ada', (u) => !u.typing, 'ada stopped typing');
    ctx.setState({ cursor: undefined });
    await waitUser(b, 'ada', (u) => !('cursor' in u.state), 'cursor removed');
    expect(userOf(b, 'ada')).to.deep.include({ status: 'busy', name: 'Ada', state: { page: 'intro' } });

    const states = record<MeshStateEvent>(b, ['mesh-state']);
    a.name = 'Ada L.';
    await waitUser(b, 'ada', (u) => u.name === 'Ada L.', 'new name');
    expect(states.events.at(-1)!.detail.previous.name).to.equal('Ada');
    expect(userOf(b, 'ada')!.status).to.equal('busy');
    states.stop();
  });

  it('merges tabs: typing if any tab types, status from the tab that changed last', async () => {
    const name = uniqueRoom();
    const tab1 = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada' });
    const tab2 = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'ada' });
    const b = await mountRoom({ url: userUrl(url, 3), room: name, userId: 'bo' });
    await waitUser(b, 'ada', (u) => u.tabCount === 2, 'two tabs');
    contextOf(tab1).setTyping(true);
    await waitUser(b, 'ada', (u) => u.typing, 'typing from tab 1');
    contextOf(tab2).setStatus('away');
    await waitUser(b, 'ada', (u) => u.status === 'away', 'away from tab 2');
    // tab 2 changed last and is not typing, yet tab 1 still types
    expect(userOf(b, 'ada')!.typing).to.equal(true);
    contextOf(tab1).setTyping(false);
    await waitUser(b, 'ada', (u) => !u.typing, 'nobody types');
    // now tab 1 changed last: its status counts (tabs agree when <mesh-status-picker> syncs them)
    expect(userOf(b, 'ada')!.status).to.equal('online');
  });

  it('a typing flag that is not refreshed goes stale after typing-timeout, keeping the status', async () => {
    const name = uniqueRoom();
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada' });
    const b = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'bo', typingTimeout: 400 });
    await waitUsers(b, 'ada', 'bo');
    contextOf(a).setStatus('busy');
    contextOf(a).setTyping(true); // and then the tab "freezes": no refresh, no stop
    await waitUser(b, 'ada', (u) => u.typing, 'typing');
    const start = performance.now();
    await waitUser(b, 'ada', (u) => !u.typing, 'typing dropped');
    expect(performance.now() - start).to.be.within(200, 1500);
    expect(userOf(b, 'ada')!.status).to.equal('busy');
    // a refresh (typing:true again) is a new state that restarts the timeout
    contextOf(a).setTyping(true);
    await waitUser(b, 'ada', (u) => u.typing, 'typing again');
  });

  it('keeps the last users marked stale while the server is down, and reconciles without flicker', async function () {
    this.timeout(15_000);
    const server: PrivateServer = await createPrivateServer();
    try {
      const name = uniqueRoom();
      const a = await mountRoom({ url: userUrl(server.url, 1), room: name, userId: 'ada', avatars: true });
      const b = await mountRoom({ url: userUrl(server.url, 2), room: name, userId: 'bo', avatars: true });
      await Promise.all([waitUsers(a, 'ada', 'bo'), waitUsers(b, 'ada', 'bo')]);
      const seen = record<CustomEvent>(b, ['mesh-join', 'mesh-leave', 'mesh-connection-change']);
      await server.stop();
      await until(b, 'mesh-connection-change', () => b.stale, 'stale');
      expect(b.status).to.equal('reconnecting');
      expect(ids(b)).to.have.members(['ada', 'bo']);
      expect(contextOf(b).stale).to.equal(true);
      const region = b.shadowRoot!.querySelector('[role="status"]')!;
      await b.updateComplete;
      expect(region.textContent).to.contain('Connection lost');
      const avatars = b.querySelector('mesh-avatars')!;
      await avatars.updateComplete;
      expect(avatars.shadowRoot!.querySelector('[part~="stack"]')!.getAttribute('aria-label')).to.contain('connection lost');

      await server.start();
      await until(b, 'mesh-connection-change', () => b.status === 'online' && !b.stale, 'online again', 10_000);
      await b.updateComplete;
      expect(region.textContent).to.contain('Connection restored');
      // both reconnected with new connection ids; the users stayed
      await waitServerPresence(name, 2, server.id);
      await pause(200);
      expect(ids(b)).to.have.members(['ada', 'bo']);
      expect(userOf(b, 'ada')!.tabCount).to.equal(1);
      expect(seen.events.filter((e) => e.type !== 'mesh-connection-change').map((e) => e.type)).to.deep.equal([]);
      seen.stop();
    } finally {
      await resetClients();
      await server.dispose();
    }
  });

  it('changing room at runtime leaves the old room with no leaked subscription', async () => {
    const first = uniqueRoom();
    const second = uniqueRoom();
    const watcher1 = await mountRoom({ url: userUrl(url, 2), room: first, userId: 'w1', leaveGrace: 100 });
    const watcher2 = await mountRoom({ url: userUrl(url, 2), room: second, userId: 'w1', leaveGrace: 100 });
    const a = await mountRoom({ url: userUrl(url, 1), room: first, userId: 'ada' });
    await Promise.all([waitUsers(watcher1, 'w1', 'ada'), waitUsers(a, 'w1', 'ada')]);
    const aUsers = record<CustomEvent>(a, ['mesh-users-change']);
    a.room = second;
    await Promise.all([waitUsers(watcher1, 'w1'), waitUsers(watcher2, 'w1', 'ada'), waitUsers(a, 'w1', 'ada')]);
    expect(contextOf(a).room).to.equal(second);
    // a's view emptied for the old room before the new room's users arrived
    const changes = aUsers.events.map((e) => e.detail as { room: string; users: PresenceUser[] });
    expect(changes[0]).to.deep.include({ room: first, users: [] });
    expect(changes.at(-1)!.room).to.equal(second);
    aUsers.stop();
    const client = getClient(userUrl(url, 1));
    try {
      expect(client.joinedRooms).to.deep.equal([second]);
      expect(client.subscribedRooms).to.deep.equal([second]);
    } finally {
      await client.release();
    }
    expect((await getServerPresence(first)).present).to.have.length(1);
  });

  it('changing url at runtime moves to the other connection', async () => {
    const name = uniqueRoom();
    const watcher = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'w' });
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada' });
    await waitUsers(watcher, 'w', 'ada');
    const before = (await getServerPresence(name)).present;
    const seen = record<CustomEvent>(watcher, ['mesh-join', 'mesh-leave']);
    a.url = userUrl(url, 3);
    await until(a, 'mesh-users-change', hasUsers(a, 'w', 'ada'), 'a back on the new url');
    // the old connection gone, the new one there
    const after = (await waitServerPresence(name, (p) => p.present.length === 2 && !p.present.every((id) => before.includes(id)))).present;
    expect(after.filter((id) => !before.includes(id))).to.have.length(1);
    // to the others it is a reload: ada's new connection takes the old one's place
    await pause(200);
    expect(userOf(watcher, 'ada')!.tabCount).to.equal(1);
    expect(seen.events.map((e) => e.type)).to.deep.equal([]);
    seen.stop();
  });

  it('moving a room in the DOM keeps its session: nobody leaves or joins', async () => {
    const name = uniqueRoom();
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada', avatars: true });
    const b = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'bo' });
    await Promise.all([waitUsers(a, 'ada', 'bo'), waitUsers(b, 'ada', 'bo')]);
    const before = (await getServerPresence(name)).present;
    const seen = record<CustomEvent>(document, ['mesh-join', 'mesh-leave', 'mesh-users-change']);
    const elsewhere = await fixture<HTMLElement>(html`<section></section>`);
    elsewhere.append(a);
    await pause(300);
    expect(seen.events.map((e) => `${e.type} at ${(e.target as MeshPresenceRoom).userId}`)).to.deep.equal([]);
    seen.stop();
    expect(a.parentElement).to.equal(elsewhere);
    expect(ids(a)).to.deep.equal(['ada', 'bo']);
    expect((await getServerPresence(name)).present).to.deep.equal(before);
    const avatars = a.querySelector('mesh-avatars')!;
    await avatars.updateComplete;
    expect(avatars.shadowRoot!.querySelectorAll('[part~="stack"] [part~="item"]')).to.have.length(2);
  });

  it('removing the element releases its join and closes an unused connection', async () => {
    const name = uniqueRoom();
    const watcher = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'w', leaveGrace: 50 });
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada' });
    await waitUsers(watcher, 'w', 'ada');
    const client = getClient(userUrl(url, 1));
    await client.release(); // give back the test's own reference
    a.remove();
    await waitUsers(watcher, 'w');
    expect((await getServerPresence(name)).present).to.have.length(1);
    expect(client.isClosed).to.equal(true);
  });

  it('two rooms on one page share one connection', async () => {
    const first = uniqueRoom();
    const second = uniqueRoom();
    const r1 = await mountRoom({ url, room: first, userId: 'ada' });
    const r2 = await mountRoom({ url, room: second, userId: 'ada' });
    await Promise.all([waitUsers(r1, 'ada'), waitUsers(r2, 'ada')]);
    const [p1, p2] = await Promise.all([getServerPresence(first), getServerPresence(second)]);
    expect(p1.present).to.have.length(1);
    expect(p1.present).to.deep.equal(p2.present);
  });

  it('watch-only shows the room without joining it', async () => {
    const name = uniqueRoom();
    const a = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada', name: 'Ada', leaveGrace: 100 });
    const w = await mountRoom({ url: userUrl(url, 2), room: name, userId: 'watcher', watchOnly: true, leaveGrace: 100 });
    await waitUsers(w, 'ada');
    expect(userOf(w, 'ada')!.name).to.equal('Ada');
    expect(contextOf(w).joined).to.equal(false);
    await pause(100);
    expect(ids(a)).to.deep.equal(['ada']);
    expect((await getServerPresence(name)).present).to.have.length(1);
    // it follows leaves as well (after the grace)
    a.remove();
    await waitUsers(w);
  });

  it('without user-id uses a stable anonymous id kept in localStorage', async () => {
    const name = uniqueRoom();
    const first = await mountRoom({ url, room: name });
    await until(first, 'mesh-users-change', () => first.users.length === 1, 'self listed');
    const id = first.users[0]!.id;
    expect(id).to.match(/^anon-[0-9a-f]{16}$/);
    expect(localStorage.getItem('mesh-presence:anonymous-id')).to.equal(id);
    first.remove();
    const second = await mountRoom({ url, room: uniqueRoom() });
    expect(contextOf(second).self.id).to.equal(id);
  });

  it('reads the getToken property on connect; it wins over token', async () => {
    const server = await createPrivateServer({ authenticate: true });
    try {
      let calls = 0;
      const room = await mountRoom({
        url: server.url,
        room: uniqueRoom(),
        token: 'u-wrong:Wrong',
        getToken: async () => {
          calls++;
          return 'u-ada:Ada Token';
        },
      });
      await waitUsers(room, 'u-ada');
      expect(userOf(room, 'u-ada')).to.include({ name: 'Ada Token', self: true });
      expect(calls).to.equal(1);
    } finally {
      await resetClients();
      await server.dispose();
    }
  });

  it('offline: clears typing, changes wait without timing out, and the reconnect restores only the latest state', async function () {
    this.timeout(15_000);
    const server = await createPrivateServer();
    try {
      const name = uniqueRoom();
      const aUrl = userUrl(server.url, 1);
      // the shared client of a, with a short request timeout: a publish that waited for the
      // connection would fail with ETIMEOUT well within the outage
      getClient(aUrl, { requestTimeout: 300 });
      const a = await mountRoom({ url: aUrl, room: name, userId: 'ada', name: 'Ada' });
      const b = await mountRoom({ url: userUrl(server.url, 2), room: name, userId: 'bo', typingTimeout: 1_000 });
      await waitUsers(b, 'ada', 'bo');
      contextOf(a).setTyping(true);
      await waitUser(b, 'ada', (u) => u.typing, 'ada typing');
      const errors = record<MeshErrorEvent>(a, ['mesh-error']);

      await server.stop();
      await until(a, 'mesh-connection-change', () => a.stale, 'a offline');
      contextOf(a).setStatus('busy');
      a.setState({ draft: 1 });
      a.setState({ draft: 2 });
      // longer than the request timeout, and than b's typing timeout: b's flag for ada is gone
      await waitUser(b, 'ada', (u) => !u.typing, "ada's typing flag goes stale at b");
      await pause(600);

      const seenByB = record<CustomEvent>(b, ['mesh-users-change']);
      await server.start();
      await waitUser(b, 'ada', (u) => u.status === 'busy' && u.state.draft === 2, 'the offline changes arrive');
      await until(b, 'mesh-connection-change', () => b.status === 'online', 'b online');
      await pause(200);
      seenByB.stop();
      errors.stop();
      // the typing flag of before the outage never came back
      const adaTyping = seenByB.events.map((e) => (e.detail as { users: PresenceUser[] }).users.find((u) => u.id === 'ada')?.typing);
      expect(adaTyping).not.to.include(true);
      const states = Object.values((await getServerPresence(name, server.id)).states).filter((st) => st.userId === 'ada');
      expect(states).to.have.length(1);
      expect(states[0]).to.deep.include({ typing: false, status: 'busy', state: { draft: 2 } });
      expect(errors.events.map((e) => e.detail.code)).not.to.include('ETIMEOUT');
    } finally {
      await resetClients();
      await server.dispose();
    }
  });

  it('reports refusals as mesh-error', async () => {
    const server = await createPrivateServer({ authenticate: true });
    try {
      const errors = record<CustomEvent>(document, ['mesh-error']);
      const room = await mountRoom({ url: server.url, room: uniqueRoom() }); // no token: 401
      await until(room, 'mesh-error', () => errors.events.length > 0, 'an error');
      expect((errors.events[0]!.detail as { code: string }).code).to.be.a('string').and.not.equal('');
      expect(room.users).to.deep.equal([]);
      errors.stop();
    } finally {
      await resetClients();
      await server.dispose();
    }
  });

  it('bad attribute values warn once and fall back', async () => {
    const warnings = captureWarnings();
    try {
      const room = await mountRoom({ url, room: uniqueRoom(), userId: 'ada' });
      room.setAttribute('leave-grace', 'soon');
      await room.updateComplete;
      room.setAttribute('typing-timeout', '-5');
      await room.updateComplete;
      room.requestUpdate('leaveGrace');
      await room.updateComplete;
      expect(warnings.calls.filter((w) => w.includes('leave-grace='))).to.have.length(1);
      expect(warnings.calls.filter((w) => w.includes('typing-timeout='))).to.have.length(1);
      await waitUsers(room, 'ada');
      // a typing timeout of 0 would drop every flag at once: it must be > 0
      const other = await mountRoom({ url, room: uniqueRoom(), userId: 'bo', typingTimeout: 0 });
      expect(warnings.calls.filter((w) => w.includes('typing-timeout="0"'))).to.have.length(1);
      await waitUsers(other, 'bo');
    } finally {
      warnings.restore();
    }
  });

  describe('accessibility', () => {
    it('is accessible empty', async () => {
      const room = await mountRoom({ url, room: uniqueRoom(), watchOnly: true, avatars: true });
      await expect(room.parentElement!).to.be.accessible();
    });

    it('is accessible populated', async () => {
      const name = uniqueRoom();
      const room = await mountRoom({ url: userUrl(url, 1), room: name, userId: 'ada', name: 'Ada', avatars: true });
      await mountRoom({ url: userUrl(url, 2), room: name, userId: 'bo', name: 'Bo' });
      await waitUsers(room, 'ada', 'bo');
      await room.querySelector('mesh-avatars')!.updateComplete;
      await expect(room.parentElement!).to.be.accessible();
    });
  });
});
