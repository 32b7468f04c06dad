/**
 * createPresence: users grouped from connections, leave grace, batching, storage,
 * cross-tab sync, dispose, and a server restart seen at the user level.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPresenceServer } from '../../src/server/index.js';
import { createPresence, type CreatePresenceOptions, type MeshClient, type PresenceHandle, type PresenceUser } from '../../src/client/node.js';
import { silentLogger, startServer } from '../helpers/server.js';
import { makeClient, quiet, recordingWebSocket, until, type TestContext } from './helpers.js';

type State = { userId?: string; status?: string; email?: string; [key: string]: unknown };

/** A createPresence handle that records every onUpdate call. */
class Recorder {
  readonly calls: Array<PresenceUser<State>[]> = [];
  readonly times: number[] = [];
  handle!: PresenceHandle<State>;

  get latest(): PresenceUser<State>[] {
    return this.calls.at(-1) ?? [];
  }

  user(id: string): PresenceUser<State> | undefined {
    return this.latest.find((u) => u.id === id);
  }

  wait(check: (users: PresenceUser<State>[]) => boolean, ms = 3000, what = 'users'): Promise<void> {
    return until(() => check(this.latest), ms, `${what}: ${JSON.stringify(this.latest.map((u) => [u.id, u.tabCount, u.state]))}`);
  }
}

function track(
  t: TestContext,
  client: MeshClient,
  room: string,
  options: Partial<CreatePresenceOptions<State>> = {},
): Recorder {
  const recorder = new Recorder();
  recorder.handle = createPresence<State>({
    client,
    room,
    leaveGrace: 200,
    anonymousDelay: 500,
    ...options,
    onUpdate: (users) => {
      recorder.calls.push(users);
      recorder.times.push(Date.now());
    },
  });
  t.after(() => recorder.handle.dispose());
  return recorder;
}

const summary = (users: PresenceUser<State>[]): Array<[string, number]> => users.map((u) => [u.id, u.tabCount]);

test('two tabs of one user (same state.userId) are one user with tabCount 2', async (t) => {
  const { url } = await startServer(t);
  const alice1 = track(t, makeClient(t, url), 'room');
  const alice2 = track(t, makeClient(t, url), 'room');
  const bob = track(t, makeClient(t, url), 'room');
  const observer = track(t, makeClient(t, url), 'room');
  await Promise.all([alice1, alice2, bob, observer].map((r) => r.handle.ready));
  await alice1.handle.publish({ userId: 'alice', status: 'here' });
  await alice2.handle.publish({ userId: 'alice', status: 'away' });
  await bob.handle.publish({ userId: 'bob' });
  await observer.handle.publish({ userId: 'olga' });

  await observer.wait((users) => users.length === 3 && users.find((u) => u.id === 'alice')?.state?.status === 'away');
  assert.deepEqual(summary(observer.latest).sort(), [
    ['alice', 2],
    ['bob', 1],
    ['olga', 1],
  ]);
  const alice = observer.user('alice')!;
  assert.equal(alice.state?.status, 'away', 'the state of the connection that changed last');
  assert.equal(alice.connections.length, 2);
  assert.equal(alice.self, false);
  assert.equal(observer.user('olga')!.self, true);

  // the first tab changes last now: its state wins
  await alice1.handle.publish({ userId: 'alice', status: 'busy' });
  await observer.wait((users) => users.find((u) => u.id === 'alice')?.state?.status === 'busy');
});

