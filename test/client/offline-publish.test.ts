/**
 * Publishing while the connection is down: the call replaces the state the client
 * remembers for the room instead of queueing a request, so that the reconnect publishes
 * only the latest state (never an older one first), and the call resolves with the
 * outcome of that restore, without timing out meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPresenceServer } from '../../src/server/index.js';
import type { MeshErrorEvent } from '../../src/client/node.js';
import { silentLogger, startServer } from '../helpers/server.js';
import { makeClient, nextEvent, quiet, recordingWebSocket, send, startScriptedPeer, until, Updates } from './helpers.js';

type Frame = { id?: number; command: string; payload?: any };
const publishes = (frames: Frame[]): unknown[] =>
  frames.filter((f) => f.command === 'mesh/publish-presence-state').map((f) => f.payload.state);

test('publishes made while the server is down: the reconnect publishes only the latest, and the calls resolve with it, without timing out', { timeout: 15_000 }, async (t) => {
  const { server, url } = await startServer(t);
  const port = Number(new URL(url).port);
  const rec = recordingWebSocket();
  const a = makeClient(t, url, { WebSocket: rec.ctor, requestTimeout: 300 });
  const b = makeClient(t, url);
  const errors: MeshErrorEvent[] = [];
  a.on('error', (e) => errors.push(e));
  await a.joinRoom('lobby');
  assert.equal(await a.publishPresenceState('lobby', { state: { v: 1 } }), true);
  const seen = new Updates();
  await b.subscribePresence('lobby', seen.callback);

  const down = nextEvent(a, 'disconnect');
  await server.close(); // 1012
  await down;
  const settled: boolean[] = [];
  const second = a.publishPresenceState('lobby', { state: { v: 2 } });
  const third = a.publishPresenceState('lobby', { state: { v: 3 } });
  void second.then(() => settled.push(true));
  void third.then(() => settled.push(true));
  await quiet(500); // longer than requestTimeout
  assert.deepEqual(settled, [], 'the calls wait for the reconnect instead of timing out');

  const sentBefore = rec.sent.length;
  const server2 = createPresenceServer({ logger: silentLogger });
  t.after(() => server2.close());
  const back = nextEvent(a, 'reconnect', 5000);
  await server2.listen(port, '127.0.0.1');
  await back;
  assert.deepEqual(await Promise.all([second, third]), [true, true]);
  await seen.wait({ type: 'state', connectionId: a.connectionId!, state: { v: 3 } }, 5000);
  await quiet(50);

  assert.deepEqual(publishes(rec.sent.slice(sentBefore)), [{ v: 3 }], 'one publish on the new connection: the latest');
  assert.deepEqual(
    seen.of('state', a.connectionId!).map((u) => u.state),
    [{ v: 3 }],
    'the others never see an older state of the new connection',
  );
  assert.deepEqual((await server2.getPresence('lobby')).states[a.connectionId!], { v: 3 });
  assert.deepEqual(errors.filter((e) => e.code === 'ETIMEOUT'), [], 'no timeouts');
});

test('a clear made while the server is down: the reconnect restores no state, and the clear resolves true', { timeout: 15_000 }, async (t) => {
  const { server, url } = await startServer(t);
  const port = Number(new URL(url).port);
  const rec = recordingWebSocket();
  const a = makeClient(t, url, { WebSocket: rec.ctor });
  await a.joinRoom('lobby');
  await a.publishPresenceState('lobby', { state: { v: 1 } });
  const down = nextEvent(a, 'disconnect');
  await server.close();
  await down;
  const cleared = a.clearPresenceState('lobby');
  const sentBefore = rec.sent.length;
  const server2 = createPresenceServer({ logger: silentLogger });
  t.after(() => server2.close());
  const back = nextEvent(a, 'reconnect', 5000);
  await server2.listen(port, '127.0.0.1');
  await back;
  assert.equal(await cleared, true);
  const after = rec.sent.slice(sentBefore).map((f) => f.command);
  assert.ok(after.includes('mesh/join-room'), `rejoined: ${after.join(', ')}`);
  assert.deepEqual(publishes(rec.sent.slice(sentBefore)), [], 'nothing republished');
  assert.ok(!after.includes('mesh/clear-presence-state'), 'no clear sent: the new connection has no state');
  assert.deepEqual((await server2.getPresence('lobby')).states, {});
});

test('a publish cut off by a dropped connection is restored as the latest state, not after the older one', { timeout: 10_000 }, async (t) => {
  let publishesOnFirst = 0;
  const sockets: unknown[] = [];
  const peer = await startScriptedPeer(t, {
    onConnection: (socket) => sockets.push(socket),
    onFrame: (socket, frame) => {
      if (frame.command === 'mesh/publish-presence-state' && socket === sockets[0] && ++publishesOnFirst === 2) {
        socket.terminate(); // the second publish never gets its reply
        return;
      }
      if (frame.command === 'mesh/join-room') send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: [] } });
      else if (frame.id !== undefined) send(socket, { id: frame.id, command: frame.command, payload: true });
    },
  });
  const client = makeClient(t, peer.url);
  await client.joinRoom('lobby');
  assert.equal(await client.publishPresenceState('lobby', { state: { v: 1 } }), true);
  const reconnected = nextEvent(client, 'reconnect', 3000);
  const cut = client.publishPresenceState('lobby', { state: { v: 2 } });
  await reconnected;
  assert.equal(await cut, true);
  await quiet(50);
  const second = sockets[1];
  assert.ok(second, 'a second connection');
  const restored = peer.received.filter((r) => r.socket === second && r.frame.command === 'mesh/publish-presence-state');
  assert.deepEqual(restored.map((r) => r.frame.payload.state), [{ v: 2 }], 'only the latest state on the new connection');
});

test('a publish while offline for a room the client has not joined is queued as before, and times out', { timeout: 10_000 }, async (t) => {
  const peer = await startScriptedPeer(t, { assignId: false });
  const client = makeClient(t, peer.url, { requestTimeout: 200 });
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  assert.equal(await client.publishPresenceState('lobby', { state: { v: 1 } }), false);
  await until(() => errors.some((e) => e.code === 'ETIMEOUT'), 1000, 'an ETIMEOUT error');
});

// ---- review of the offline publish (refusals, restores cut off, rooms left) ----------

const LIMITS = { maxStateBytes: 200 };
const tooBig = (tag: string): Record<string, string> => ({ tag, blob: 'x'.repeat(500) });

/** Stops `server` and returns a function that brings a new one up on the same port (once `a` reconnected). */
async function outage(t: { after(fn: () => unknown): void }, server: { close(): Promise<void> }, url: string, a: ReturnType<typeof makeClient>) {
  const port = Number(new URL(url).port);
  const down = nextEvent(a, 'disconnect');
  await server.close();
  await down;
  return async () => {
    const next = createPresenceServer({ logger: silentLogger, limits: LIMITS });
    t.after(() => next.close());
    const back = nextEvent(a, 'reconnect', 5000);
    await next.listen(port, '127.0.0.1');
    await back;
    return next;
  };
}

