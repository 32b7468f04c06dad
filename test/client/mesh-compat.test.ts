/**
 * The client against a peer that behaves like a PLAIN Mesh server (scripted here):
 * `[{id, metadata}]` present lists, `ENOTFOUND` for refresh-presence, Mesh pings and
 * latency requests. And refresh-presence against our server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsSocket } from 'ws';
import type { MeshErrorEvent } from '../../src/client/node.js';
import { startServer } from '../helpers/server.js';
import { makeClient, nextEvent, quiet, recordingWebSocket, send, startScriptedPeer, until, Updates } from './helpers.js';

/** Answers like Mesh 2.x: snapshots with `[{id, metadata}]`, no refresh-presence. */
function plainMesh(socket: WsSocket, frame: any): void {
  const reply = (payload: unknown): void => send(socket, { id: frame.id, command: frame.command, payload });
  const members = [
    { id: 'mesh-a', metadata: { userId: 'ua', name: 'Ada' } },
    { id: 'mesh-b', metadata: { userId: 'ub', name: 'Bob' } },
  ];
  switch (frame.command) {
    case 'mesh/join-room':
      return reply({ success: true, present: members });
    case 'mesh/subscribe-presence':
      return reply({ success: true, present: members, states: { 'mesh-a': { status: 'here' } } });
    case 'mesh/get-presence-state':
      return reply({ success: true, present: members.map((m) => m.id), states: {} });
    case 'mesh/publish-presence-state':
      return reply({ error: 'Redis is down', code: 'ESERVER', name: 'ServerError' });
    case 'mesh/get-connection-metadata':
      return reply({ metadata: null });
    case 'pong':
    case 'latency:response':
      return;
    default:
      return reply({ error: `Unknown command: ${frame.command}`, code: 'ENOTFOUND', name: 'CommandError' });
  }
}

test('plain Mesh present shape: the user gets ids, the metadata is cached', async (t) => {
  const peer = await startScriptedPeer(t, { onFrame: plainMesh });
  const client = makeClient(t, peer.url, { refreshInterval: 0 });
  const join = await client.joinRoom('lobby');
  assert.deepEqual(join, { success: true, present: ['mesh-a', 'mesh-b'] });
  const sub = await client.subscribePresence('lobby', () => {});
  assert.deepEqual(sub, { success: true, present: ['mesh-a', 'mesh-b'], states: { 'mesh-a': { status: 'here' } } });
  assert.deepEqual(await client.getConnectionMetadata('mesh-b'), { userId: 'ub', name: 'Bob' });
  assert.equal(peer.received.filter((r) => r.frame.command === 'mesh/get-connection-metadata').length, 0);
  assert.deepEqual(await client.getPresenceState('lobby'), { success: true, present: ['mesh-a', 'mesh-b'], states: {} });
});

test('a Mesh error payload reply is a failure with its code', async (t) => {
  const peer = await startScriptedPeer(t, { onFrame: plainMesh });
  const client = makeClient(t, peer.url, { refreshInterval: 0 });
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  await client.joinRoom('lobby');
  assert.equal(await client.publishPresenceState('lobby', { state: { a: 1 } }), false);
  assert.deepEqual(errors, [{ code: 'ESERVER', message: 'Redis is down', command: 'mesh/publish-presence-state', roomName: 'lobby' }]);
});

test('refresh-presence: after ENOTFOUND the client stops sending it, without error events', async (t) => {
  const peer = await startScriptedPeer(t, { onFrame: plainMesh });
  const client = makeClient(t, peer.url, { refreshInterval: 20 });
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  await client.joinRoom('lobby');
  await peer.waitFor((f) => f.command === 'mesh/refresh-presence');
  await quiet(150); // several intervals
  const refreshes = peer.received.filter((r) => r.frame.command === 'mesh/refresh-presence');
  assert.equal(refreshes.length, 1);
  assert.deepEqual(refreshes[0]!.frame.payload, { roomName: 'lobby' });
  assert.deepEqual(errors, []);
});

test('Mesh ping is answered with pong, latency:request with latency:response; latency is emitted', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command === 'latency:response') send(socket, { command: 'latency', payload: 42 });
    },
  });
  const client = makeClient(t, peer.url);
  await client.connect();
  const socket = [...peer.sockets][0]!;
  const latency = nextEvent(client, 'latency');
  send(socket, { command: 'ping', payload: {} });
  send(socket, { command: 'latency:request', payload: {} });
  assert.deepEqual(await peer.waitFor((f) => f.command === 'pong'), { command: 'pong', payload: {} });
  assert.deepEqual(await peer.waitFor((f) => f.command === 'latency:response'), { command: 'latency:response', payload: {} });
  assert.equal(await latency, 42);
});

test('against our server refresh-presence goes out every interval for each joined room', async (t) => {
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { refreshInterval: 25, WebSocket: rec.ctor });
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  await client.joinRoom('one');
  await client.joinRoom('two');
  const count = (room: string): number =>
    rec.sent.filter((f) => f.command === 'mesh/refresh-presence' && f.payload.roomName === room).length;
  await until(() => count('one') >= 3 && count('two') >= 3, 2000, 'three refreshes per room');
  await client.leaveRoom('two');
  const before = count('two');
  await quiet(80);
  assert.equal(count('two'), before, 'a room left is no longer refreshed');
  assert.ok(count('one') > 3);
  assert.deepEqual(errors, []);
});

test('a refresh answered false (membership lost on the server) makes the client rejoin and republish', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      const reply = (payload: unknown): void => send(socket, { id: frame.id, command: frame.command, payload });
      if (frame.command === 'mesh/join-room') reply({ success: true, present: ['peer-0'] });
      else if (frame.command === 'mesh/publish-presence-state') reply(true);
      else if (frame.command === 'mesh/refresh-presence') reply(false);
    },
  });
  const client = makeClient(t, peer.url, { refreshInterval: 30 });
  await client.joinRoom('lobby');
  await client.publishPresenceState('lobby', { state: { s: 1 } });
  await until(() => peer.received.filter((r) => r.frame.command === 'mesh/join-room').length === 2, 2000, 'a rejoin');
  const publishes = (): any[] => peer.received.filter((r) => r.frame.command === 'mesh/publish-presence-state').map((r) => r.frame.payload);
  await until(() => publishes().length === 2, 2000, 'a republish');
  assert.deepEqual(publishes()[1], { roomName: 'lobby', state: { s: 1 } });
  assert.deepEqual(client.joinedRooms, ['lobby']);
});