test("each user lists the states of their connections still in the room, by connection id", { timeout: 10_000 }, async (t) => {
  const { url } = await startServer(t);
  const one = makeClient(t, url);
  const two = makeClient(t, url);
  const alice1 = track(t, one, 'room');
  const alice2 = track(t, two, 'room');
  const observer = track(t, makeClient(t, url), 'room', { leaveGrace: 2000 });
  await Promise.all([alice1, alice2, observer].map((r) => r.handle.ready));
  await alice1.handle.publish({ userId: 'alice', typing: true });
  await alice2.handle.publish({ userId: 'alice', typing: false });
  await observer.wait((users) => Object.keys(users.find((u) => u.id === 'alice')?.states ?? {}).length === 2);
  assert.deepEqual(observer.user('alice')!.states, {
    [one.connectionId!]: { userId: 'alice', typing: true },
    [two.connectionId!]: { userId: 'alice', typing: false },
  });
  // a tab that left is still counted within the leave grace, but has no state in the room
  await alice1.handle.dispose();
  await observer.wait((users) => Object.keys(users.find((u) => u.id === 'alice')?.states ?? {}).length === 1, 3000, 'one state left');
  assert.equal(observer.user('alice')!.tabCount, 2);
  assert.deepEqual(observer.user('alice')!.states, { [two.connectionId!]: { userId: 'alice', typing: false } });
});

test('join: false watches the room without joining it: others are grouped, nothing is sent', { timeout: 10_000 }, async (t) => {
  const { url, server } = await startServer(t);
  const rec = recordingWebSocket();
  const watcher = makeClient(t, url, { WebSocket: rec.ctor });
  const bob = track(t, makeClient(t, url), 'room');
  await bob.handle.ready;
  await bob.handle.publish({ userId: 'bob' });
  const watching = track(t, watcher, 'room', { join: false });
  assert.deepEqual(await watching.handle.ready, { success: true });
  await watching.wait((users) => users.length === 1 && users[0]!.id === 'bob');
  assert.equal(watching.user('bob')!.self, false);
  assert.equal(await watching.handle.publish({ userId: 'watcher' }), false, 'publish sends nothing');
  assert.equal(await watching.handle.clear(), false, 'clear sends nothing');
  assert.deepEqual(watching.handle.read(), null);
  assert.deepEqual(watcher.joinedRooms, []);
  const commands = rec.sent.map((f) => f.command);
  for (const command of ['mesh/join-room', 'mesh/publish-presence-state', 'mesh/clear-presence-state']) {
    assert.ok(!commands.includes(command), `no ${command}: ${commands.join(', ')}`);
  }
  assert.equal((await server.getPresence('room')).present.length, 1, 'only bob is in the room');
  // it follows leaves too (after the grace)
  await bob.handle.dispose();
  await watching.wait((users) => users.length === 0, 3000, 'bob gone');
});

test('a publish before ready goes out once, with the start; a superseded state is not sent', { timeout: 10_000 }, async (t) => {
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { WebSocket: rec.ctor });
  const observer = track(t, makeClient(t, url), 'room');
  await observer.handle.ready;
  const me = track(t, client, 'room');
  const first = me.handle.publish({ userId: 'me', status: 'one' });
  const second = me.handle.publish({ userId: 'me', status: 'two' });
  assert.deepEqual(await Promise.all([me.handle.ready, first, second]), [{ success: true }, true, true]);
  await observer.wait((users) => users.some((u) => u.id === 'me' && u.state?.status === 'two'));
  const published = rec.sent.filter((f) => f.command === 'mesh/publish-presence-state').map((f) => f.payload.state.status);
  assert.deepEqual(published, ['two'], 'the latest state only, once');
  const subscribeAt = rec.sent.findIndex((f) => f.command === 'mesh/subscribe-presence');
  const publishAt = rec.sent.findIndex((f) => f.command === 'mesh/publish-presence-state');
  assert.ok(publishAt >= 0 && publishAt < subscribeAt, 'published before subscribing, so that it is in the first snapshot');
});