test('an offline publish the server refuses keeps the last accepted state on the server', { timeout: 15_000 }, async (t) => {
  const { server, url } = await startServer(t, { limits: LIMITS });
  const a = makeClient(t, url);
  const errors: MeshErrorEvent[] = [];
  a.on('error', (e) => errors.push(e));
  await a.joinRoom('lobby');
  assert.equal(await a.publishPresenceState('lobby', { state: { name: 'Ada' } }), true);
  const up = await outage(t, server, url, a);
  const refused = a.publishPresenceState('lobby', { state: tooBig('offline') });
  const server2 = await up();
  assert.equal(await refused, false, 'the refused state resolves false');
  assert.deepEqual(errors.map((e) => e.code), ['ETOOLARGE']);
  assert.deepEqual((await server2.getPresence('lobby')).states[a.connectionId!], { name: 'Ada' }, 'the good state is back on the server');
});

test('a refusal puts back the last accepted state, never an earlier refused one', { timeout: 15_000 }, async (t) => {
  const { server, url } = await startServer(t, { limits: LIMITS });
  const rec = recordingWebSocket();
  const a = makeClient(t, url, { WebSocket: rec.ctor });
  a.on('error', () => {});
  await a.joinRoom('lobby');
  assert.equal(await a.publishPresenceState('lobby', { state: { v: 0 } }), true);
  // two refused publishes in flight at once
  assert.deepEqual(
    await Promise.all([a.publishPresenceState('lobby', { state: tooBig('p1') }), a.publishPresenceState('lobby', { state: tooBig('p2') })]),
    [false, false],
  );
  const sentBefore = rec.sent.length;
  const up = await outage(t, server, url, a);
  const server2 = await up();
  await until(() => publishes(rec.sent.slice(sentBefore)).length > 0, 3000, 'a restore publish');
  assert.deepEqual(publishes(rec.sent.slice(sentBefore)), [{ v: 0 }], 'the restore sends the accepted state only');
  assert.deepEqual((await server2.getPresence('lobby')).states[a.connectionId!], { v: 0 });
});

