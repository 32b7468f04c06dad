import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore, type RoomSnapshot } from '../../src/server/index.js';
import { connectRaw, type RawClient, type RawFrame } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { quiet } from '../helpers/time.js';

type T = { after(fn: () => unknown): void };

async function clients(t: T, url: string, n: number): Promise<RawClient[]> {
  const list = await Promise.all(Array.from({ length: n }, () => connectRaw(url)));
  for (const c of list) t.after(() => c.close());
  return list;
}

const isUpdate =
  (type: string, connectionId: string, roomName?: string) =>
  (f: RawFrame): boolean =>
    f.command === 'mesh/presence-update' &&
    f.payload.type === type &&
    f.payload.connectionId === connectionId &&
    (roomName === undefined || f.payload.roomName === roomName);

/** Bounded wait for "nothing else happens" checks. */
describe('connection life', () => {
  test('assign-id comes first, ids are unique and url-safe', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    assert.equal(a!.frames[0]!.command, 'mesh/assign-id');
    assert.equal(a!.frames[0]!.id, undefined);
    assert.match(a!.id, /^[A-Za-z0-9_-]{16,}$/);
    assert.notEqual(a!.id, b!.id);
  });

  test('mesh/noop answers true', async (t) => {
    const { url } = await startServer(t);
    const [a] = await clients(t, url, 1);
    assert.equal(await a!.request('mesh/noop'), true);
  });

  test('connectionCount follows sockets', async (t) => {
    const { server, url } = await startServer(t);
    const [a] = await clients(t, url, 1);
    assert.equal(server.connectionCount, 1);
    await a!.close();
    // the server sees the close a moment later
    for (let i = 0; i < 50 && server.connectionCount > 0; i++) await quiet(10);
    assert.equal(server.connectionCount, 0);
  });
});

