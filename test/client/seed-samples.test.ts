/**
 * Every code sample of `seed/client-presence-docs.txt`, as written, against our server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server.js';
import { makeClient, quiet, Updates } from './helpers.js';

test('subscribePresence: present ids, then join, state and leave events', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const other = makeClient(t, url);
  await other.joinRoom('lobby');

  const updates = new Updates();
  const { success, present } = await client.subscribePresence('lobby', (update) => {
    updates.callback(update);
  });
  assert.equal(success, true);
  assert.deepEqual(present, [other.connectionId]);

  const third = makeClient(t, url);
  await third.joinRoom('lobby');
  await updates.wait({ type: 'join', connectionId: third.connectionId! });
  await third.publishPresenceState('lobby', { state: { status: 'away' } });
  const state = await updates.wait({ type: 'state', connectionId: third.connectionId! });
  assert.deepEqual(state.state, { status: 'away' });
  await third.leaveRoom('lobby');
  await updates.wait({ type: 'leave', connectionId: third.connectionId! });
  for (const update of updates.list) {
    assert.equal(update.roomName, 'lobby');
    assert.equal(typeof update.timestamp, 'number');
  }
});

test('unsubscribePresence stops the events', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const updates = new Updates();
  await client.subscribePresence('lobby', updates.callback);
  assert.equal(await client.unsubscribePresence('lobby'), true);

  const other = makeClient(t, url);
  await other.joinRoom('lobby');
  await other.publishPresenceState('lobby', { state: { status: 'typing' } });
  // a subscriber that is still there sees the events, so they were sent
  const watcher = makeClient(t, url);
  const seen = new Updates();
  await watcher.subscribePresence('lobby', seen.callback);
  await other.publishPresenceState('lobby', { state: { status: 'away' } });
  await seen.wait({ type: 'state', connectionId: other.connectionId! });
  await quiet(30);
  assert.deepEqual(updates.list, []);
});

test('joinRoom with a callback joins and subscribes in one step', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const updates = new Updates();
  const { success, present } = await client.joinRoom('lobby', (update) => {
    updates.callback(update);
  });
  assert.equal(success, true);
  assert.deepEqual(present, [client.connectionId]);

  const other = makeClient(t, url);
  await other.joinRoom('lobby');
  await updates.wait({ type: 'join', connectionId: other.connectionId! });
});

test('joinRoom without a callback: present reflects the occupants, no events', async (t) => {
  const { url } = await startServer(t);
  const first = makeClient(t, url);
  await first.joinRoom('lobby');
  const client = makeClient(t, url);
  const { success, present } = await client.joinRoom('lobby');
  assert.equal(success, true);
  assert.deepEqual(new Set(present), new Set([first.connectionId, client.connectionId]));
  assert.deepEqual(client.subscribedRooms, []);
});

test('publishPresenceState with expireAfter: others see the state, then its expiry', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const watcher = makeClient(t, url);
  const updates = new Updates();
  await watcher.subscribePresence('lobby', updates.callback);
  await client.joinRoom('lobby');

  assert.equal(
    await client.publishPresenceState('lobby', {
      state: { status: 'typing' },
      expireAfter: 8000, // optional (ms)
    }),
    true,
  );
  await updates.wait({ type: 'state', connectionId: client.connectionId!, state: { status: 'typing' } });

  // the same with a short expiry, to see it go
  await client.publishPresenceState('lobby', { state: { status: 'typing', n: 2 }, expireAfter: 60 });
  await updates.wait({ type: 'state', connectionId: client.connectionId!, state: null });
});

test('clearPresenceState clears it manually', async (t) => {
  const { url } = await startServer(t);
  const client = makeClient(t, url);
  const watcher = makeClient(t, url);
  const updates = new Updates();
  await watcher.subscribePresence('lobby', updates.callback);
  await client.joinRoom('lobby');
  await client.publishPresenceState('lobby', { state: { status: 'typing' } });
  await updates.wait({ type: 'state', state: { status: 'typing' } });
  assert.equal(await client.clearPresenceState('lobby'), true);
  await updates.wait({ type: 'state', connectionId: client.connectionId!, state: null });
});

test('subscribePresence returns the states at subscription time', async (t) => {
  const { url } = await startServer(t);
  const a = makeClient(t, url);
  const b = makeClient(t, url);
  await a.joinRoom('lobby');
  await b.joinRoom('lobby');
  await a.publishPresenceState('lobby', { state: { status: 'typing' } });
  await b.publishPresenceState('lobby', { state: { status: 'away' } });

  const client = makeClient(t, url);
  const { success, present, states } = await client.subscribePresence('lobby', (update) => {
    if (update.type === 'state') {
      console.log(`${update.connectionId} state:`, update.state);
    }
  });
  assert.equal(success, true);
  assert.deepEqual(new Set(present), new Set([a.connectionId, b.connectionId]));
  assert.deepEqual(states, {
    [a.connectionId!]: { status: 'typing' },
    [b.connectionId!]: { status: 'away' },
  });
});

test('getConnectionMetadata resolves user info for an update and for everyone present', async (t) => {
  const users: Record<string, { userId: string; username: string; avatar: string }> = {
    ta: { userId: 'u1', username: 'Ada', avatar: '/a.png' },
    tb: { userId: 'u2', username: 'Bob', avatar: '/b.png' },
  };
  const { url } = await startServer(t, { authenticate: (_req, { token }) => (token ? users[token] : null) });
  const a = makeClient(t, url, { token: 'ta' });
  const b = makeClient(t, url, { getToken: () => 'tb' });
  await a.joinRoom('lobby');

  const updates = new Updates();
  const { present } = await b.joinRoom('lobby', updates.callback);
  const c = makeClient(t, url, { token: 'ta' });
  await c.joinRoom('lobby');
  const update = await updates.wait({ type: 'join', connectionId: c.connectionId! });

  const metadata = await b.getConnectionMetadata(update.connectionId);
  assert.deepEqual(metadata, users.ta);

  const all = await Promise.all(present.map((id) => b.getConnectionMetadata(id)));
  assert.deepEqual(all, present.map((id) => (id === a.connectionId ? users.ta : users.tb)));
  assert.deepEqual(await b.getConnectionMetadata(), users.tb);
});