test('server-trusted metadata userId groups before state.userId; stateIdentifier replaces the default', async (t) => {
  const { url } = await startServer(t, { authenticate: (_req, { token }) => (token ? { userId: token } : {}) });
  const one = track(t, makeClient(t, url, { token: 'u1' }), 'room');
  const two = track(t, makeClient(t, url, { token: 'u1' }), 'room');
  const anon = track(t, makeClient(t, url), 'room', {
    stateIdentifier: (state) => (state?.email as string | undefined) ?? null,
  });
  await Promise.all([one, two, anon].map((r) => r.handle.ready));
  await one.handle.publish({ userId: 'claims-x' });
  await two.handle.publish({ userId: 'claims-y' });
  await anon.handle.publish({ email: 'e@example.com', userId: 'ignored' });
  await anon.wait((users) => users.length === 2 && users.some((u) => u.id === 'e@example.com'));
  assert.deepEqual(summary(anon.latest).sort(), [
    ['e@example.com', 1],
    ['u1', 2],
  ]);
  assert.deepEqual(anon.user('u1')!.metadata, { userId: 'u1' });
});

test('onUpdate is called once for the initial snapshot of several users', async (t) => {
  const { url } = await startServer(t);
  for (const name of ['a', 'b', 'c']) {
    const client = makeClient(t, url);
    await client.joinRoom('room');
    await client.publishPresenceState('room', { state: { userId: name } });
  }
  const observer = track(t, makeClient(t, url), 'room');
  assert.deepEqual(await observer.handle.ready, { success: true });
  await quiet(30);
  assert.equal(observer.calls.length, 1);
  assert.deepEqual(summary(observer.calls[0]!), [
    ['a', 1],
    ['b', 1],
    ['c', 1],
  ]);
  assert.deepEqual(observer.handle.users(), observer.calls[0]);
});

test('a reload within the leave grace shows no leave and no join', async (t) => {
  const { url } = await startServer(t);
  const observer = track(t, makeClient(t, url), 'room', { leaveGrace: 400 });
  await observer.handle.ready;
  await observer.handle.publish({ userId: 'olga' });
  const tab = makeClient(t, url);
  const alice = track(t, tab, 'room');
  await alice.handle.publish({ userId: 'alice', status: 'v1' });
  await observer.wait((users) => users.some((u) => u.id === 'alice'));
  const from = observer.calls.length - 1;

  await tab.close(); // the page unloads…
  const reloaded = track(t, makeClient(t, url), 'room'); // …and comes back
  await reloaded.handle.ready;
  await reloaded.handle.publish({ userId: 'alice', status: 'v2' });
  await observer.wait((users) => users.find((u) => u.id === 'alice')?.state?.status === 'v2');
  await quiet(500); // past the grace: the old connection must not drop out now

  for (const users of observer.calls.slice(from)) {
    assert.deepEqual(users.map((u) => u.id).sort(), ['alice', 'olga'], 'nobody left, nobody extra');
    assert.equal(users.find((u) => u.id === 'alice')!.tabCount, 1);
  }
});

test('after the leave grace the user is gone, not before', async (t) => {
  const { url } = await startServer(t);
  const grace = 250;
  const observer = track(t, makeClient(t, url), 'room', { leaveGrace: grace });
  await observer.handle.ready;
  const tab = makeClient(t, url);
  const alice = track(t, tab, 'room');
  await alice.handle.publish({ userId: 'alice' });
  await observer.wait((users) => users.some((u) => u.id === 'alice'));
  const closedAt = Date.now();
  await tab.close();
  await observer.wait((users) => !users.some((u) => u.id === 'alice'), 2000, 'alice gone');
  const goneAt = observer.times.at(-1)!;
  assert.ok(goneAt - closedAt >= grace - 20, `left after ${goneAt - closedAt} ms, grace ${grace}`);
  assert.ok(goneAt - closedAt < grace + 500, 'gone soon after the grace');
});

test('without localStorage (Node) the state lives in memory; read() returns it', async (t) => {
  assert.equal(typeof (globalThis as { localStorage?: unknown }).localStorage, 'undefined');
  const { url } = await startServer(t);
  const me = track(t, makeClient(t, url), 'room', { storageKey: `k-${Math.random()}` });
  assert.equal(me.handle.read(), null);
  assert.equal(await me.handle.publish({ userId: 'me', status: 'x' }), true);
  assert.deepEqual(me.handle.read(), { userId: 'me', status: 'x' });
  assert.equal(await me.handle.clear(), true);
  assert.equal(me.handle.read(), null);
});

