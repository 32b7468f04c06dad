/**
 * What a reconnect restores, under pressure: many rooms against the server's rate limit,
 * restore requests that time out, connection metadata, stale pushes of a dead
 * connection, and the bookkeeping that must not grow with every room ever used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPresenceServer } from '../../src/server/index.js';
import type { MeshErrorEvent } from '../../src/client/node.js';
import { silentLogger, startServer } from '../helpers/server.js';
import { makeClient, nextEvent, quiet, recordingWebSocket, send, startScriptedPeer, until, Updates } from './helpers.js';

/**
 * Rate limits pinned so that a change of the server's defaults keeps the test meaningful:
 * the default rate (30/s) with a burst deliberately tighter than the default (120, not 150),
 * so that a restore that passes here passes under the default limits too.
 */
const TIGHT_RATE = { messagesPerSecond: 30, burst: 120, maxDroppedMessages: 200, floodWindowMs: 10_000, maxRoomsPerConnection: 100 };

test('50 rooms (joined, subscribed, with a state) all come back after a restart under a rate limit tighter than the default, no spurious leave', async (t) => {
  // the first server lets the test set up quickly; the restarted one has the tight limits
  const { server, url } = await startServer(t, { limits: { messagesPerSecond: 10_000, burst: 10_000 } });
  const port = Number(new URL(url).port);
  const rooms = Array.from({ length: 50 }, (_, i) => `room-${i}`);
  const a = makeClient(t, url, { requestTimeout: 5000 });
  const watcher = makeClient(t, url, { requestTimeout: 5000 });
  const errors: MeshErrorEvent[] = [];
  a.on('error', (e) => errors.push(e));
  const own = new Map(rooms.map((room) => [room, new Updates()]));
  const seen = new Map(rooms.map((room) => [room, new Updates()]));
  for (const room of rooms) {
    assert.equal((await a.joinRoom(room, own.get(room)!.callback)).success, true);
    assert.equal(await a.publishPresenceState(room, { state: { room } }), true);
    assert.equal((await watcher.subscribePresence(room, seen.get(room)!.callback)).success, true);
  }
  const oldA = a.connectionId!;
  const before = new Map(rooms.map((room) => [room, own.get(room)!.list.length]));

  const back = Promise.all([nextEvent(a, 'reconnect', 10_000), nextEvent(watcher, 'reconnect', 10_000)]);
  await server.close();
  const server2 = createPresenceServer({ logger: silentLogger, limits: TIGHT_RATE });
  t.after(() => server2.close());
  await server2.listen(port, '127.0.0.1');
  await back;
  const newA = a.connectionId!;
  assert.notEqual(newA, oldA);

  assert.deepEqual(a.joinedRooms.sort(), [...rooms].sort(), 'every room still joined');
  assert.deepEqual(a.subscribedRooms.sort(), [...rooms].sort(), 'every subscription kept');
  assert.deepEqual(watcher.subscribedRooms.sort(), [...rooms].sort());
  for (const room of rooms) {
    const truth = await server2.getPresence(room);
    assert.deepEqual(truth.present, [newA], `${room} rejoined`);
    assert.deepEqual(truth.states, { [newA]: { room } }, `${room} state restored`);
    // a's own callbacks: its old connection left, its new one joined with its state; nothing else
    const after = own.get(room)!.list.slice(before.get(room));
    const leaves = after.filter((u) => u.type === 'leave').map((u) => u.connectionId);
    assert.deepEqual(leaves, [oldA], `${room}: exactly one leave, of the old connection`);
    assert.deepEqual(a.presenceSnapshot(room), { present: [newA], states: { [newA]: { room } } });
    await seen.get(room)!.wait({ type: 'state', connectionId: newA, state: { room } }, 5000);
  }
  assert.deepEqual(
    errors.filter((e) => e.code !== 'ECONNECT'),
    [],
    'no error surfaced: rate-limited restore requests were retried, not reported',
  );
});

test('a restore request that times out is retried on the same connection, the room is kept', async (t) => {
  let subscribes = 0;
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      const reply = (payload: unknown): void => send(socket, { id: frame.id, command: frame.command, payload });
      if (frame.command === 'mesh/join-room') reply({ success: true, present: [] });
      if (frame.command === 'mesh/subscribe-presence') {
        subscribes++;
        // the first subscribe of the second connection (the restore) is never answered
        if (subscribes !== 2) reply({ success: true, present: [], states: {} });
      }
    },
  });
  const client = makeClient(t, peer.url, { requestTimeout: 150 });
  const updates = new Updates();
  assert.equal((await client.joinRoom('lobby', updates.callback)).success, true);
  const first = [...peer.sockets][0]!;
  const back = nextEvent(client, 'reconnect', 3000);
  first.terminate();
  await back;
  assert.equal(subscribes, 3, 'subscribed, timed out during the restore, retried');
  assert.deepEqual(client.subscribedRooms, ['lobby']);
  assert.deepEqual(client.joinedRooms, ['lobby']);
  assert.deepEqual(updates.of('leave'), []);
});

