/**
 * MeshClient against our server: several clients, result shapes, errors, argument
 * checks, close, timeouts, the metadata cache, several callbacks per room.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshClient, MeshError, type MeshErrorEvent } from '../../src/client/node.js';
import { startServer } from '../helpers/server.js';
import { makeClient, nextEvent, quiet, recordingWebSocket, send, startScriptedPeer, until, Updates } from './helpers.js';

test('connect() resolves after assign-id; status goes connecting → online; methods connect lazily', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  assert.equal(client.status, 'offline');
  const statuses: string[] = [];
  client.on('status', (s) => statuses.push(s));
  const connected = nextEvent(client, 'connect');
  await client.connect();
  await connected;
  assert.equal(client.status, 'online');
  assert.match(client.connectionId ?? '', /.+/);
  assert.deepEqual(statuses, ['connecting', 'online']);

  const lazy = makeClient(t, url);
  const result = await lazy.joinRoom('lobby');
  assert.equal(result.success, true);
  assert.equal(lazy.status, 'online');
});

test('three clients see each other join, publish and leave; rooms are isolated', async (t) => {
  const { url } = await startServer(t);
  const [a, b, c] = [makeClient(t, url), makeClient(t, url), makeClient(t, url)];
  const [ua, ub, uc] = [new Updates(), new Updates(), new Updates()];
  const elsewhere = new Updates();
  await a.joinRoom('room-1', ua.callback);
  await b.joinRoom('room-1', ub.callback);
  await c.joinRoom('room-1', uc.callback);
  const d = makeClient(t, url);
  await d.joinRoom('room-2', elsewhere.callback);

  await ua.wait({ type: 'join', connectionId: c.connectionId! });
  await ub.wait({ type: 'join', connectionId: c.connectionId! });
  // joins before one's own subscription are in its snapshot, not events
  assert.deepEqual(ua.of('join').map((u) => u.connectionId), [b.connectionId, c.connectionId]);
  assert.deepEqual(uc.of('join'), []);

  await b.publishPresenceState('room-1', { state: { status: 'busy' } });
  for (const u of [ua, ub, uc]) await u.wait({ type: 'state', connectionId: b.connectionId!, state: { status: 'busy' } });

  await c.close();
  await ua.wait({ type: 'leave', connectionId: c.connectionId! });
  await ub.wait({ type: 'leave', connectionId: c.connectionId! });

  const e = makeClient(t, url);
  await e.joinRoom('room-2');
  await elsewhere.wait({ type: 'join', connectionId: e.connectionId! });
  assert.deepEqual(elsewhere.list.map((u) => [u.type, u.roomName, u.connectionId]), [['join', 'room-2', e.connectionId]]);
});

test('a refusal resolves the documented shape and emits an error event with the code', async (t) => {
  const { url } = await startServer(t, { track: ['tracked'] });
  const client = makeClient(t, url);
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));

  assert.equal(await client.publishPresenceState('tracked', { state: { a: 1 } }), false);
  assert.equal(errors.at(-1)?.code, 'ENOTJOINED');
  assert.equal(errors.at(-1)?.command, 'mesh/publish-presence-state');
  assert.equal(errors.at(-1)?.roomName, 'tracked');

  assert.equal(await client.clearPresenceState('tracked'), false);
  assert.equal(errors.at(-1)?.code, 'ENOTJOINED');

  const sub = await client.subscribePresence('untracked', () => {});
  assert.equal(sub.success, false);
  assert.deepEqual(sub.present, []);
  assert.equal(sub.error?.code, 'EFORBIDDEN');
  assert.equal(errors.at(-1)?.code, 'EFORBIDDEN');
  assert.deepEqual(client.subscribedRooms, []);

  const join = await client.joinRoom('untracked');
  assert.deepEqual({ success: join.success, present: join.present, code: join.error?.code }, { success: false, present: [], code: 'EFORBIDDEN' });
  assert.deepEqual(client.joinedRooms, []);

  const state = await client.getPresenceState('untracked');
  assert.equal(state.success, false);
  assert.equal(state.error?.code, 'EFORBIDDEN');
  assert.equal(errors.length, 5);
});

test('a server error payload as a reply is a failure, not a result (unlike the stock Mesh client)', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  await client.joinRoom('lobby');
  // a state too deep for the server's limits: it answers {error, code, name}
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 20; i++) deep = { deep };
  assert.equal(await client.publishPresenceState('lobby', { state: deep }), false);
  assert.equal(errors.at(-1)?.code, 'ETOOLARGE');

  await assert.rejects(client.request('mesh/no-such-command', {}), (error: MeshError) => error.code === 'ENOTFOUND');
});

test('invalid arguments reject with EINVALID and send nothing', async (t) => {
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { WebSocket: rec.ctor });
  await client.connect();
  const invalid = (error: MeshError): boolean => error instanceof MeshError && error.code === 'EINVALID';
  const anyClient = client as any;
  await assert.rejects(client.joinRoom(''), invalid);
  await assert.rejects(anyClient.joinRoom(42), invalid);
  await assert.rejects(client.joinRoom('x'.repeat(300)), invalid);
  await assert.rejects(anyClient.joinRoom('lobby', 'not a function'), invalid);
  await assert.rejects(anyClient.leaveRoom(null), invalid);
  await assert.rejects(anyClient.subscribePresence('lobby'), invalid);
  await assert.rejects(anyClient.publishPresenceState('lobby', { state: [1, 2] }), invalid);
  await assert.rejects(anyClient.publishPresenceState('lobby', { state: 'typing' }), invalid);
  await assert.rejects(anyClient.publishPresenceState('lobby', {}), invalid);
  await assert.rejects(client.publishPresenceState('lobby', { state: {}, expireAfter: -1 }), invalid);
  await assert.rejects(client.publishPresenceState('lobby', { state: {}, expireAfter: Infinity }), invalid);
  await assert.rejects(client.publishPresenceState('lobby', { state: {}, expireAfter: 1e12 }), invalid);
  await assert.rejects(anyClient.publishPresenceState('lobby', { state: {}, silent: 'yes' }), invalid);
  await assert.rejects(anyClient.setConnectionMetadata('name'), invalid);
  await assert.rejects(anyClient.setConnectionMetadata({}, { strategy: 'overwrite' }), invalid);
  await assert.rejects(client.getConnectionMetadata(''), invalid);
  await assert.rejects(anyClient.request(''), invalid);
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  await assert.rejects(client.publishPresenceState('lobby', { state: circular }), invalid);
  assert.deepEqual(rec.sent, []);
});

test('after close() every call rejects with ECLOSED; in-flight calls resolve as failures', async (t) => {
  const peer = await startScriptedPeer(t); // assigns an id, never answers
  const client = new MeshClient(peer.url, { requestTimeout: 5000 });
  await client.connect();
  const inflight = client.joinRoom('lobby');
  await peer.waitFor((f) => f.command === 'mesh/join-room');
  const disconnected = nextEvent(client, 'disconnect');
  await client.close();
  assert.deepEqual(await disconnected, { code: 1000, reason: 'client closed' });
  const result = await inflight;
  assert.equal(result.success, false);
  assert.equal(result.error?.code, 'ECLOSED');
  assert.equal(client.status, 'offline');

  const closed = (error: MeshError): boolean => error instanceof MeshError && error.code === 'ECLOSED';
  await assert.rejects(client.connect(), closed);
  await assert.rejects(client.joinRoom('lobby'), closed);
  await assert.rejects(client.leaveRoom('lobby'), closed);
  await assert.rejects(client.subscribePresence('lobby', () => {}), closed);
  await assert.rejects(client.unsubscribePresence('lobby'), closed);
  await assert.rejects(client.publishPresenceState('lobby', { state: {} }), closed);
  await assert.rejects(client.clearPresenceState('lobby'), closed);
  await assert.rejects(client.getPresenceState('lobby'), closed);
  await assert.rejects(client.getConnectionMetadata(), closed);
  await assert.rejects(client.setConnectionMetadata({}), closed);
  await assert.rejects(client.getRoomMetadata('lobby'), closed);
  await assert.rejects(client.request('mesh/noop'), closed);
  await client.close(); // idempotent
});

test('a request without a reply times out with ETIMEOUT: resolved shape, error event, rejected request()', async (t) => {
  const peer = await startScriptedPeer(t); // never answers
  const client = makeClient(t, peer.url, { requestTimeout: 80 });
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  const started = Date.now();
  const join = await client.joinRoom('lobby');
  assert.equal(join.success, false);
  assert.equal(join.error?.code, 'ETIMEOUT');
  assert.ok(Date.now() - started < 1000, 'timed out within the request timeout');
  assert.equal(await client.publishPresenceState('lobby', { state: { a: 1 } }), false);
  assert.deepEqual(
    errors.map((e) => [e.code, e.command]),
    [
      ['ETIMEOUT', 'mesh/join-room'],
      ['ETIMEOUT', 'mesh/publish-presence-state'],
    ],
  );
  await assert.rejects(client.request('mesh/noop', {}, { timeout: 30 }), (e: MeshError) => e.code === 'ETIMEOUT' && /mesh\/noop/.test(e.message));
  assert.equal(await client.getConnectionMetadata('someone'), null);
  assert.equal(errors.at(-1)?.code, 'ETIMEOUT');
});

test('metadata is primed from present lists and join pushes: no lookup request is sent', async (t) => {
  const { url } = await startServer(t, { authenticate: (_req, { token }) => ({ userId: token, username: `name-${token}` }) });
  const a = makeClient(t, url, { token: 'a' });
  await a.joinRoom('lobby');
  const rec = recordingWebSocket();
  const b = makeClient(t, url, { token: 'b', WebSocket: rec.ctor });
  const updates = new Updates();
  const { present } = await b.joinRoom('lobby', updates.callback);
  const c = makeClient(t, url, { token: 'c' });
  await c.joinRoom('lobby');
  const join = await updates.wait({ type: 'join', connectionId: c.connectionId! });
  assert.deepEqual(join.metadata, { userId: 'c', username: 'name-c' }, 'join updates carry metadata');

  const all = await Promise.all([...present, c.connectionId!].map((id) => b.getConnectionMetadata(id)));
  assert.deepEqual(all.map((m) => m?.userId), ['a', 'b', 'c']);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/get-connection-metadata').length, 0);

  // the entry goes with the member
  await c.close();
  await updates.wait({ type: 'leave', connectionId: c.connectionId! });
  await quiet(5);
  assert.equal(b.peekConnectionMetadata(c.connectionId!), undefined);
  assert.deepEqual(b.peekConnectionMetadata(a.connectionId!), { userId: 'a', username: 'name-a' });
});

test('concurrent metadata lookups of one id share one request', async (t) => {
  const { url } = await startServer(t, { authenticate: (_req, { token }) => ({ userId: token }) });
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { token: 'x', WebSocket: rec.ctor });
  const other = makeClient(t, url, { token: 'y' });
  await other.connect();
  await client.connect();
  // not in a room together: nothing primed, and the server will not tell (null)
  const results = await Promise.all([1, 2, 3].map(() => client.getConnectionMetadata(other.connectionId!)));
  assert.deepEqual(results, [null, null, null]);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/get-connection-metadata').length, 1);

  const own = await Promise.all([client.getConnectionMetadata(), client.getConnectionMetadata()]);
  assert.deepEqual(own, [{ userId: 'x' }, { userId: 'x' }]);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/get-my-connection-metadata').length, 1);
});

test('setConnectionMetadata: merge works and refreshes the own cache; trusted keys are read-only', async (t) => {
  const { url } = await startServer(t, { authenticate: () => ({ userId: 'u1' }) });
  const client = makeClient(t, url);
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  assert.deepEqual(await client.getConnectionMetadata(), { userId: 'u1' });
  assert.equal(await client.setConnectionMetadata({ username: 'Ada' }, { strategy: 'merge' }), true);
  assert.deepEqual(await client.getConnectionMetadata(), { userId: 'u1', username: 'Ada' });
  assert.equal(await client.setConnectionMetadata({ userId: 'someone-else' }, { strategy: 'merge' }), false);
  assert.equal(errors.at(-1)?.code, 'EREADONLY');
});

test('getRoomMetadata and getPresenceState', async (t) => {
  const { url, server } = await startServer(t);
  await server.setRoomMetadata('lobby', { topic: 'hello' });
  const client = makeClient(t, url);
  assert.deepEqual(await client.getRoomMetadata('lobby'), { topic: 'hello' });
  assert.equal(await client.getRoomMetadata('empty'), null);
  await client.joinRoom('lobby');
  await client.publishPresenceState('lobby', { state: { s: 1 } });
  const other = makeClient(t, url);
  assert.deepEqual(await other.getPresenceState('lobby'), {
    success: true,
    present: [client.connectionId],
    states: { [client.connectionId!]: { s: 1 } },
  });
});

test('several callbacks per room share one subscription; a later one gets the snapshot without a request', async (t) => {
  const { url } = await startServer(t);
  const rec = recordingWebSocket();
  const client = makeClient(t, url, { WebSocket: rec.ctor });
  const member = makeClient(t, url);
  await member.joinRoom('lobby');
  await member.publishPresenceState('lobby', { state: { s: 1 } });
  const [one, two] = [new Updates(), new Updates()];
  await client.subscribePresence('lobby', one.callback);
  const second = await client.subscribePresence('lobby', two.callback);
  assert.deepEqual(second, { success: true, present: [member.connectionId], states: { [member.connectionId!]: { s: 1 } } });
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/subscribe-presence').length, 1);

  await member.publishPresenceState('lobby', { state: { s: 2 } });
  await one.wait({ type: 'state', state: { s: 2 } });
  await two.wait({ type: 'state', state: { s: 2 } });

  assert.equal(await client.removePresenceListener('lobby', one.callback), true);
  assert.equal(rec.sent.filter((f) => f.command === 'mesh/unsubscribe-presence').length, 0, 'another callback is left');
  await member.publishPresenceState('lobby', { state: { s: 3 } });
  await two.wait({ type: 'state', state: { s: 3 } });
  assert.equal(one.of('state').length, 1);

  assert.equal(await client.unsubscribePresence('lobby'), true);
  await member.publishPresenceState('lobby', { state: { s: 4 } });
  await quiet(30);
  assert.equal(two.of('state').length, 2);
  assert.equal(client.presenceSnapshot('lobby'), null);
});

test('leaveRoom removes the callback given to joinRoom and the state goes with the member', async (t) => {
  const { url, server } = await startServer(t);
  const client = makeClient(t, url);
  const watcher = makeClient(t, url);
  const seen = new Updates();
  await watcher.subscribePresence('lobby', seen.callback);
  const mine = new Updates();
  await client.joinRoom('lobby', mine.callback);
  await client.publishPresenceState('lobby', { state: { s: 1 } });
  assert.deepEqual(await client.leaveRoom('lobby'), { success: true });
  await seen.wait({ type: 'leave', connectionId: client.connectionId! });
  assert.deepEqual(client.subscribedRooms, []);
  assert.deepEqual(client.joinedRooms, []);
  assert.deepEqual((await server.getPresence('lobby')).present, []);
});

test('a throwing presence callback does not break the others', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const good = new Updates();
  const originalError = console.error;
  const reported: unknown[] = [];
  console.error = (e: unknown) => reported.push(e);
  t.after(() => {
    console.error = originalError;
  });
  await client.subscribePresence('lobby', () => {
    throw new Error('boom');
  });
  await client.subscribePresence('lobby', good.callback);
  await client.joinRoom('lobby');
  await good.wait({ type: 'join', connectionId: client.connectionId! });
  assert.equal((reported[0] as Error).message, 'boom');
});

test('a mesh/error push and a malformed frame surface as error events', async (t) => {
  const peer = await startScriptedPeer(t, {
    onConnection: (socket) => {
      send(socket, { command: 'mesh/error', payload: { error: 'frame was not JSON', code: 'EBADJSON', name: 'MeshError' } });
      socket.send('not json');
    },
  });
  const client = makeClient(t, peer.url);
  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  await client.connect();
  await until(() => errors.length === 2, 2000, 'two error events');
  assert.deepEqual(
    errors.map((e) => e.code),
    ['EBADJSON', 'EBADFRAME'],
  );
  assert.equal(errors[0]?.message, 'frame was not JSON');
});

test('pushes racing with the subscribe reply yield no duplicate and no ghost', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command !== 'mesh/subscribe-presence') return;
      const push = (payload: object): void => send(socket, { command: 'mesh/presence-update', payload: { roomName: 'room', timestamp: 1, ...payload } });
      // events the snapshot already contains, one that is new, then the reply
      push({ type: 'join', connectionId: 'x' });
      push({ type: 'state', connectionId: 'x', state: { s: 1 } });
      push({ type: 'leave', connectionId: 'gone' });
      push({ type: 'join', connectionId: 'y' });
      send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: ['x'], states: { x: { s: 1 } } } });
    },
  });
  const client = makeClient(t, peer.url);
  const updates = new Updates();
  const first = client.subscribePresence('room', updates.callback);
  const second = new Updates();
  const late = client.subscribePresence('room', second.callback); // while the first is in flight
  assert.deepEqual(await first, { success: true, present: ['x'], states: { x: { s: 1 } } });
  assert.deepEqual(updates.list.map((u) => [u.type, u.connectionId]), [['join', 'y']]);
  assert.deepEqual(await late, { success: true, present: ['x', 'y'], states: { x: { s: 1 } } });
  assert.deepEqual(second.list, []);
  assert.equal(peer.received.filter((r) => r.frame.command === 'mesh/subscribe-presence').length, 1);
});

test('unsubscribing while the subscription is in flight: its callback hears nothing', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command === 'mesh/subscribe-presence') {
        send(socket, { command: 'mesh/presence-update', payload: { type: 'join', connectionId: 'z', roomName: 'room', timestamp: 1 } });
        setTimeout(() => send(socket, { id: frame.id, command: frame.command, payload: { success: true, present: [], states: {} } }), 20);
      } else if (frame.command === 'mesh/unsubscribe-presence') {
        send(socket, { id: frame.id, command: frame.command, payload: true });
      }
    },
  });
  const client = makeClient(t, peer.url);
  const updates = new Updates();
  const sub = client.subscribePresence('room', updates.callback);
  await peer.waitFor((f) => f.command === 'mesh/subscribe-presence');
  assert.equal(await client.unsubscribePresence('room'), true);
  await sub;
  await quiet(20);
  assert.deepEqual(updates.list, []);
});

test('close() while connecting or retrying settles everything with ECLOSED', async (t) => {
  const { url } = await startServer(t);
  const connecting = new MeshClient(url);
  const connected = connecting.connect();
  await connecting.close();
  await assert.rejects(connected, (e: MeshError) => e.code === 'ECLOSED');

  const peer = await startScriptedPeer(t);
  await peer.close(); // nothing listens on this port any more
  const retrying = new MeshClient(peer.url, { reconnect: { minDelay: 5, maxDelay: 10 } });
  const join = retrying.joinRoom('x');
  await nextEvent(retrying, 'error', 1000, (e) => e.code === 'ECONNECT');
  assert.equal(retrying.status, 'connecting');
  await retrying.close();
  assert.equal((await join).error?.code, 'ECLOSED');
});