test('with localStorage the stored state is read and published at start, and kept up to date', async (t) => {
  const items = new Map<string, string>();
  const storage = {
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => void items.set(k, String(v)),
    removeItem: (k: string) => void items.delete(k),
  };
  const g = globalThis as { localStorage?: unknown };
  g.localStorage = storage;
  t.after(() => {
    delete g.localStorage;
  });
  const key = `user-state-${Math.random()}`;
  items.set(key, JSON.stringify({ userId: 'alice', status: 'stored' }));
  const { url } = await startServer(t);
  const observer = track(t, makeClient(t, url), 'room');
  const me = track(t, makeClient(t, url), 'room', { storageKey: key });
  assert.deepEqual(me.handle.read(), { userId: 'alice', status: 'stored' });
  await observer.wait((users) => users.some((u) => u.id === 'alice' && u.state?.status === 'stored'));
  await me.handle.publish({ userId: 'alice', status: 'new' });
  assert.deepEqual(JSON.parse(items.get(key)!), { userId: 'alice', status: 'new' });
  await me.handle.clear();
  assert.equal(items.has(key), false);
});

test('cross-tab: a change in one tab is followed by the other with one publish each, no echo', async (t) => {
  const { url } = await startServer(t);
  const key = `tabs-${Math.random()}`;
  const rec1 = recordingWebSocket();
  const rec2 = recordingWebSocket();
  const tab1 = track(t, makeClient(t, url, { WebSocket: rec1.ctor }), 'room', { storageKey: key });
  const tab2Client = makeClient(t, url, { WebSocket: rec2.ctor });
  const tab2 = track(t, tab2Client, 'room', { storageKey: key });
  const observer = track(t, makeClient(t, url), 'room');
  await Promise.all([tab1.handle.ready, tab2.handle.ready, observer.handle.ready]);

  await tab1.handle.publish({ userId: 'alice', status: 'busy' });
  await until(
    () => observer.calls.length > 0 && tab2Client.presenceSnapshot('room')?.states[tab2Client.connectionId!]?.status === 'busy',
    2000,
    'tab 2 follows',
  );
  const others = (users: PresenceUser<State>[]): PresenceUser<State>[] => users.filter((u) => !u.self);
  await observer.wait((users) => others(users).length === 1 && others(users)[0]!.tabCount === 2 && others(users)[0]!.state?.status === 'busy');
  await quiet(100);
  const publishes = (sent: typeof rec1.sent): number => sent.filter((f) => f.command === 'mesh/publish-presence-state').length;
  assert.equal(publishes(rec1.sent), 1);
  assert.equal(publishes(rec2.sent), 1);
  assert.deepEqual(tab2.handle.read(), { userId: 'alice', status: 'busy' });

  await tab2.handle.clear();
  // keyed by state.userId: without a state both tabs are anonymous connections again
  await observer.wait(
    (users) => others(users).length === 2 && others(users).every((u) => u.state === null && u.id !== 'alice'),
    2000,
    'cleared in both tabs',
  );
  await quiet(50);
  const clears = (sent: typeof rec1.sent): number => sent.filter((f) => f.command === 'mesh/clear-presence-state').length;
  assert.equal(clears(rec1.sent), 1);
  assert.equal(clears(rec2.sent), 1);
});