test('setConnectionMetadata is replayed on a new connection, before the rooms are rejoined, folded where exact', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      const reply = (payload: unknown): void => send(socket, { id: frame.id, command: frame.command, payload });
      if (frame.command === 'mesh/join-room') reply({ success: true, present: [] });
      if (frame.command === 'mesh/set-my-connection-metadata') reply({ success: true });
    },
  });
  const client = makeClient(t, peer.url);
  await client.joinRoom('lobby');
  assert.equal(await client.setConnectionMetadata({ name: 'Ann', prefs: { a: 1 } }), true);
  assert.equal(await client.setConnectionMetadata({ color: 'red' }, { strategy: 'merge' }), true);
  assert.equal(await client.setConnectionMetadata({ prefs: { b: 2 } }, { strategy: 'deepMerge' }), true);
  const first = [...peer.sockets][0]!;
  const firstFrames = peer.received.length;
  const back = nextEvent(client, 'reconnect', 3000);
  first.terminate();
  await back;
  const replayed = peer.received.slice(firstFrames).map((r) => r.frame).filter((f) => f.command !== 'pong');
  assert.deepEqual(
    replayed.map((f) => f.command),
    ['mesh/set-my-connection-metadata', 'mesh/join-room'],
    'the metadata goes out first, so the join announces it',
  );
  // replace, then merge, then deepMerge: one replace with the same result
  assert.deepEqual(replayed[0].payload, { metadata: { name: 'Ann', prefs: { a: 1, b: 2 }, color: 'red' } });
});

test('replayed metadata reaches the others after a server restart (our server)', async (t) => {
  const { server, url } = await startServer(t);
  const port = Number(new URL(url).port);
  const a = makeClient(t, url);
  const b = makeClient(t, url);
  assert.equal(await a.setConnectionMetadata({ name: 'Ann' }), true);
  assert.equal(await a.setConnectionMetadata({ role: 'admin' }, { strategy: 'merge' }), true);
  await a.joinRoom('lobby');
  const updates = new Updates();
  await b.subscribePresence('lobby', updates.callback);
  const back = Promise.all([nextEvent(a, 'reconnect', 5000), nextEvent(b, 'reconnect', 5000)]);
  await server.close();
  const server2 = createPresenceServer({ logger: silentLogger });
  t.after(() => server2.close());
  await server2.listen(port, '127.0.0.1');
  await back;
  assert.deepEqual(await a.getConnectionMetadata(), { name: 'Ann', role: 'admin' });
  await updates.wait({ type: 'join', connectionId: a.connectionId! });
  assert.deepEqual(await b.getConnectionMetadata(a.connectionId!), { name: 'Ann', role: 'admin' });
});

test('a subscription whose first reply was lost does not replay pushes of the old connection', async (t) => {
  let connection = 0;
  const peer = await startScriptedPeer(t, {
    onConnection: () => connection++,
    onFrame: (socket, frame) => {
      if (frame.command !== 'mesh/subscribe-presence') return;
      if (connection === 1) {
        // a push for the pending subscription, then the link dies before the reply
        send(socket, {
          command: 'mesh/presence-update',
          payload: { type: 'join', connectionId: 'ghost', roomName: 'lobby', timestamp: Date.now() },
        });
        setTimeout(() => socket.terminate(), 10);
      } else {
        send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: ['peer-1'], states: {} } });
      }
    },
  });
  const client = makeClient(t, peer.url);
  const updates = new Updates();
  const result = await client.subscribePresence('lobby', updates.callback);
  assert.deepEqual(result, { success: true, present: ['peer-1'], states: {} });
  await quiet(30);
  assert.deepEqual(updates.of('join', 'ghost'), [], 'the ghost of the old connection is not replayed');
  assert.deepEqual(client.presenceSnapshot('lobby')?.present, ['peer-1']);
});

test('the per-room operation map is pruned once a room is idle', async (t) => {
  const { url } = await startServer(t, { limits: { messagesPerSecond: 10_000, burst: 10_000 } });
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { refreshInterval: 30, WebSocket: rec.ctor });
  const ops = (client as unknown as { __roomOps: Map<string, unknown> }).__roomOps;
  for (let i = 0; i < 40; i++) {
    await client.joinRoom(`r-${i}`);
    if (i % 2 === 0) await client.leaveRoom(`r-${i}`);
  }
  assert.equal(client.joinedRooms.length, 20);
  // refreshes hold an entry only while they run
  const refreshes = (): number => rec.sent.filter((f) => f.command === 'mesh/refresh-presence').length;
  await until(() => refreshes() >= 40, 2000, 'two rounds of refreshes');
  await until(() => ops.size === 0, 1000, 'an empty map between refreshes');
  // concurrent join and leave of one room still resolve to the last call
  const join = client.joinRoom('x');
  const leave = client.leaveRoom('x');
  assert.equal(ops.get('x') !== undefined, true);
  await Promise.all([join, leave]);
  assert.equal(client.joinedRooms.includes('x'), false, 'the leave called last wins');
  await until(() => !ops.has('x'), 1000, 'x pruned');
});

test('restore against a flood limit: the client keeps under it (no 1008 close)', async (t) => {
  // a tight server: 20/s, burst 20, closes after 30 dropped messages in 10 s
  const { server, url } = await startServer(t, { limits: { messagesPerSecond: 10_000, burst: 10_000 } });
  const port = Number(new URL(url).port);
  const client = makeClient(t, url, { requestTimeout: 5000 });
  const rooms = Array.from({ length: 12 }, (_, i) => `r-${i}`);
  for (const room of rooms) {
    await client.joinRoom(room, () => {});
    await client.publishPresenceState(room, { state: { room } });
  }
  const disconnects: number[] = [];
  client.on('disconnect', (d) => disconnects.push(d.code));
  const back = nextEvent(client, 'reconnect', 10_000);
  await server.close();
  const server2 = createPresenceServer({
    logger: silentLogger,
    limits: { messagesPerSecond: 20, burst: 20, maxDroppedMessages: 30, floodWindowMs: 10_000 },
  });
  t.after(() => server2.close());
  await server2.listen(port, '127.0.0.1');
  await back;
  assert.deepEqual(disconnects, [1012], 'only the restart; never closed for flooding');
  for (const room of rooms) assert.deepEqual((await server2.getPresence(room)).states, { [client.connectionId!]: { room } });
});
