/**
 * The `mesh/metadata-update` extension push: the cache follows it, `metadata` fires,
 * createPresence regroups, a lookup in flight cannot overwrite it. Scripted peers stand
 * in for a server that sends the push.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPresence, type MeshErrorEvent, type PresenceUser } from '../../src/client/node.js';
import { makeClient, nextEvent, quiet, send, startScriptedPeer, until } from './helpers.js';

const subscribeReply = {
  success: true,
  present: ['peer-0', 'x', 'y'],
  states: {},
  metadata: { x: { userId: 'u1', name: 'Xena' }, y: { userId: 'u2', name: 'Yann' } },
};

test('a metadata-update push updates the cache and fires `metadata`; ids the client does not know are not cached', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      if (frame.command === 'mesh/subscribe-presence') send(socket, { id: frame.id, command: frame.command, payload: subscribeReply });
    },
  });
  const client = makeClient(t, peer.url);
  await client.subscribePresence('lobby', () => {});
  assert.deepEqual(client.peekConnectionMetadata('y'), { userId: 'u2', name: 'Yann' });
  const socket = [...peer.sockets][0]!;

  const event = nextEvent(client, 'metadata');
  send(socket, { command: 'mesh/metadata-update', payload: { connectionId: 'y', metadata: { userId: 'u2', name: 'Yannick' } } });
  assert.deepEqual(await event, { connectionId: 'y', metadata: { userId: 'u2', name: 'Yannick' } });
  assert.deepEqual(client.peekConnectionMetadata('y'), { userId: 'u2', name: 'Yannick' });
  assert.deepEqual(await client.getConnectionMetadata('y'), { userId: 'u2', name: 'Yannick' });
  assert.equal(peer.received.filter((r) => r.frame.command === 'mesh/get-connection-metadata').length, 0, 'no lookup');

  const stranger = nextEvent(client, 'metadata');
  send(socket, { command: 'mesh/metadata-update', payload: { connectionId: 'stranger', metadata: { a: 1 } } });
  await stranger;
  assert.equal(client.peekConnectionMetadata('stranger'), undefined, 'not cached: it would never be dropped');

  const errors: MeshErrorEvent[] = [];
  client.on('error', (e) => errors.push(e));
  send(socket, { command: 'mesh/metadata-update', payload: { metadata: {} } });
  await until(() => errors.length === 1, 1000, 'an error for the malformed push');
  assert.equal(errors[0]!.code, 'EBADFRAME');
});

test('a lookup in flight when the push arrives does not overwrite the fresher metadata', async (t) => {
  let answerLookup: (() => void) | undefined;
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      const reply = (payload: unknown): void => send(socket, { id: frame.id, command: frame.command, payload });
      if (frame.command === 'mesh/subscribe-presence') reply({ success: true, present: ['peer-0', 'z'], states: {} });
      if (frame.command === 'mesh/get-connection-metadata') answerLookup = () => reply({ metadata: { name: 'stale' } });
    },
  });
  const client = makeClient(t, peer.url);
  await client.subscribePresence('lobby', () => {});
  const lookup = client.getConnectionMetadata('z');
  await until(() => answerLookup !== undefined, 1000, 'the lookup sent');
  const event = nextEvent(client, 'metadata');
  send([...peer.sockets][0]!, { command: 'mesh/metadata-update', payload: { connectionId: 'z', metadata: { name: 'fresh' } } });
  await event;
  answerLookup!();
  assert.deepEqual(await lookup, { name: 'stale' }, 'the caller of the old lookup gets its answer');
  assert.deepEqual(client.peekConnectionMetadata('z'), { name: 'fresh' });
  assert.deepEqual(await client.getConnectionMetadata('z'), { name: 'fresh' });
});

test('createPresence regroups when a member’s metadata changes its user', async (t) => {
  const peer = await startScriptedPeer(t, {
    onFrame: (socket, frame) => {
      const reply = (payload: unknown): void => send(socket, { id: frame.id, command: frame.command, payload });
      if (frame.command === 'mesh/join-room') reply({ success: true, present: ['peer-0', 'x', 'y'] });
      else if (frame.command === 'mesh/subscribe-presence') reply(subscribeReply);
      else if (frame.command === 'mesh/get-connection-metadata') reply({ metadata: null });
      else if (frame.command === 'mesh/leave-room') reply({ success: true });
      else if (typeof frame.id === 'number') reply(true);
    },
  });
  const client = makeClient(t, peer.url);
  const calls: PresenceUser[][] = [];
  const handle = createPresence({ client, room: 'lobby', anonymousDelay: 10_000, onUpdate: (users) => calls.push(users) });
  t.after(() => handle.dispose());
  assert.equal((await handle.ready).success, true);
  const summary = (): Array<[string, number, unknown]> => (calls.at(-1) ?? []).map((u) => [u.id, u.tabCount, u.metadata?.name]);
  assert.deepEqual(summary(), [
    ['u1', 1, 'Xena'],
    ['u2', 1, 'Yann'],
  ]);
  send([...peer.sockets][0]!, { command: 'mesh/metadata-update', payload: { connectionId: 'y', metadata: { userId: 'u1', name: 'Yann' } } });
  await until(() => summary().length === 1, 1000, `regrouped: ${JSON.stringify(summary())}`);
  assert.deepEqual(calls.at(-1)!.map((u) => [u.id, u.tabCount, u.connections]), [['u1', 2, ['x', 'y']]]);
  await handle.dispose();
  const count = calls.length;
  send([...peer.sockets][0]!, { command: 'mesh/metadata-update', payload: { connectionId: 'x', metadata: { userId: 'u3' } } });
  await quiet(30);
  assert.equal(calls.length, count, 'a disposed handle hears nothing');
});