describe('rooms and presence', () => {
  test('join answers ids with metadata alongside; subscribers get join with metadata', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    assert.deepEqual(await a!.request('mesh/subscribe-presence', { roomName: 'lobby' }), {
      success: true,
      present: [],
      states: {},
      metadata: {},
    });
    assert.deepEqual(await a!.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } }), {
      success: true,
    });
    const joinA = await a!.request('mesh/join-room', { roomName: 'lobby' });
    assert.deepEqual(joinA, { success: true, present: [a!.id], metadata: { [a!.id]: { name: 'Ann' } } });
    const own = await a!.waitFor(isUpdate('join', a!.id));
    assert.deepEqual(own.payload.metadata, { name: 'Ann' });
    assert.equal(typeof own.payload.timestamp, 'number');

    const joinB = await b!.request('mesh/join-room', { roomName: 'lobby' });
    assert.deepEqual(joinB.present, [a!.id, b!.id]);
    assert.deepEqual(joinB.metadata, { [a!.id]: { name: 'Ann' }, [b!.id]: null });
    const other = await a!.waitFor(isUpdate('join', b!.id));
    assert.equal(other.payload.metadata, null);
    assert.equal(other.payload.roomName, 'lobby');
  });

  test('three clients see each other join, publish and leave, in order', async (t) => {
    const { url } = await startServer(t);
    const [a, b, c] = await clients(t, url, 3);
    for (const x of [a!, b!, c!]) {
      assert.equal((await x.request('mesh/subscribe-presence', { roomName: 'r' })).success, true);
    }
    for (const x of [a!, b!, c!]) await x.request('mesh/join-room', { roomName: 'r' });
    for (const x of [a!, b!, c!]) {
      assert.equal(await x.request('mesh/publish-presence-state', { roomName: 'r', state: { who: x.id } }), true);
    }
    assert.deepEqual(await c!.request('mesh/leave-room', { roomName: 'r' }), { success: true });
    for (const watcher of [a!, b!]) {
      await watcher.waitFor(isUpdate('leave', c!.id));
      for (const member of [a!, b!, c!]) {
        const events = watcher.updates('r').filter((u) => u.connectionId === member.id);
        const types = events.map((u) => u.type);
        assert.deepEqual(types, member === c ? ['join', 'state', 'leave'] : ['join', 'state']);
        assert.deepEqual(events[1].state, { who: member.id });
      }
    }
    const snapshot = await a!.request('mesh/get-presence-state', { roomName: 'r' });
    assert.deepEqual(snapshot.present, [a!.id, b!.id]);
    assert.deepEqual(snapshot.states, { [a!.id]: { who: a!.id }, [b!.id]: { who: b!.id } });
    assert.equal(snapshot.success, true);
  });

  test('subscribe answers the states present at that time', async (t) => {
    const { url } = await startServer(t);
    const [a, b, c] = await clients(t, url, 3);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/join-room', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { status: 'typing' } });
    await b!.request('mesh/publish-presence-state', { roomName: 'r', state: { status: 'away' } });
    const sub = await c!.request('mesh/subscribe-presence', { roomName: 'r' });
    assert.deepEqual(sub.present, [a!.id, b!.id]);
    assert.deepEqual(sub.states, { [a!.id]: { status: 'typing' }, [b!.id]: { status: 'away' } });
    assert.deepEqual(sub.metadata, { [a!.id]: null, [b!.id]: null });
    await quiet(50);
    assert.deepEqual(c!.updates(), [], 'no replay of earlier events after the snapshot');
  });

  test('a new state replaces the previous one whole; silent stores without notifying', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { x: 1, y: 2 } });
    assert.equal(await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { z: 3 }, silent: true }), true);
    await b!.waitFor(isUpdate('state', a!.id));
    await quiet(50);
    assert.equal(b!.updates().filter((u) => u.type === 'state').length, 1);
    const snap = await b!.request('mesh/get-presence-state', { roomName: 'r' });
    assert.deepEqual(snap.states, { [a!.id]: { z: 3 } });
  });

  test('expireAfter clears the state and tells subscribers', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    const sent = Date.now();
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { typing: true }, expireAfter: 80 });
    const cleared = await b!.waitFor((f) => isUpdate('state', a!.id)(f) && f.payload.state === null, 2000);
    assert.ok(Date.now() - sent >= 70, 'not before its time');
    assert.equal(cleared.payload.state, null);
    assert.deepEqual((await b!.request('mesh/get-presence-state', { roomName: 'r' })).states, {});
  });

  test('a newer publish cancels the previous expireAfter', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { v: 1 }, expireAfter: 40 });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { v: 2 } });
    await quiet(120);
    assert.deepEqual(
      b!.updates().filter((u) => u.type === 'state').map((u) => u.state),
      [{ v: 1 }, { v: 2 }],
    );
    assert.deepEqual((await b!.request('mesh/get-presence-state', { roomName: 'r' })).states, { [a!.id]: { v: 2 } });
  });

  test('clear removes the state and notifies with state null', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 1 } });
    assert.equal(await a!.request('mesh/clear-presence-state', { roomName: 'r' }), true);
    const cleared = await b!.waitFor((f) => isUpdate('state', a!.id)(f) && f.payload.state === null);
    assert.equal(cleared.payload.roomName, 'r');
    assert.deepEqual((await b!.request('mesh/get-presence-state', { roomName: 'r' })).states, {});
  });

  test('publish and clear without joining answer false (Mesh-compatible)', async (t) => {
    const { url } = await startServer(t);
    const [a] = await clients(t, url, 1);
    assert.equal(await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 1 } }), false);
    assert.equal(await a!.request('mesh/clear-presence-state', { roomName: 'r' }), false);
  });

  test('unsubscribe stops events, and answers false when not subscribed', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.waitFor(isUpdate('join', a!.id));
    assert.equal(await b!.request('mesh/unsubscribe-presence', { roomName: 'r' }), true);
    assert.equal(await b!.request('mesh/unsubscribe-presence', { roomName: 'r' }), false);
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 1 } });
    await a!.request('mesh/leave-room', { roomName: 'r' });
    await quiet(50);
    assert.deepEqual(b!.updates().map((u) => u.type), ['join']);
  });

  test('closing the socket removes the member and its state: leave', async (t) => {
    const { server, url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 1 } });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.close();
    await b!.waitFor(isUpdate('leave', a!.id));
    assert.deepEqual(await server.getPresence('r'), { present: [], states: {}, metadata: {} });
  });

  test('rooms are isolated from each other', async (t) => {
    const { url } = await startServer(t);
    const [a, b, c] = await clients(t, url, 3);
    await b!.request('mesh/subscribe-presence', { roomName: 'one' });
    await c!.request('mesh/subscribe-presence', { roomName: 'two' });
    await a!.request('mesh/join-room', { roomName: 'one' });
    await a!.request('mesh/publish-presence-state', { roomName: 'one', state: { here: 1 } });
    await b!.waitFor(isUpdate('state', a!.id, 'one'));
    await quiet(50);
    assert.deepEqual(c!.updates(), []);
    assert.deepEqual((await c!.request('mesh/get-presence-state', { roomName: 'two' })).present, []);
    assert.equal(await a!.request('mesh/publish-presence-state', { roomName: 'two', state: { s: 1 } }), false);
  });

  test('joining twice is idempotent: one member, one join event', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.request('mesh/join-room', { roomName: 'r' });
    const again = await a!.request('mesh/join-room', { roomName: 'r' });
    assert.deepEqual(again.present, [a!.id]);
    await quiet(50);
    assert.equal(b!.updates().filter((u) => u.type === 'join').length, 1);
  });

  test('refresh-presence: true in a joined room, false elsewhere', async (t) => {
    const { url } = await startServer(t);
    const [a] = await clients(t, url, 1);
    await a!.request('mesh/join-room', { roomName: 'r' });
    assert.equal(await a!.request('mesh/refresh-presence', { roomName: 'r' }), true);
    assert.equal(await a!.request('mesh/refresh-presence', { roomName: 'other' }), false);
  });

  test('a ttl removes a member that stops refreshing; refresh-presence keeps it', async (t) => {
    // pings far apart, so that only refresh-presence can keep the member alive
    const { url } = await startServer(t, { track: [[/^ttl:/, { ttl: 150 }]], pingInterval: 60_000 });
    const [a, b, w] = await clients(t, url, 3);
    await w!.request('mesh/subscribe-presence', { roomName: 'ttl:r' });
    await a!.request('mesh/join-room', { roomName: 'ttl:r' });
    await b!.request('mesh/join-room', { roomName: 'ttl:r' });
    const timer = setInterval(() => void b!.request('mesh/refresh-presence', { roomName: 'ttl:r' }), 40);
    t.after(() => clearInterval(timer));
    await w!.waitFor(isUpdate('leave', a!.id), 2000);
    assert.equal(await a!.request('mesh/publish-presence-state', { roomName: 'ttl:r', state: { s: 1 } }), false);
    await quiet(200);
    clearInterval(timer);
    assert.deepEqual((await w!.request('mesh/get-presence-state', { roomName: 'ttl:r' })).present, [b!.id]);
  });

  test('server API: getPresence, onJoin, onLeave, setRoomMetadata', async (t) => {
    const { server, url } = await startServer(t);
    const joins: unknown[] = [];
    const leaves: unknown[] = [];
    const offJoin = server.onJoin((e) => joins.push(e));
    server.onLeave((e) => leaves.push(e));
    const [a] = await clients(t, url, 1);
    await a!.request('mesh/set-my-connection-metadata', { metadata: { n: 1 } });
    await a!.request('mesh/join-room', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 1 } });
    assert.deepEqual(await server.getPresence('r'), {
      present: [a!.id],
      states: { [a!.id]: { s: 1 } },
      metadata: { [a!.id]: { n: 1 } },
    });
    assert.deepEqual(joins, [{ roomName: 'r', connectionId: a!.id, metadata: { n: 1 } }]);
    offJoin();
    await a!.request('mesh/leave-room', { roomName: 'r' });
    await a!.request('mesh/join-room', { roomName: 'r' });
    assert.equal(joins.length, 1, 'unsubscribed hook is not called');
    assert.deepEqual(leaves, [{ roomName: 'r', connectionId: a!.id }]);

    assert.deepEqual(await a!.request('mesh/get-room-metadata', { roomName: 'r' }), { metadata: null });
    await server.setRoomMetadata('r', { topic: 'hello' });
    assert.deepEqual(await a!.request('mesh/get-room-metadata', { roomName: 'r' }), { metadata: { topic: 'hello' } });
  });

  test('a throwing onJoin hook does not break the join', async (t) => {
    const { server, url } = await startServer(t);
    server.onJoin(() => {
      throw new Error('boom');
    });
    const [a] = await clients(t, url, 1);
    assert.equal((await a!.request('mesh/join-room', { roomName: 'r' })).success, true);
  });
});

