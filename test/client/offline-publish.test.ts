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