test('dispose releases the room; another handle on the same client and room keeps working', async (t) => {
  const { url, server } = await startServer(t);
  const client = makeClient(t, url);
  const first = track(t, client, 'room');
  const second = track(t, client, 'room');
  await Promise.all([first.handle.ready, second.handle.ready]);
  await first.handle.publish({ userId: 'me' });
  await first.handle.dispose();

  const other = makeClient(t, url);
  await other.joinRoom('room');
  await other.publishPresenceState('room', { state: { userId: 'other' } });
  await second.wait((users) => users.some((u) => u.id === 'other'));
  assert.ok((await server.getPresence('room')).present.includes(client.connectionId!), 'still joined for the second handle');
  const firstCalls = first.calls.length;

  await second.handle.dispose();
  await until(() => !client.joinedRooms.includes('room'), 1000, 'room left');
  assert.ok(!(await server.getPresence('room')).present.includes(client.connectionId!));
  assert.deepEqual(client.subscribedRooms, []);
  assert.equal(first.calls.length, firstCalls, 'a disposed handle reports nothing');
  await assert.rejects(first.handle.publish({ userId: 'me' }), (e: Error & { code?: string }) => e.code === 'ECLOSED');
});

test('server restart: users stay listed (grace covers the gap) and states come back', async (t) => {
  const { server, url } = await startServer(t);
  const port = Number(new URL(url).port);
  const observerClient = makeClient(t, url);
  const aliceRec = recordingWebSocket();
  const aliceClient = makeClient(t, url, { WebSocket: aliceRec.ctor });
  const observer = track(t, observerClient, 'room', { leaveGrace: 1500 });
  const alice = track(t, aliceClient, 'room');
  await Promise.all([observer.handle.ready, alice.handle.ready]);
  await observer.handle.publish({ userId: 'olga' });
  await alice.handle.publish({ userId: 'alice', status: 'here' });
  await observer.wait((users) => users.length === 2);
  const from = observer.calls.length - 1;
  const oldIds = observer.latest.flatMap((u) => u.connections);

  await server.close();
  const server2 = createPresenceServer({ logger: silentLogger });
  t.after(() => server2.close());
  await server2.listen(port, '127.0.0.1');
  await until(() => (server2.connectionCount ?? 0) === 2, 3000, 'both reconnected');
  await until(
    () =>
      JSON.stringify(observer.user('alice')?.connections) === JSON.stringify([aliceClient.connectionId]) &&
      JSON.stringify(observer.user('olga')?.connections) === JSON.stringify([observerClient.connectionId]),
    3000,
    'old connections replaced by the new ones',
  );
  assert.ok(!oldIds.includes(aliceClient.connectionId!), 'alice has a new connection id');
  await quiet(50);
  for (const users of observer.calls.slice(from)) {
    assert.deepEqual(users.map((u) => u.id).sort(), ['alice', 'olga']);
    assert.equal(users.find((u) => u.id === 'alice')!.state?.status, 'here');
  }
  const publishes = aliceRec.sent.filter((f) => f.command === 'mesh/publish-presence-state');
  assert.equal(publishes.length, 2, 'published once, restored once by the client: no double send');
  const states = (await server2.getPresence('room')).states;
  assert.deepEqual(Object.values(states).map((s) => s.userId).sort(), ['alice', 'olga']);
});

test('invalid options throw; publish of a non-object rejects', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const code = (e: Error & { code?: string }): boolean => e.code === 'EINVALID';
  assert.throws(() => createPresence({ client, room: '', onUpdate: () => {} }), code);
  assert.throws(() => createPresence({ client, room: 'r', onUpdate: undefined as never }), code);
  assert.throws(() => createPresence({ client: {} as MeshClient, room: 'r', onUpdate: () => {} }), code);
  const handle = createPresence({ client, room: 'r', onUpdate: () => {} });
  t.after(() => handle.dispose());
  await assert.rejects(handle.publish([] as never), code);
});