describe('connection metadata', () => {
  test('get-my, replace, merge and deepMerge', async (t) => {
    const { url } = await startServer(t);
    const [a] = await clients(t, url, 1);
    assert.deepEqual(await a!.request('mesh/get-my-connection-metadata'), { metadata: null });
    const set = (metadata: unknown, strategy?: string) =>
      a!.request('mesh/set-my-connection-metadata', strategy ? { metadata, options: { strategy } } : { metadata });
    assert.deepEqual(await set({ name: 'Ann', prefs: { theme: 'dark', lang: 'en' }, tags: [1, 2] }), { success: true });
    assert.deepEqual(await set({ avatar: 'a.png' }, 'merge'), { success: true });
    assert.deepEqual((await a!.request('mesh/get-my-connection-metadata')).metadata, {
      name: 'Ann',
      prefs: { theme: 'dark', lang: 'en' },
      tags: [1, 2],
      avatar: 'a.png',
    });
    await set({ prefs: { theme: 'light' }, tags: [3] }, 'deepMerge');
    assert.deepEqual((await a!.request('mesh/get-my-connection-metadata')).metadata, {
      name: 'Ann',
      prefs: { theme: 'light', lang: 'en' },
      tags: [3],
      avatar: 'a.png',
    });
    await set({ prefs: { theme: 'x' } }, 'merge');
    assert.deepEqual((await a!.request('mesh/get-my-connection-metadata')).metadata.prefs, { theme: 'x' });
    await set({ only: true });
    assert.deepEqual(await a!.request('mesh/get-my-connection-metadata'), { metadata: { only: true } });
    assert.deepEqual(await a!.request('mesh/get-connection-metadata', { connectionId: a!.id }), {
      metadata: { only: true },
    });
  });

  test('readable by room peers and subscribers only; unknown and invisible look alike', async (t) => {
    const { url } = await startServer(t);
    const [owner, peer, watcher, stranger] = await clients(t, url, 4);
    await owner!.request('mesh/set-my-connection-metadata', { metadata: { userId: 'u1' } });
    await owner!.request('mesh/join-room', { roomName: 'r' });
    const ask = (c: RawClient, id: string) => c.request('mesh/get-connection-metadata', { connectionId: id });
    assert.deepEqual(await ask(stranger!, owner!.id), { metadata: null });
    assert.deepEqual(await ask(stranger!, 'no-such-connection'), { metadata: null });
    await peer!.request('mesh/join-room', { roomName: 'r' });
    assert.deepEqual(await ask(peer!, owner!.id), { metadata: { userId: 'u1' } });
    await watcher!.request('mesh/subscribe-presence', { roomName: 'r' });
    assert.deepEqual(await ask(watcher!, owner!.id), { metadata: { userId: 'u1' } });
    // a stranger in another room still sees nothing
    await stranger!.request('mesh/join-room', { roomName: 'elsewhere' });
    assert.deepEqual(await ask(stranger!, owner!.id), { metadata: null });
    // once the owner left, the peer no longer shares a room with it
    await owner!.request('mesh/leave-room', { roomName: 'r' });
    assert.deepEqual(await ask(peer!, owner!.id), { metadata: null });
  });
});

