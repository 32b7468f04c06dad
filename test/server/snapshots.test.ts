/**
 * Snapshot replies: the incremental encoder, and that every reply still shows the room
 * exactly as it is.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RoomSnapshot } from '../../src/server/index.js';
import { SnapshotEncoder } from '../../src/server/snapshot-encoder.js';
import { connectRaw, type RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

type T = { after(fn: () => unknown): void };

async function clients(t: T, url: string, n: number): Promise<RawClient[]> {
  const list = await Promise.all(Array.from({ length: n }, () => connectRaw(url)));
  for (const c of list) t.after(() => c.close());
  return list;
}

function snap(members: Array<[string, object | null]>, states: Record<string, object> = {}): RoomSnapshot {
  return {
    present: members.map(([id]) => id),
    states,
    metadata: Object.fromEntries(members),
    seq: 0,
  } as RoomSnapshot;
}

function expected(s: RoomSnapshot, withStates: boolean): string {
  const { present, states, metadata } = s;
  return JSON.stringify(withStates ? { success: true, present, states, metadata } : { success: true, present, metadata });
}

describe('snapshot encoder', () => {
  test('writes what JSON.stringify writes, through appends, leaves, metadata changes and reorders', (t) => {
    const encoder = new SnapshotEncoder();
    t.after(() => encoder.clear());
    const ann = { name: 'Ann', tags: ['a', 'b'] };
    const bob = { name: 'Bob "the builder"' };
    const steps: RoomSnapshot[] = [
      snap([]),
      snap([['a', ann]]),
      snap([['a', ann], ['b', null]]),
      snap([['a', ann], ['b', null], ['c\u2028"x', bob]], { b: { typing: true } }),
      snap([['a', ann], ['c\u2028"x', bob]]), // b left
      snap([['a', { ...ann }], ['c\u2028"x', bob]]), // a's metadata replaced by an equal object
      snap([['a', { name: 'Ann 2' }], ['c\u2028"x', bob], ['d', null]]),
      snap([['d', null], ['a', { name: 'Ann 2' }]]), // reordered and shrunk
      snap([['constructor', null], ['__proto__', null], ['toString', { n: 1 }]]),
      snap([]),
    ];
    for (const [i, s] of steps.entries()) {
      for (const withStates of [false, true]) {
        assert.equal(encoder.encode('room', s, withStates), expected(s, withStates), `step ${i}, states ${withStates}`);
      }
    }
  });

  test('a growing room serialises only its newcomers', (t) => {
    const encoder = new SnapshotEncoder();
    t.after(() => encoder.clear());
    const members: Array<[string, object | null]> = [];
    for (let i = 0; i < 50; i++) {
      members.push([`id${i}`, i % 2 ? { n: i } : null]);
      const s = snap(members);
      assert.equal(encoder.encode('big', s, false), expected(s, false));
      assert.equal(encoder.encode('big', s, true), expected(s, true));
    }
    assert.equal(encoder.membersEncoded, 50);
    // another room has its own encoding
    encoder.encode('other', snap([['x', null]]), false);
    assert.equal(encoder.membersEncoded, 51);
    // a member that leaves makes the next reply rebuild the room once, then appends go on
    members.splice(10, 1);
    encoder.encode('big', snap(members), false);
    assert.equal(encoder.membersEncoded, 51 + 49);
    members.push(['late', null]);
    encoder.encode('big', snap(members), false);
    assert.equal(encoder.membersEncoded, 51 + 49 + 1);
  });

  test('encodings of rooms nobody asks about are dropped after the sweep interval', async (t) => {
    const encoder = new SnapshotEncoder(20);
    t.after(() => encoder.clear());
    const s = snap([['a', null], ['b', null]]);
    encoder.encode('idle', s, false);
    assert.equal(encoder.membersEncoded, 2);
    encoder.encode('idle', s, false);
    assert.equal(encoder.membersEncoded, 2, 'kept while in use');
    // two sweeps: the first marks it unused, the second drops it
    await new Promise((resolve) => setTimeout(resolve, 80));
    encoder.encode('idle', s, false);
    assert.equal(encoder.membersEncoded, 4);
  });
});

describe('snapshot replies', () => {
  test('every reply shows the room as it is, through joins, leaves, states and metadata changes', async (t) => {
    const { server, url } = await startServer(t, { pingInterval: 60_000 });
    const [watcher, a, b, c] = await clients(t, url, 4);
    const check = async (present: RawClient[], states: Record<string, unknown>, metadata: Record<string, unknown>) => {
      const ids = present.map((x) => x.id);
      const got = await watcher!.request('mesh/get-presence-state', { roomName: 'r' });
      assert.deepEqual(got, { success: true, present: ids, states, metadata });
      assert.deepEqual(await server.getPresence('r'), { present: ids, states, metadata });
      const sub = await watcher!.request('mesh/subscribe-presence', { roomName: 'r' });
      assert.deepEqual(sub, { success: true, present: ids, states, metadata });
    };
    // subscribed from the start: only a member or subscriber gets the metadata map
    await watcher!.request('mesh/subscribe-presence', { roomName: 'r' });
    await a!.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } });
    const joinA = await a!.request('mesh/join-room', { roomName: 'r' });
    assert.deepEqual(joinA, { success: true, present: [a!.id], metadata: { [a!.id]: { name: 'Ann' } } });
    const joinB = await b!.request('mesh/join-room', { roomName: 'r' });
    assert.deepEqual(joinB, { success: true, present: [a!.id, b!.id], metadata: { [a!.id]: { name: 'Ann' }, [b!.id]: null } });
    await check([a!, b!], {}, { [a!.id]: { name: 'Ann' }, [b!.id]: null });
    await b!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 1 }, silent: true });
    await check([a!, b!], { [b!.id]: { s: 1 } }, { [a!.id]: { name: 'Ann' }, [b!.id]: null });
    await a!.request('mesh/set-my-connection-metadata', { metadata: { away: true }, options: { strategy: 'merge' } });
    await check([a!, b!], { [b!.id]: { s: 1 } }, { [a!.id]: { name: 'Ann', away: true }, [b!.id]: null });
    await c!.request('mesh/join-room', { roomName: 'r' });
    await check([a!, b!, c!], { [b!.id]: { s: 1 } }, { [a!.id]: { name: 'Ann', away: true }, [b!.id]: null, [c!.id]: null });
    await a!.request('mesh/leave-room', { roomName: 'r' });
    await check([b!, c!], { [b!.id]: { s: 1 } }, { [b!.id]: null, [c!.id]: null });
    await c!.request('mesh/publish-presence-state', { roomName: 'r', state: { s: 2 }, expireAfter: 20 });
    await watcher!.waitFor((f) => f.payload?.type === 'state' && f.payload.connectionId === c!.id && f.payload.state === null);
    await check([b!, c!], { [b!.id]: { s: 1 } }, { [b!.id]: null, [c!.id]: null });
    await c!.close();
    await watcher!.waitFor((f) => f.payload?.type === 'leave' && f.payload.connectionId === c!.id);
    await check([b!], { [b!.id]: { s: 1 } }, { [b!.id]: null });
  });

  test('reply frames are byte for byte what JSON.stringify writes', async (t) => {
    const { url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    const raw: string[] = [];
    b!.ws.on('message', (data) => raw.push(data.toString()));
    await a!.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann "A"', n: [1, 2] } });
    await a!.request('mesh/join-room', { roomName: 'r' });
    await a!.request('mesh/publish-presence-state', { roomName: 'r', state: { typing: true } });
    await b!.request('mesh/join-room', { roomName: 'r' });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' });
    await b!.request('mesh/get-presence-state', { roomName: 'r' });
    const replies = raw.filter((r) => JSON.parse(r).id !== undefined);
    assert.equal(replies.length, 3);
    for (const r of replies) {
      const frame = JSON.parse(r);
      assert.equal(r, JSON.stringify({ id: frame.id, command: frame.command, payload: frame.payload }));
      assert.deepEqual(Object.keys(frame.payload), frame.command === 'mesh/join-room'
        ? ['success', 'present', 'metadata']
        : ['success', 'present', 'states', 'metadata']);
    }
  });

  test('changing what getPresence returned changes no later answer', async (t) => {
    const { server, url } = await startServer(t);
    const [a, b] = await clients(t, url, 2);
    await a!.request('mesh/join-room', { roomName: 'r' });
    const presence = await server.getPresence('r');
    presence.present.push('intruder');
    presence.metadata.intruder = { evil: true };
    presence.states[a!.id] = { forged: true };
    assert.deepEqual(await server.getPresence('r'), { present: [a!.id], states: {}, metadata: { [a!.id]: null } });
    await b!.request('mesh/subscribe-presence', { roomName: 'r' }); // entitled to the metadata map
    assert.deepEqual(await b!.request('mesh/get-presence-state', { roomName: 'r' }), {
      success: true,
      present: [a!.id],
      states: {},
      metadata: { [a!.id]: null },
    });
  });
});
