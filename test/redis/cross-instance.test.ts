/**
 * Several server instances on one Redis give one presence: members, states, metadata and
 * events cross instances in the order one instance gives them; a snapshot racing live
 * events merges without duplicates or gaps; key prefixes keep apps apart; an in-process
 * `createPresenceServer({ redis })` joins the same presence as the CLI instances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Instance } from '../helpers/instances.js';
import { logsOf, startInstances } from '../helpers/instances.js';
import { allKeys, redisCall, redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { startServer } from '../helpers/server.js';
import { eventsOf, eventually, isUpdate, presenceVia, quiet, raw, roomName, sharedContext, type TimedClient } from './helpers.js';

const T = { timeout: 20_000 };

describe('one presence over two instances', { skip: redisSkip }, () => {
  const shared = sharedContext();
  let redis: TestRedis;
  let A: Instance;
  let B: Instance;

  before(async () => {
    redis = await startRedis(shared);
    [A, B] = (await startInstances(shared, redis.url, 2)) as [Instance, Instance];
  });
  after(() => shared.runAll());

  test('join, state and leave cross instances, in the order one instance gives them', T, async (t) => {
    const room = roomName('order');
    const onA = await raw(t, A.url); // a subscriber on the member's own instance: the reference order
    const onB = await raw(t, B.url);
    for (const sub of [onA, onB]) assert.equal((await sub.request('mesh/subscribe-presence', { roomName: room })).success, true);

    const m = await raw(t, A.url);
    await m.request('mesh/set-my-connection-metadata', { metadata: { name: 'Mia' } });
    assert.equal((await m.request('mesh/join-room', { roomName: room })).success, true);
    assert.equal(await m.request('mesh/publish-presence-state', { roomName: room, state: { n: 1 } }), true);
    assert.equal(await m.request('mesh/publish-presence-state', { roomName: room, state: { n: 2 } }), true);
    assert.equal(await m.request('mesh/clear-presence-state', { roomName: room }), true);
    assert.equal(await m.request('mesh/publish-presence-state', { roomName: room, state: { n: 3 } }), true);
    assert.equal((await m.request('mesh/leave-room', { roomName: room })).success, true);
    assert.equal((await m.request('mesh/join-room', { roomName: room })).success, true);
    assert.equal(await m.request('mesh/publish-presence-state', { roomName: room, state: { n: 4 } }), true);
    await m.close();

    const expected = ['join', 'state:{"n":1}', 'state:{"n":2}', 'state:null', 'state:{"n":3}', 'leave', 'join', 'state:{"n":4}', 'leave'];
    // wait for the last leave (the second one), then compare whole sequences
    for (const sub of [onA, onB]) {
      await sub.waitFor(() => eventsOf(sub, room, m.id).length >= expected.length, 5_000).catch(() => {});
    }
    assert.deepEqual(eventsOf(onA, room, m.id), expected, 'the subscriber on the same instance');
    assert.deepEqual(eventsOf(onB, room, m.id), expected, `the subscriber on the other instance\n${logsOf([A, B])}`);
    const join = onB.frames.find(isUpdate('join', m.id, room))!;
    assert.deepEqual(join.payload.metadata, { name: 'Mia' }, 'the join carries the metadata across');

    // and the other way round: a member on B, seen from A
    const n = await raw(t, B.url);
    await n.request('mesh/join-room', { roomName: room });
    await n.request('mesh/publish-presence-state', { roomName: room, state: { from: 'B' } });
    await onA.waitFor(isUpdate('state', n.id, room), 3_000);
    assert.deepEqual(eventsOf(onA, room, n.id), ['join', 'state:{"from":"B"}']);
  });

  test('get-presence-state and a subscribe snapshot include the members of every instance', T, async (t) => {
    const room = roomName('snapshot');
    const a1 = await raw(t, A.url);
    const b1 = await raw(t, B.url);
    const a2 = await raw(t, A.url);
    await a1.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } });
    for (const member of [a1, b1, a2]) assert.equal((await member.request('mesh/join-room', { roomName: room })).success, true);
    await a1.request('mesh/publish-presence-state', { roomName: room, state: { status: 'busy' } });
    await b1.request('mesh/publish-presence-state', { roomName: room, state: { status: 'away' } });

    for (const [label, url] of [['A', A.url], ['B', B.url]] as const) {
      const { present, states } = await presenceVia(url, room);
      assert.deepEqual(present, [a1.id, b1.id, a2.id], `get-presence-state on ${label}: every member, in join order`);
      assert.deepEqual(states, { [a1.id]: { status: 'busy' }, [b1.id]: { status: 'away' } }, `states on ${label}`);
    }
    const sub = await raw(t, B.url);
    const snapshot = await sub.request('mesh/subscribe-presence', { roomName: room });
    assert.deepEqual(snapshot.present, [a1.id, b1.id, a2.id]);
    assert.deepEqual(snapshot.states, { [a1.id]: { status: 'busy' }, [b1.id]: { status: 'away' } });
    assert.deepEqual(snapshot.metadata, { [a1.id]: { name: 'Ann' }, [b1.id]: null, [a2.id]: null }, 'metadata of members on A, read on B');
  });

  test('connection metadata crosses instances: join reply, get-connection-metadata, the update push, and who may read it', T, async (t) => {
    const room = roomName('metadata');
    const a = await raw(t, A.url);
    const b = await raw(t, B.url);
    const stranger = await raw(t, B.url);
    await a.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann', team: 'red' } });
    await a.request('mesh/join-room', { roomName: room });
    const joined = await b.request('mesh/join-room', { roomName: room });
    assert.deepEqual(joined.metadata, { [a.id]: { name: 'Ann', team: 'red' }, [b.id]: null });
    assert.deepEqual(await b.request('mesh/get-connection-metadata', { connectionId: a.id }), { metadata: { name: 'Ann', team: 'red' } });

    assert.deepEqual(
      await a.request('mesh/set-my-connection-metadata', { metadata: { team: 'blue' }, options: { strategy: 'merge' } }),
      { success: true },
    );
    assert.deepEqual(
      await b.request('mesh/get-connection-metadata', { connectionId: a.id }),
      { metadata: { name: 'Ann', team: 'blue' } },
      'a change made through A is what B reads right after',
    );
    const pushed = await b.waitFor((f) => f.command === 'mesh/metadata-update' && f.payload.connectionId === a.id, 3_000);
    assert.deepEqual(pushed.payload.metadata, { name: 'Ann', team: 'blue' }, 'the metadata-update push crosses instances');
    assert.deepEqual(
      await stranger.request('mesh/get-connection-metadata', { connectionId: a.id }),
      { metadata: null },
      'a connection sharing no room with A’s member reads nothing, across instances too',
    );
    assert.deepEqual(stranger.frames.filter((f) => f.command === 'mesh/metadata-update'), [], 'and is not pushed the change');
  });

  test('expireAfter set through one instance fires for subscribers of the other', T, async (t) => {
    const room = roomName('expire');
    const sub = await raw(t, B.url);
    await sub.request('mesh/subscribe-presence', { roomName: room });
    const a = await raw(t, A.url);
    await a.request('mesh/join-room', { roomName: room });
    const sentAt = performance.now();
    assert.equal(await a.request('mesh/publish-presence-state', { roomName: room, state: { typing: true }, expireAfter: 400 }), true);
    const set = await sub.waitFor(isUpdate('state', a.id, room), 3_000);
    assert.deepEqual(set.payload.state, { typing: true });
    const cleared = await sub.waitFor((f) => isUpdate('state', a.id, room)(f) && f.payload.state === null, 4_000);
    const after = sub.times[sub.frames.indexOf(cleared)]! - sentAt;
    console.log(`expireAfter 400 ms set on A: state null seen on B after ${after.toFixed(0)} ms`);
    assert.ok(after >= 380, `the state expired early: after ${after.toFixed(0)} ms`);
    assert.ok(after <= 400 + 1_500, `the state expired late: after ${after.toFixed(0)} ms`);
    assert.deepEqual((await presenceVia(B.url, room)).states, {}, 'the expired state is gone from the store');
  });

  test('a snapshot racing a stream of publishes from the other instance has no duplicates and no gaps', T, async (t) => {
    const room = roomName('race');
    const total = 120;
    const publisher = await raw(t, A.url);
    await publisher.request('mesh/join-room', { roomName: room });
    const subscribers: TimedClient[] = [];
    for (let i = 0; i < 6; i++) subscribers.push(await raw(t, i % 2 === 0 ? B.url : A.url));

    // publishes pipelined back to back; subscribers subscribe at staggered moments meanwhile
    const publishing = Promise.all(
      Array.from({ length: total }, (_, i) => publisher.request('mesh/publish-presence-state', { roomName: room, state: { n: i + 1 } }, 10_000)),
    );
    const snapshots = await Promise.all(
      subscribers.map(async (sub, i) => {
        await quiet(i * 15);
        const reply = await sub.request('mesh/subscribe-presence', { roomName: room }, 10_000);
        return { reply, index: sub.frames.findIndex((f) => f.payload === reply) };
      }),
    );
    assert.ok((await publishing).every((ok) => ok === true), 'every publish was accepted');

    for (const [i, sub] of subscribers.entries()) {
      const { reply, index } = snapshots[i]!;
      const start = (reply.states[publisher.id]?.n as number | undefined) ?? 0;
      if (start < total) {
        // the last one; a gap or a loss shows in the comparison below
        await sub.waitFor((f) => isUpdate('state', publisher.id, room)(f) && f.payload.state?.n === total, 3_000, index + 1).catch(() => {});
      }
      const live = sub.frames
        .slice(index + 1)
        .filter(isUpdate('state', publisher.id, room))
        .map((f) => f.payload.state.n as number);
      const expected = Array.from({ length: total - start }, (_, k) => start + k + 1);
      assert.deepEqual(
        live,
        expected,
        `subscriber ${i} (on ${i % 2 === 0 ? 'B' : 'A'}): snapshot had n=${start}; the live events after it must be exactly ${start + 1}…${total}`,
      );
      const early = sub.frames.slice(0, index).filter(isUpdate('state', publisher.id, room));
      assert.deepEqual(early, [], `subscriber ${i}: no event before its snapshot reply`);
    }
    const spread = snapshots.map((s) => (s.reply.states[publisher.id]?.n as number | undefined) ?? 0);
    console.log(`snapshot race: snapshots caught n = ${spread.join(', ')} of ${total}`);
    assert.ok(spread.some((n) => n > 0 && n < total), `at least one snapshot was taken mid-stream (n = ${spread.join(', ')}), or nothing raced`);
  });

  test('createPresenceServer({ redis }) in-process shares presence with the CLI instances; close() leaves at once', T, async (t) => {
    const room = roomName('in-process');
    const { server, url } = await startServer(t, { redis: redis.url });
    const { server: other } = await startServer(t, { redis: { url: redis.url, prefix: 'mesh-presence:', instanceTimeout: 2_000 } });
    assert.equal(typeof server.instanceId, 'string');
    assert.notEqual(server.instanceId, other.instanceId, 'each server has its own instance id');

    const sub = await raw(t, B.url);
    await sub.request('mesh/subscribe-presence', { roomName: room });
    const local = await raw(t, url);
    await local.request('mesh/join-room', { roomName: room });
    await local.request('mesh/publish-presence-state', { roomName: room, state: { where: 'in-process' } });
    await sub.waitFor(isUpdate('state', local.id, room), 3_000);

    const remote = await raw(t, B.url);
    await remote.request('mesh/join-room', { roomName: room });
    const presence = await eventually(
      () => server.getPresence(room),
      (p) => p.present.length === 2,
      3_000,
      'getPresence on the in-process server sees the member of B',
    );
    assert.deepEqual(presence.present, [local.id, remote.id]);
    assert.deepEqual(presence.states, { [local.id]: { where: 'in-process' } });

    await server.setRoomMetadata(room, { topic: 'shared' });
    assert.deepEqual(await remote.request('mesh/get-room-metadata', { roomName: room }), { metadata: { topic: 'shared' } });

    const closing = performance.now();
    await server.close();
    const leave = await sub.waitFor(isUpdate('leave', local.id, room), 3_000);
    const took = sub.times[sub.frames.indexOf(leave)]! - closing;
    console.log(`clean close() of an in-process instance: leave seen on B after ${took.toFixed(0)} ms`);
    assert.ok(took < 1_500, `a clean shutdown leaves at once, not after the instance timeout (took ${took.toFixed(0)} ms)`);
    assert.deepEqual((await presenceVia(B.url, room)).present, [remote.id]);
  });
});

describe('key prefixes', { skip: redisSkip }, () => {
  test('two apps with different prefixes on one Redis do not see each other; every key and channel is prefixed', T, async (t) => {
    const redis = await startRedis(t);
    const app1 = await startServer(t, { redis: { url: redis.url, prefix: 'app1:' } });
    const app1b = await startServer(t, { redis: { url: redis.url, prefix: 'app1:' } });
    const app2 = await startServer(t, { redis: { url: redis.url, prefix: 'app2:' } });
    const room = 'same-room-name';

    const sub1 = await raw(t, app1b.url);
    const sub2 = await raw(t, app2.url);
    for (const sub of [sub1, sub2]) await sub.request('mesh/subscribe-presence', { roomName: room });
    const member1 = await raw(t, app1.url);
    await member1.request('mesh/join-room', { roomName: room });
    await member1.request('mesh/publish-presence-state', { roomName: room, state: { app: 1 } });
    const member2 = await raw(t, app2.url);
    await member2.request('mesh/join-room', { roomName: room });

    await sub1.waitFor(isUpdate('state', member1.id, room), 3_000);
    await sub2.waitFor(isUpdate('join', member2.id, room), 3_000);
    await quiet(200); // anything leaking across would have arrived by now
    assert.deepEqual(sub1.updates(room).filter((u) => u.connectionId === member2.id), [], 'app1 sees nothing of app2');
    assert.deepEqual(sub2.updates(room).filter((u) => u.connectionId === member1.id), [], 'app2 sees nothing of app1');
    assert.deepEqual((await presenceVia(app1b.url, room)).present, [member1.id]);
    assert.deepEqual((await presenceVia(app2.url, room)).present, [member2.id]);

    const keys = await allKeys(redis.port);
    assert.ok(keys.length > 0, 'presence is in Redis');
    const unprefixed = keys.filter((key) => !key.startsWith('app1:') && !key.startsWith('app2:'));
    assert.deepEqual(unprefixed, [], 'every key carries its app’s prefix');
    assert.ok(keys.some((key) => key.startsWith('app1:')) && keys.some((key) => key.startsWith('app2:')), `keys of both apps: ${keys.join(' ')}`);
    const channels = [
      ...((await redisCall(redis.port, 'PUBSUB', 'CHANNELS')) as string[]),
      ...((await redisCall(redis.port, 'PUBSUB', 'SHARDCHANNELS')) as string[]),
    ];
    const patterns = (await redisCall(redis.port, 'PUBSUB', 'NUMPAT')) as number;
    assert.ok(channels.length > 0 || patterns > 0, 'the instances subscribe to something');
    const stray = channels.filter((channel) => !channel.startsWith('app1:') && !channel.startsWith('app2:'));
    assert.deepEqual(stray, [], 'every pub/sub channel carries its app’s prefix');
  });
});