test('a publish made during a restore that is cut off waits for the next connection, which restores it', { timeout: 15_000 }, async (t) => {
  const sockets: unknown[] = [];
  const peer = await startScriptedPeer(t, {
    onConnection: (socket) => sockets.push(socket),
    onFrame: (socket, frame) => {
      // the second connection's restore hangs on its rejoin
      if (socket === sockets[1] && frame.command === 'mesh/join-room') return;
      if (frame.command === 'mesh/join-room') send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: [] } });
      else if (frame.id !== undefined) send(socket, { id: frame.id, command: frame.command, payload: true });
    },
  });
  const c = makeClient(t, peer.url, { requestTimeout: 300, pingTimeout: 0 });
  const errors: MeshErrorEvent[] = [];
  c.on('error', (e) => errors.push(e));
  await c.joinRoom('lobby');
  assert.equal(await c.publishPresenceState('lobby', { state: { v: 'old' } }), true);
  (sockets[0] as { terminate(): void }).terminate();
  await until(() => peer.received.some((r) => r.socket === sockets[1] && r.frame.command === 'mesh/join-room'), 3000, 'the restore rejoins');
  assert.equal(c.status, 'reconnecting');
  const during = c.publishPresenceState('lobby', { state: { v: 'new' } });
  await quiet(400); // longer than requestTimeout: a queued request would time out here
  const back = nextEvent(c, 'reconnect', 5000);
  (sockets[1] as { terminate(): void }).terminate();
  await back;
  assert.equal(await during, true, 'the call resolves with the restore, no timeout');
  const third = peer.received.filter((r) => r.socket === sockets[2] && r.frame.command === 'mesh/publish-presence-state');
  assert.deepEqual(third.map((r) => r.frame.payload.state), [{ v: 'new' }], 'the third connection restores the latest state');
  assert.deepEqual(errors.filter((e) => e.code === 'ETIMEOUT'), [], 'no timeouts');
});

test('leaving a room while offline settles its parked publishes with false, unsent and without an error', { timeout: 15_000 }, async (t) => {
  const { server, url } = await startServer(t, { limits: LIMITS });
  const rec = recordingWebSocket();
  const a = makeClient(t, url, { WebSocket: rec.ctor });
  const errors: MeshErrorEvent[] = [];
  a.on('error', (e) => errors.push(e));
  await a.joinRoom('lobby');
  const up = await outage(t, server, url, a);
  const parked = a.publishPresenceState('lobby', { state: { v: 1 } });
  const left = a.leaveRoom('lobby');
  assert.equal(await parked, false);
  const sentBefore = rec.sent.length;
  await up();
  await left;
  await quiet(50);
  assert.deepEqual(publishes(rec.sent.slice(sentBefore)), [], 'nothing published after the reconnect');
  assert.deepEqual(errors.map((e) => `${e.command}:${e.code}`), [], 'no error events');
});

test("a restored state's expireAfter is what is left once the pacer lets it through", { timeout: 15_000 }, async (t) => {
  const sockets: unknown[] = [];
  let limited = false;
  const peer = await startScriptedPeer(t, {
    onConnection: (socket) => sockets.push(socket),
    onFrame: (socket, frame) => {
      if (socket === sockets[1] && frame.command === 'mesh/publish-presence-state' && !limited) {
        limited = true; // the first restore publish is refused for the rate: the pacer pauses
        send(socket, { id: frame.id, command: frame.command, payload: { code: 'ERATELIMIT', error: 'slow down' } });
        return;
      }
      if (frame.command === 'mesh/join-room') send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: [] } });
      else if (frame.id !== undefined) send(socket, { id: frame.id, command: frame.command, payload: true });
    },
  });
  const c = makeClient(t, peer.url, { pingTimeout: 0 });
  c.on('error', () => {});
  await c.joinRoom('lobby');
  assert.equal(await c.publishPresenceState('lobby', { state: { typing: true }, expireAfter: 60_000 }), true);
  const back = nextEvent(c, 'reconnect', 5000);
  (sockets[0] as { terminate(): void }).terminate();
  await back;
  const sent = peer.received.filter((r) => r.socket === sockets[1] && r.frame.command === 'mesh/publish-presence-state').map((r) => r.frame.payload.expireAfter as number);
  assert.equal(sent.length, 2, `refused once, then sent again: ${JSON.stringify(sent)}`);
  assert.ok(sent[1]! <= sent[0]! - 200, `the retry after the pause carries less time: ${JSON.stringify(sent)}`);
});
