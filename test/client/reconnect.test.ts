/**
 * Connection loss: server restart on the same port with presence restored and
 * subscribers reconciled, 1012, backoff, silent sockets, giving up, tokens read afresh,
 * requests re-sent, and the browser page lifecycle (with a stand-in `window`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPresenceServer } from '../../src/server/index.js';
import type { MeshErrorEvent, PresenceUpdate } from '../../src/client/node.js';
import { backoffDelay } from '../../src/client/transport.js';
import { silentLogger, startServer } from '../helpers/server.js';
import { makeClient, nextEvent, quiet, recordingWebSocket, send, startScriptedPeer, until, Updates } from './helpers.js';

test('server restart on the same port: rooms, states and subscriptions come back, callbacks reconciled', async (t) => {
  const { server, url } = await startServer(t);
  const port = Number(new URL(url).port);
  const a = makeClient(t, url);
  const b = makeClient(t, url);
  const c = makeClient(t, url);
  const ua = new Updates();
  const initial = await a.joinRoom('lobby', ua.callback);
  await a.publishPresenceState('lobby', { state: { name: 'a' } });
  await b.joinRoom('lobby');
  await b.publishPresenceState('lobby', { state: { name: 'b' } });
  await c.joinRoom('lobby');
  await ua.wait({ type: 'join', connectionId: c.connectionId! });
  await ua.wait({ type: 'state', connectionId: b.connectionId!, state: { name: 'b' } });
  const [oldA, oldB, oldC] = [a.connectionId!, b.connectionId!, c.connectionId!];
  const before = ua.list.length;

  const back = Promise.all([nextEvent(a, 'reconnect', 5000), nextEvent(b, 'reconnect', 5000)]);
  const disconnected = nextEvent(a, 'disconnect');
  await server.close(); // 1012
  assert.equal((await disconnected).code, 1012);
  await c.close(); // c goes away for good while the server is down

  const server2 = createPresenceServer({ logger: silentLogger });
  t.after(() => server2.close());
  await server2.listen(port, '127.0.0.1');
  await back;
  const [newA, newB] = [a.connectionId!, b.connectionId!];
  assert.notEqual(newA, oldA);
  await ua.wait({ type: 'state', connectionId: newB, state: { name: 'b' } });
  await ua.wait({ type: 'state', connectionId: newA, state: { name: 'a' } });
  await quiet(30);

  const after = ua.list.slice(before);
  const count = (type: PresenceUpdate['type'], id: string): number => after.filter((u) => u.type === type && u.connectionId === id).length;
  for (const id of [oldA, oldB, oldC]) assert.equal(count('leave', id), 1, `one leave for ${id}`);
  for (const id of [newA, newB]) assert.equal(count('join', id), 1, `one join for ${id}`);
  // replaying every event the callback got, from the first snapshot, gives the server's truth
  const members = new Set(initial.present);
  for (const u of ua.list) {
    if (u.type === 'join') {
      assert.ok(!members.has(u.connectionId), `duplicate join of ${u.connectionId}`);
      members.add(u.connectionId);
    } else if (u.type === 'leave') {
      assert.ok(members.has(u.connectionId), `leave of a ghost ${u.connectionId}`);
      members.delete(u.connectionId);
    } else assert.ok(members.has(u.connectionId), `state of a ghost ${u.connectionId}`);
  }
  const truth = await server2.getPresence('lobby');
  assert.deepEqual([...members].sort(), [...truth.present].sort());
  assert.deepEqual([...members].sort(), [newA, newB].sort());
  assert.deepEqual(truth.states, { [newA]: { name: 'a' }, [newB]: { name: 'b' } });
  assert.deepEqual(a.presenceSnapshot('lobby')!.states, truth.states);
  assert.deepEqual([...a.presenceSnapshot('lobby')!.present].sort(), [newA, newB].sort());
});

test('backoff: min(2^n × minDelay, maxDelay), jittered to 50–100 %', () => {
  const low = () => 0;
  const high = () => 1;
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, 100, 10_000, high)), [100, 200, 400, 800]);
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, 100, 10_000, low)), [50, 100, 200, 400]);
  assert.equal(backoffDelay(7, 100, 10_000, high), 10_000, 'capped at maxDelay');
  assert.equal(backoffDelay(1_000, 100, 10_000, low), 5_000, 'no overflow for a large attempt count');
});

test('close code 1012 reconnects at once; another close code waits for the backoff', async (t) => {
  let closeWith = 1012;
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command === 'mesh/noop') {
        send(socket, { id: frame.id, command: frame.command, payload: true });
        setTimeout(() => socket.close(closeWith, 'bye'), 5);
      }
    },
  });
  const client = makeClient(t, peer.url, { reconnect: { minDelay: 2000, maxDelay: 4000 } });
  const statuses: string[] = [];
  client.on('status', (s) => statuses.push(s));
  await client.connect();
  const first = client.connectionId;
  const reconnected = nextEvent(client, 'reconnect', 1000);
  const started = Date.now();
  await client.request('mesh/noop');
  await reconnected;
  assert.ok(Date.now() - started < 500, 'no backoff after 1012');
  assert.notEqual(client.connectionId, first);
  assert.deepEqual(statuses, ['connecting', 'online', 'reconnecting', 'online']);

  closeWith = 4100;
  const disconnected = nextEvent(client, 'disconnect');
  await client.request('mesh/noop');
  assert.equal((await disconnected).code, 4100);
  await quiet(300);
  assert.equal(client.status, 'reconnecting', 'still waiting for the backoff (≥ 1 s)');
  assert.equal(peer.sockets.size, 0);
});

test('after 1012 the first attempt is jittered by up to 250 ms, so that a restart does not stampede', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command !== 'mesh/noop') return;
      send(socket, { id: frame.id, command: frame.command, payload: true });
      setTimeout(() => socket.close(1012, 'restart'), 5);
    },
  });
  const client = makeClient(t, peer.url, { reconnect: { minDelay: 2000, maxDelay: 4000 } });
  await client.connect();
  const random = Math.random;
  t.after(() => {
    Math.random = random;
  });
  Math.random = () => 0.999; // the far end of the spread
  const disconnected = nextEvent(client, 'disconnect');
  const reconnected = nextEvent(client, 'reconnect', 1000);
  await client.request('mesh/noop');
  await disconnected;
  const started = Date.now();
  await reconnected;
  Math.random = random;
  const took = Date.now() - started;
  assert.ok(took >= 200, `waited ${took} ms: the jitter applies`);
  assert.ok(took < 500, `waited ${took} ms: still no backoff`);
});

test('a socket silent for pingTimeout is dropped and replaced; a pinged one is kept', async (t) => {
  let pinging = false;
  const peer = await startScriptedPeer(t, {
    onConnection: (socket) => {
      const timer = setInterval(() => pinging && send(socket, { command: 'ping', payload: {} }), 20);
      socket.on('close', () => clearInterval(timer));
    },
  });
  const client = makeClient(t, peer.url, { pingTimeout: 100 });
  await client.connect();
  const disconnect = await nextEvent(client, 'disconnect', 1000);
  assert.equal(disconnect.code, 4001);
  pinging = true;
  await nextEvent(client, 'reconnect', 1000);
  const id = client.connectionId;
  await quiet(300);
  assert.equal(client.connectionId, id);
  assert.equal(client.status, 'online');
  assert.ok(peer.received.filter((r) => r.frame.command === 'pong').length >= 5);
});

test('maxAttempts exhausted: reconnectfailed, status offline, waiting calls fail with ECLOSED', async (t) => {
  const peer = await startScriptedPeer(t);
  const client = makeClient(t, peer.url, { reconnect: { minDelay: 5, maxDelay: 10, maxAttempts: 3 } });
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  await client.connect();
  const failed = nextEvent(client, 'reconnectfailed', 3000);
  await peer.close();
  const join = client.joinRoom('lobby'); // queued while reconnecting
  await failed;
  assert.equal(client.status, 'offline');
  const result = await join;
  assert.equal(result.success, false);
  assert.equal(result.error?.code, 'ECLOSED');
  assert.equal(errors.filter((e) => e.code === 'ECONNECT').length, 3, 'one error per failed attempt');
});

test('getToken is read afresh on every connection and sent as ?token=', async (t) => {
  const tokens: Array<string | null> = [];
  const peer = await startScriptedPeer(t, {
    onConnection: (socket, index, req) => {
      tokens.push(new URL(req.url ?? '/', 'ws://x').searchParams.get('token'));
      if (index === 0) setTimeout(() => socket.close(1012), 5);
    },
  });
  let n = 0;
  const client = makeClient(t, peer.url, { getToken: async () => `token-${++n}` });
  const reconnected = nextEvent(client, 'reconnect', 2000);
  await client.connect();
  await reconnected;
  assert.deepEqual(tokens, ['token-1', 'token-2']);
});

test('a request whose connection drops is sent again on the next one', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command !== 'mesh/join-room') return;
      if (peer.received.filter((r) => r.frame.command === 'mesh/join-room').length === 1) socket.terminate();
      else send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: ['x'] } });
    },
  });
  const client = makeClient(t, peer.url);
  const result = await client.joinRoom('lobby');
  assert.deepEqual(result, { success: true, present: ['x'] });
  assert.deepEqual(client.joinedRooms, ['lobby']);
  assert.equal(peer.received.filter((r) => r.frame.command === 'mesh/join-room').length, 2, 'not joined twice by the restore');
});

test('browser page lifecycle: pagehide leaves at once, pageshow (bfcache) restores, visibility probes', async (t) => {
  const g = globalThis as any;
  const win = new EventTarget();
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  g.window = win;
  g.document = doc;
  t.after(() => {
    delete g.window;
    delete g.document;
  });
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { WebSocket: rec.ctor });
  const watcher = makeClient(t, url, { pageLifecycle: false });
  const seen = new Updates();
  await watcher.subscribePresence('lobby', seen.callback);
  await client.joinRoom('lobby');
  await client.publishPresenceState('lobby', { state: { s: 1 } });
  const first = client.connectionId!;

  win.dispatchEvent(new Event('pagehide'));
  assert.equal(client.status, 'offline');
  await seen.wait({ type: 'leave', connectionId: first }, 1000);
  await quiet(50);
  assert.equal(client.status, 'offline', 'no reconnect while the page is hidden in the bfcache');

  win.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  await nextEvent(client, 'reconnect');
  const second = client.connectionId!;
  await seen.wait({ type: 'state', connectionId: second, state: { s: 1 } });

  doc.dispatchEvent(new Event('visibilitychange'));
  await until(() => rec.sent.some((f) => f.command === 'mesh/noop'), 1000, 'a noop probe');
  await quiet(50);
  assert.equal(client.connectionId, second, 'the probe was answered: same connection');
});

test('visible again and the probe is not answered: the client reconnects', async (t) => {
  const g = globalThis as any;
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  g.window = new EventTarget();
  g.document = doc;
  t.after(() => {
    delete g.window;
    delete g.document;
  });
  const peer = await startScriptedPeer(t); // answers nothing, like a half-dead link
  const client = makeClient(t, peer.url, { requestTimeout: 100 });
  await client.connect();
  const first = client.connectionId;
  const reconnected = nextEvent(client, 'reconnect', 2000);
  doc.dispatchEvent(new Event('visibilitychange'));
  const disconnect = await nextEvent(client, 'disconnect', 1000);
  assert.equal(disconnect.code, 4002);
  await reconnected;
  assert.notEqual(client.connectionId, first);
});