test('without BroadcastChannel, storage events of other tabs are followed', async (t) => {
  const g = globalThis as any;
  const saved = g.BroadcastChannel;
  delete g.BroadcastChannel;
  const win = new EventTarget();
  g.window = win;
  t.after(() => {
    g.BroadcastChannel = saved;
    delete g.window;
  });
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { WebSocket: rec.ctor });
  const key = `fallback-${Math.random()}`;
  const me = track(t, client, 'room', { storageKey: key });
  await me.handle.ready;
  // another tab wrote the shared key
  win.dispatchEvent(Object.assign(new Event('storage'), { key, newValue: JSON.stringify({ userId: 'alice', status: 'from-tab-2' }) }));
  win.dispatchEvent(Object.assign(new Event('storage'), { key: 'unrelated', newValue: '{}' }));
  await me.wait((users) => users.some((u) => u.id === 'alice' && u.state?.status === 'from-tab-2'));
  assert.deepEqual(me.handle.read(), { userId: 'alice', status: 'from-tab-2' });
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/publish-presence-state').length, 1);
});

test('the client closing while createPresence waits for its watch leaves no unhandled rejection', async (t) => {
  const items = new Map<string, string>([['stored-state', JSON.stringify({ userId: 'alice' })]]);
  const g = globalThis as { localStorage?: unknown };
  g.localStorage = {
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => void items.set(k, String(v)),
    removeItem: (k: string) => void items.delete(k),
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => {
    delete g.localStorage;
    process.off('unhandledRejection', onUnhandled);
  });
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  // the client closes right after the join: the stored state's publish and the watch both fail
  const join = client.joinRoom.bind(client);
  client.joinRoom = async (room, callback) => {
    const result = await join(room, callback);
    void client.close();
    return result;
  };
  const handle = createPresence({ client, room: 'room', storageKey: 'stored-state', onUpdate: () => {} });
  t.after(() => handle.dispose());
  const ready = await handle.ready;
  assert.equal(ready.success, false);
  assert.equal(ready.error?.code, 'ECLOSED');
  await new Promise((resolve) => setImmediate(resolve));
  await quiet(10);
  assert.deepEqual(unhandled, []);
});

test("another tab's state adopted before ready does not overwrite this tab's later publish", { timeout: 10_000 }, async (t) => {
  let slowJoin = false;
  const { server, url } = await startServer(t, {
    track: [
      [
        'room',
        {
          guard: async () => {
            if (slowJoin) {
              slowJoin = false;
              await quiet(200); // this tab's join is slow: both changes below come before it returns
            }
            return true;
          },
        },
      ],
    ],
  });
  const key = `adopt-${Math.random()}`;
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { WebSocket: rec.ctor });
  await client.connect();
  slowJoin = true;
  const me = track(t, client, 'room', { storageKey: key });
  const otherTab = new BroadcastChannel(`mesh-presence:${key}`);
  t.after(() => otherTab.close());
  otherTab.postMessage({ source: 'other-tab', room: 'room', connectionId: 'elsewhere', state: { status: 'X' } });
  await until(() => me.handle.read()?.status === 'X', 2000, 'the other tab’s state adopted');
  const mine = me.handle.publish({ status: 'Y' });
  assert.deepEqual(await me.handle.ready, { success: true });
  assert.equal(await mine, true);
  await quiet(100); // a stale publish of X would be on its way
  const sent = rec.sent.filter((f) => f.command === 'mesh/publish-presence-state').map((f) => f.payload.state.status);
  assert.deepEqual(sent, ['Y'], 'only the latest state is sent');
  assert.deepEqual((await server.getPresence('room')).states[client.connectionId!], { status: 'Y' });
  assert.deepEqual(me.handle.read(), { status: 'Y' });
});

test('publish(A), clear(), publish(A) of one object before ready: the server ends with A', { timeout: 10_000 }, async (t) => {
  const { server, url } = await startServer(t);
  const client = makeClient(t, url);
  const me = track(t, client, 'room');
  const a = { status: 'A' };
  assert.deepEqual(await Promise.all([me.handle.publish(a), me.handle.clear(), me.handle.publish(a)]), [true, true, true]);
  assert.deepEqual(me.handle.read(), a);
  assert.deepEqual((await server.getPresence('room')).states[client.connectionId!], a, 'the server holds what the handle reports');
});