describe('fan-out', () => {
  test('each event is serialised once whatever the number of subscribers', async (t) => {
    const { server, url } = await startServer(t);
    const [publisher, ...subscribers] = await clients(t, url, 6);
    for (const s of subscribers) await s.request('mesh/subscribe-presence', { roomName: 'r' });
    await publisher!.request('mesh/join-room', { roomName: 'r' });
    for (const s of subscribers) await s.waitFor(isUpdate('join', publisher!.id));
    const before = server.stats;
    await publisher!.request('mesh/publish-presence-state', { roomName: 'r', state: { n: 1 } });
    for (const s of subscribers) await s.waitFor(isUpdate('state', publisher!.id));
    const after = server.stats;
    assert.equal(after.events - before.events, 1);
    assert.equal(after.serializations - before.serializations, 1);
    assert.equal(after.framesSent - before.framesSent, subscribers.length);
  });

  test('events of a room nobody here subscribes to are not serialised', async (t) => {
    const { server, url } = await startServer(t);
    const [a] = await clients(t, url, 1);
    const before = server.stats.serializations;
    await a!.request('mesh/join-room', { roomName: 'quiet' });
    await a!.request('mesh/publish-presence-state', { roomName: 'quiet', state: { s: 1 } });
    assert.equal(server.stats.serializations, before);
  });

  test('many frames to one socket in one turn arrive complete and in order', async (t) => {
    const { url } = await startServer(t, { limits: { burst: 500, messagesPerSecond: 500 } });
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        a!.request('mesh/publish-presence-state', { roomName: 'r', state: { i } }),
      ),
    );
    assert.ok(replies.every((r) => r === true));
    await b!.waitFor((f) => isUpdate('state', a!.id)(f) && f.payload.state.i === 99);
    assert.deepEqual(
      b!.updates().filter((u) => u.type === 'state').map((u) => u.state.i),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  /**
   * A store whose snapshots take a while (as over a network): events that race with a
   * subscriber's snapshot reach it after its reply, once, and never twice.
   */
  class SlowSnapshotStore extends MemoryStore {
    gate: Promise<void> | undefined;
    takeAfterGate = false;
    override async snapshot(roomName: string): Promise<RoomSnapshot> {
      const gate = this.gate;
      if (!gate) return super.snapshot(roomName);
      if (this.takeAfterGate) {
        await gate;
        return super.snapshot(roomName);
      }
      const snap = await super.snapshot(roomName);
      await gate;
      return snap;
    }
  }

  for (const takeAfterGate of [false, true]) {
    test(`events racing a slow snapshot (${takeAfterGate ? 'included in it' : 'after it'}) arrive after the reply, exactly once`, async (t) => {
      const store = new SlowSnapshotStore();
      store.takeAfterGate = takeAfterGate;
      const { url } = await startServer(t, { store });
      t.after(() => store.close());
      const [a, b] = await clients(t, url, 2);
      await a!.request('mesh/join-room', { roomName: 'r' });
      let open!: () => void;
      store.gate = new Promise((resolve) => (open = resolve));
      const subscribed = b!.request('mesh/subscribe-presence', { roomName: 'r' });
      await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { n: 1 } });
      await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { n: 2 } });
      open();
      store.gate = undefined;
      const reply = await subscribed;
      await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { n: 3 } });
      await b!.waitFor((f) => f.payload?.state?.n === 3);
      const replyIndex = b!.frames.findIndex((f) => f.command === 'mesh/subscribe-presence');
      const states = b!.frames.filter((f) => f.payload?.type === 'state');
      assert.ok(states.every((f) => b!.frames.indexOf(f) > replyIndex), 'no event before the reply');
      if (takeAfterGate) {
        assert.deepEqual(reply.states, { [a!.id]: { n: 2 } });
        assert.deepEqual(states.map((f) => f.payload.state.n), [3]);
      } else {
        assert.deepEqual(reply.states, {});
        assert.deepEqual(states.map((f) => f.payload.state.n), [1, 2, 3]);
      }
    });
  }

  test('an event that waited for several slow snapshots, and went live to others, is serialised once', async (t) => {
    const store = new SlowSnapshotStore();
    const { server, url } = await startServer(t, { store });
    t.after(() => store.close());
    const [a, live, ...waiting] = await clients(t, url, 4);
    await a!.request('mesh/join-room', { roomName: 'r' });
    await live!.request('mesh/subscribe-presence', { roomName: 'r' });
    let open!: () => void;
    store.gate = new Promise((resolve) => (open = resolve));
    const subscribed = waiting.map((c) => c.request('mesh/subscribe-presence', { roomName: 'r' }));
    const before = server.stats;
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { n: 1 } });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { n: 2 } });
    open();
    store.gate = undefined;
    await Promise.all(subscribed);
    for (const c of [live!, ...waiting]) await c.waitFor((f) => f.payload?.state?.n === 2);
    const after = server.stats;
    assert.equal(after.events - before.events, 2);
    assert.equal(after.serializations - before.serializations, 2);
    assert.equal(after.framesSent - before.framesSent, 2 * 3);
  });
});

