/**
 * getClient: one connection per URL, reference-counted joins and subscriptions, the
 * registry on globalThis, resetClients, release of the client itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPresence, getClient, resetClients, type PresenceUpdate } from '../../src/client/node.js';
import { startServer } from '../helpers/server.js';
import { makeClient, quiet, recordingWebSocket, until, Updates } from './helpers.js';

test('getClient shares one client and one connection per URL, through a globalThis registry', async (t) => {
  t.after(() => resetClients());
  const { url, server } = await startServer(t);
  const one = getClient(url);
  const two = getClient(url, { requestTimeout: 1 }); // options only apply on creation
  assert.equal(one, two);
  const registry = (globalThis as any)[Symbol.for('mesh-presence/clients')] as Map<string, unknown>;
  assert.equal(registry.get(new URL(url).href), one, 'keyed by the normalised URL');
  await Promise.all([one.joinRoom('a'), two.joinRoom('b')]);
  assert.equal(server.connectionCount, 1);

  const { url: url2 } = await startServer(t);
  assert.notEqual(getClient(url2), one);
});

test('two consumers of a room share one join; the last release leaves', async (t) => {
  t.after(() => resetClients());
  const { url, server } = await startServer(t);
  const rec = recordingWebSocket();
  const client = getClient(url, { WebSocket: rec.ctor });
  const [first, second] = await Promise.all([client.retainRoom('room'), client.retainRoom('room')]);
  assert.equal(first.success, true);
  assert.deepEqual(second.present, [client.connectionId]);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/join-room').length, 1);

  await first.release();
  await first.release(); // idempotent
  assert.deepEqual((await server.getPresence('room')).present, [client.connectionId]);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/leave-room').length, 0);

  await second.release();
  assert.deepEqual((await server.getPresence('room')).present, []);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/leave-room').length, 1);
});

test('release and retain in the same tick (an element moved in the DOM) keeps the join', async (t) => {
  t.after(() => resetClients());
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = getClient(url, { WebSocket: rec.ctor });
  const lease = await client.retainRoom('room');
  const released = lease.release();
  const again = client.retainRoom('room');
  await released;
  assert.equal((await again).success, true);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/join-room').length, 1);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/leave-room').length, 0);
});

test('a late watcher gets the snapshot from the shared subscription; the last release unsubscribes', async (t) => {
  t.after(() => resetClients());
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = getClient(url, { WebSocket: rec.ctor });
  const member = makeClient(t, url);
  await member.joinRoom('room');
  await member.publishPresenceState('room', { state: { s: 1 } });

  const early = new Updates();
  const w1 = await client.watchPresence('room', early.callback);
  await member.publishPresenceState('room', { state: { s: 2 } });
  await early.wait({ type: 'state', state: { s: 2 } });

  const late = new Updates();
  const w2 = await client.watchPresence('room', late.callback);
  assert.deepEqual(w2.snapshot, { present: [member.connectionId], states: { [member.connectionId!]: { s: 2 } } });
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/subscribe-presence').length, 1);

  await w1.release();
  await member.publishPresenceState('room', { state: { s: 3 } });
  await late.wait({ type: 'state', state: { s: 3 } });
  assert.equal(early.of('state').length, 1);
  await w2.release();
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/unsubscribe-presence').length, 1);
});

test('the same listener watched twice is two watches', async (t) => {
  t.after(() => resetClients());
  const { url } = await startServer(t);
  const client = getClient(url);
  const seen: PresenceUpdate[] = [];
  const listener = (u: PresenceUpdate): void => void seen.push(u);
  const w1 = await client.watchPresence('room', listener);
  const w2 = await client.watchPresence('room', listener);
  await w1.release();
  await client.joinRoom('room');
  await until(() => seen.length === 1, 1000, 'one join through the remaining watch');
  await w2.release();
});

test('watch-only and createPresence on one room do not disturb each other', async (t) => {
  t.after(() => resetClients());
  const { url, server } = await startServer(t);
  const client = getClient(url);
  const watched = new Updates();
  const watch = await client.watchPresence('room', watched.callback);
  const presence = createPresence({ client, room: 'room', onUpdate: () => {} });
  await presence.ready;
  await presence.publish({ userId: 'me' });
  await watched.wait({ type: 'state', connectionId: client.connectionId! });
  await presence.dispose();
  await watched.wait({ type: 'leave', connectionId: client.connectionId! });
  assert.deepEqual(client.subscribedRooms, ['room'], 'the watch keeps its subscription');
  const other = makeClient(t, url);
  await other.joinRoom('room');
  await watched.wait({ type: 'join', connectionId: other.connectionId! });
  await watch.release();
  assert.deepEqual(client.subscribedRooms, []);
  assert.deepEqual((await server.getPresence('room')).present, [other.connectionId]);
});

test('resetClients closes every shared client; getClient then makes a new one', async (t) => {
  const { url, server } = await startServer(t);
  const client = getClient(url);
  await client.connect();
  await resetClients();
  assert.equal(client.isClosed, true);
  await until(() => server.connectionCount === 0, 1000, 'socket closed');
  const fresh = getClient(url);
  t.after(() => resetClients());
  assert.notEqual(fresh, client);
  await fresh.connect();
  assert.equal(fresh.status, 'online');
});

test('client.release(): the connection closes when the last getClient reference is given back', async (t) => {
  t.after(() => resetClients());
  const { url, server } = await startServer(t);
  const a = getClient(url);
  const b = getClient(url);
  await a.connect();
  await a.release();
  await quiet(10);
  assert.equal(b.isClosed, false);
  assert.equal(server.connectionCount, 1);
  await b.release();
  assert.equal(b.isClosed, true);
  await until(() => server.connectionCount === 0, 1000, 'socket closed');
  assert.notEqual(getClient(url), a);
});

test('getClient normalises the URL: ws://h:p and ws://h:p/ (and an upper-case host) share one connection', async (t) => {
  t.after(() => resetClients());
  const { url, server } = await startServer(t);
  const bare = url.replace(/\/$/, '');
  const one = getClient(bare);
  const two = getClient(`${bare}/`);
  const three = getClient(bare.replace('ws://', 'WS://'));
  assert.equal(one, two);
  assert.equal(one, three);
  await one.connect();
  assert.equal(server.connectionCount, 1);
  // three references: the connection closes with the last release, and the registry forgets it
  await one.release();
  await two.release();
  assert.equal(one.isClosed, false);
  await three.release();
  assert.equal(one.isClosed, true);
  const registry = (globalThis as any)[Symbol.for('mesh-presence/clients')] as Map<string, unknown>;
  assert.equal(registry.size, 0);
  // a string that is not a URL is kept as it is (the client reports it when connecting)
  const odd = getClient('not a url');
  assert.equal(registry.get('not a url'), odd);
});