describe('command ordering', () => {
  // Requests sent back to back without awaiting: each must see the effect of the one before.
  // A slow guard makes the race wide enough to fail reliably without ordering.
  const slowGuard = async (): Promise<boolean> => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return true;
  };

  test('join + leave sent back to back leave no ghost member', async (t) => {
    const { server, url } = await startServer(t, { track: [[/.*/, { guard: slowGuard }]] });
    const [a] = await clients(t, url, 1);
    const [joined, left] = await Promise.all([
      a!.request('mesh/join-room', { roomName: 'z' }),
      a!.request('mesh/leave-room', { roomName: 'z' }),
    ]);
    assert.equal(joined.success, true);
    assert.deepEqual(left, { success: true });
    assert.deepEqual((await server.getPresence('z')).present, [], 'no ghost member');
  });

  test('join + publish sent back to back: the publish succeeds', async (t) => {
    const { server, url } = await startServer(t, { track: [[/.*/, { guard: slowGuard }]] });
    const [a] = await clients(t, url, 1);
    const [joined, published] = await Promise.all([
      a!.request('mesh/join-room', { roomName: 'r' }),
      a!.request('mesh/publish-presence-state', { roomName: 'r', state: { x: 1 } }),
    ]);
    assert.equal(joined.success, true);
    assert.equal(published, true);
    assert.deepEqual((await server.getPresence('r')).states, { [a!.id]: { x: 1 } });
  });

  test('subscribe + unsubscribe sent back to back leave no subscription', async (t) => {
    const { url } = await startServer(t, { track: [[/.*/, { guard: slowGuard }]] });
    const [a, b] = await clients(t, url, 2);
    const [subscribed, unsubscribed] = await Promise.all([
      a!.request('mesh/subscribe-presence', { roomName: 'q' }),
      a!.request('mesh/unsubscribe-presence', { roomName: 'q' }),
    ]);
    assert.equal(subscribed.success, true);
    assert.equal(unsubscribed, true);
    await b!.request('mesh/join-room', { roomName: 'q' });
    await quiet(50);
    assert.deepEqual(a!.updates('q'), [], 'no event after unsubscribing');
  });

  test('replies come in request order', async (t) => {
    const { url } = await startServer(t, { track: [[/.*/, { guard: slowGuard }]] });
    const [a] = await clients(t, url, 1);
    const from = a!.frames.length;
    await Promise.all([
      a!.request('mesh/join-room', { roomName: 'o' }),
      a!.request('mesh/noop'),
      a!.request('mesh/get-presence-state', { roomName: 'o' }),
    ]);
    const ids = a!.frames.slice(from).filter((f) => typeof f.id === 'number').map((f) => f.id);
    assert.deepEqual(ids, [1, 2, 3]);
  });
});
