/**
 * Regression tests for the Redis store's review findings: an instance paused past its
 * timeout, a stalled Redis, an event channel lagging behind replies, a resync racing with
 * joins, commands on a connection Redis lost, ill-formed room names, a Redis restarted from
 * an RDB snapshot, clean close(), listen() waiting for Redis, and the health endpoint while
 * Redis is down.
 *
 * Most go through real servers (CLI processes or in-process, real sockets); a few need the
 * store API itself (a lagging event channel, a resync under load) and use `RedisStore`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/server/redis-store.js';
import { createPresenceServer, type Logger } from '../../src/server/index.js';
import { logsOf, startInstance } from '../helpers/instances.js';
import { allKeys, redisCall, redisSkip, startRedis } from '../helpers/redis.js';
import { silentLogger, startServer } from '../helpers/server.js';
import { eventsOf, eventually, isUpdate, presenceVia, quiet, raw } from './helpers.js';

const PREFIX = 'mesh-presence:';

/** A logger that keeps every call, for "what was logged" checks. */
function recordingLogger(): Logger & { calls: Array<{ level: string; items: unknown[] }> } {
  const calls: Array<{ level: string; items: unknown[] }> = [];
  return {
    calls,
    info: (...items: unknown[]) => void calls.push({ level: 'info', items }),
    warn: (...items: unknown[]) => void calls.push({ level: 'warn', items }),
    error: (...items: unknown[]) => void calls.push({ level: 'error', items }),
  };
}

/** The names of the clients connected to Redis (CLIENT LIST; the probe's own connection has none). */
async function clientNames(port: number): Promise<string[]> {
  const list = String(await redisCall(port, 'CLIENT', 'LIST'));
  return list
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '');
}

/** GET on the server's health path; resolves the status code. */
async function health(wsUrl: string): Promise<number> {
  const url = new URL('/health', wsUrl.replace(/^ws/, 'http'));
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  await res.arrayBuffer();
  return res.status;
}

describe('Redis store robustness', { skip: redisSkip }, () => {
  test('an instance paused past the instance timeout is swept, then registers its members again with rooms, states and metadata', { timeout: 30_000 }, async (t) => {
    const timeout = 1_500;
    const redis = await startRedis(t);
    const A = await startInstance(t, redis.url, { instanceTimeout: timeout, name: 'paused' });
    const { url: bUrl } = await startServer(t, { redis: { url: redis.url, instanceTimeout: timeout } });
    const [room1, room2] = ['pause-1', 'pause-2'];
    const sub = await raw(t, bUrl);
    for (const room of [room1, room2]) assert.equal((await sub.request('mesh/subscribe-presence', { roomName: room })).success, true);

    const member = await raw(t, A.url);
    await member.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } });
    for (const room of [room1, room2]) assert.equal((await member.request('mesh/join-room', { roomName: room })).success, true);
    assert.equal(await member.request('mesh/publish-presence-state', { roomName: room1, state: { typing: true } }), true);
    assert.equal(await member.request('mesh/publish-presence-state', { roomName: room2, state: { n: 2 } }), true);
    await sub.waitFor(isUpdate('state', member.id, room1), 3_000);
    await sub.waitFor(isUpdate('state', member.id, room2), 3_000);

    // Paused until the other instance has swept it: a paused instance looks dead.
    process.kill(A.pid, 'SIGSTOP');
    try {
      for (const room of [room1, room2]) await sub.waitFor(isUpdate('leave', member.id, room), 4 * timeout);
    } finally {
      process.kill(A.pid, 'SIGCONT');
    }
    const from = sub.frames.length;

    const expected = {
      [room1]: { present: [member.id], states: { [member.id]: { typing: true } } },
      [room2]: { present: [member.id], states: { [member.id]: { n: 2 } } },
    };
    for (const room of [room1, room2]) {
      await eventually(
        () => presenceVia(bUrl, room),
        (seen) => JSON.stringify(seen) === JSON.stringify(expected[room]),
        4 * timeout,
        `presence of ${room} through the other instance after the paused one resumed\n${logsOf([A])}`,
      );
      await sub.waitFor(isUpdate('state', member.id, room), 3_000, from);
      assert.deepEqual(eventsOf(sub, room, member.id, from).slice(0, 2), ['join', `state:${JSON.stringify(expected[room].states[member.id])}`], `the subscriber hears ${room} join and state again`);
    }
    const rejoin = sub.frames.slice(from).find(isUpdate('join', member.id, room1))!;
    assert.deepEqual(rejoin.payload.metadata, { name: 'Ann' }, 'the member comes back with its metadata');
    assert.equal(
      await member.request('mesh/publish-presence-state', { roomName: room1, state: { typing: false } }),
      true,
      'the resumed instance’s client can publish again',
    );
    await sub.waitFor((f) => isUpdate('state', member.id, room1)(f) && f.payload.state?.typing === false, 3_000, from);
    assert.ok(A.alive, `the paused instance survived\n${logsOf([A])}`);
  });

  test('Redis stalled (SIGSTOP) past the instance timeout: no instance sweeps another’s live members', { timeout: 20_000 }, async (t) => {
    const timeout = 1_000;
    const redis = await startRedis(t);
    const opts = { redis: { url: redis.url, instanceTimeout: timeout } };
    const a = await startServer(t, opts);
    const b = await startServer(t, opts);
    const room = 'stall';
    const subA = await raw(t, a.url);
    const subB = await raw(t, b.url);
    for (const sub of [subA, subB]) await sub.request('mesh/subscribe-presence', { roomName: room });
    const mA = await raw(t, a.url);
    const mB = await raw(t, b.url);
    for (const [m, where] of [[mA, 'A'], [mB, 'B']] as const) {
      await m.request('mesh/join-room', { roomName: room });
      assert.equal(await m.request('mesh/publish-presence-state', { roomName: room, state: { on: where } }), true);
    }
    for (const sub of [subA, subB]) for (const m of [mA, mB]) await sub.waitFor(isUpdate('state', m.id, room), 3_000);
    // Both instances have been connected long enough that their sweeps are armed.
    await quiet(timeout);

    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await quiet(2 * timeout); // every heartbeat is now older than the timeout; TCP stays up
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // a few heartbeat and sweep intervals after Redis answers again
    await quiet(2 * timeout);

    for (const [sub, where] of [[subA, 'A'], [subB, 'B']] as const) {
      for (const m of [mA, mB]) {
        assert.deepEqual(
          eventsOf(sub, room, m.id).filter((e) => e === 'leave'),
          [],
          `the subscriber on ${where} got no leave for live member ${m.id} after the stall`,
        );
      }
    }
    const truth = { present: [mA.id, mB.id].sort(), states: { [mA.id]: { on: 'A' }, [mB.id]: { on: 'B' } } };
    for (const url of [a.url, b.url]) {
      const seen = await presenceVia(url, room);
      assert.deepEqual({ present: [...seen.present].sort(), states: seen.states }, truth, 'presence is intact after the stall');
    }
    for (const m of [mA, mB]) {
      assert.equal(await m.request('mesh/publish-presence-state', { roomName: room, state: { after: true } }), true, 'members can still publish');
    }
  });

  test('leave then join again while the event channel lags: the membership survives and its ttl refresh keeps it', { timeout: 30_000 }, async (t) => {
    const redis = await startRedis(t);
    // a subscriber this far behind would be cut at 32 MB; the lag, not the cut, is the point
    assert.equal(await redisCall(redis.port, 'CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 0 0 0'), 'OK');
    const store = new RedisStore({ url: redis.url, instanceTimeout: 10_000, logger: silentLogger });
    t.after(() => store.close());
    await store.ready();
    const publisher = new Redis(redis.url);
    t.after(() => publisher.disconnect());
    const seen: string[] = [];
    store.subscribe((e) => {
      if (e.connectionId === 'c1') seen.push(e.type);
    });
    const ttl = 1_000;
    await store.addConnection('c1', null, 'inst-lag');
    assert.equal(await store.join('room', 'c1', { ttl }), true, 'first join');
    await eventually(async () => seen.length, (n) => n === 1, 3_000, 'the first join comes through the event channel');

    // Traffic of other rooms on the shared channel puts the event connection behind the
    // command connection; the client leaves and rejoins at once (e.g. a re-render).
    let lagged = false;
    for (let round = 0, junk = 8_000; round < 3 && !lagged; round++, junk *= 2) {
      const pipe = publisher.pipeline();
      const filler = 'x'.repeat(2_000);
      for (let i = 0; i < junk; i++) pipe.publish(`${PREFIX}events`, filler);
      await pipe.exec();
      const before = seen.length;
      assert.equal(await store.leave('room', 'c1'), true, 'leave');
      assert.equal(await store.join('room', 'c1', { ttl }), true, 'join again');
      lagged = seen.length === before;
      // refreshed meanwhile, as the server does on each pong: waiting out the backlog can take
      // longer than the ttl on a loaded machine, and an expiry here is not what is tested
      await eventually(
        async () => (await store.refresh('room', 'c1'), seen.length),
        (n) => n >= before + 2,
        15_000,
        'the leave and the join come through the event channel',
      );
    }
    assert.ok(lagged, 'precondition: the leave event arrived after the rejoin was answered');

    assert.deepEqual(await store.roomsOf('c1'), ['room'], 'the connection is still in the room (local record)');
    assert.equal(await store.isMember('room', 'c1'), true, 'the connection is still in the room in Redis');
    // refreshed as the server does on each pong, for twice the ttl
    const until = Date.now() + 2 * ttl;
    while (Date.now() < until) {
      assert.equal(await store.refresh('room', 'c1'), true, 'each refresh finds the member (its ttl was kept)');
      await quiet(200);
    }
    assert.equal(await store.isMember('room', 'c1'), true, 'the refreshed member is still present after twice its ttl');
  });

  test('a resync racing with joins does not undo joins that were answered true', { timeout: 30_000 }, async (t) => {
    const redis = await startRedis(t);
    const store = new RedisStore({ url: redis.url, instanceTimeout: 1_000, logger: silentLogger });
    t.after(() => store.close());
    await store.ready();
    const instance = 'inst-race';
    const ids = Array.from({ length: 1_000 }, (_, i) => `c${i}`);
    await Promise.all(ids.map((id) => store.addConnection(id, null, instance)));
    await Promise.all(ids.map((id) => store.join('base', id)));

    // Joins (one at a time per worker, as the server runs a connection's commands) keep
    // going while the instance's record is removed three times: each next heartbeat resyncs.
    const answered: Array<[string, string]> = [];
    const counts = new Map<string, number>();
    const started = Date.now();
    const workers = Array.from({ length: 20 }, async () => {
      while (Date.now() - started < 1_400) {
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        const n = (counts.get(id) ?? 0) + 1;
        counts.set(id, n);
        const room = `late-${n}`;
        if (await store.join(room, id)) answered.push([room, id]);
      }
    });
    const wipes = (async () => {
      for (let i = 0; i < 3; i++) {
        await quiet(350);
        await redisCall(redis.port, 'ZREM', `${PREFIX}instances`, instance);
      }
    })();
    await Promise.all([...workers, wipes]);
    await quiet(500); // the last resync finishes

    const byRoom = new Map<string, string[]>();
    for (const [room, id] of answered) byRoom.set(room, [...(byRoom.get(room) ?? []), id]);
    const lost: string[] = [];
    for (const [room, members] of byRoom) {
      const inRedis = new Set((await redisCall(redis.port, 'ZRANGE', `${PREFIX}r:${room}:m`, 0, -1)) as string[]);
      for (const id of members) if (!inRedis.has(id)) lost.push(`${id} in ${room}`);
    }
    const localDrift: string[] = [];
    for (const [room, id] of answered) if (!(await store.roomsOf(id)).includes(room)) localDrift.push(`${id} in ${room}`);
    console.log(`resync race: ${answered.length} joins answered true, ${lost.length} undone in Redis, ${localDrift.length} missing locally`);
    assert.ok(answered.length > 1_000, `enough joins raced with the resyncs (${answered.length})`);
    assert.deepEqual(lost.slice(0, 10), [], `joins answered true are in Redis (${lost.length} undone)`);
    assert.deepEqual(localDrift.slice(0, 10), [], `joins answered true are in the local record (${localDrift.length} missing)`);
  });

  test('join-room and set-my-connection-metadata on a connection Redis lost: success means it is stored', { timeout: 15_000 }, async (t) => {
    const redis = await startRedis(t);
    // a long timeout: the heartbeat (every 2 s) must not notice the loss before the commands
    const opts = { redis: { url: redis.url, instanceTimeout: 10_000 } };
    const a = await startServer(t, opts);
    const b = await startServer(t, opts);
    const room = 'lost';
    const member = await raw(t, a.url);
    // Redis lost its data (restart, failover to an empty replica); nobody has noticed yet
    assert.equal(await redisCall(redis.port, 'FLUSHALL'), 'OK');

    assert.deepEqual(await member.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } }), { success: true });
    const joined = await member.request('mesh/join-room', { roomName: room });
    assert.equal(joined.success, true, `join-room: ${JSON.stringify(joined)}`);
    assert.deepEqual((await presenceVia(b.url, room)).present, [member.id], 'a join answered with success is in the presence at once');

    const reader = await raw(t, b.url);
    const view = await reader.request('mesh/join-room', { roomName: room });
    assert.deepEqual(view.present, [member.id, reader.id], 'another instance sees the member');
    assert.deepEqual(view.metadata?.[member.id], { name: 'Ann' }, 'metadata answered with success is stored');
    assert.equal(await member.request('mesh/publish-presence-state', { roomName: room, state: { a: 1 } }), true, 'a later publish succeeds');
    assert.deepEqual((await presenceVia(b.url, room)).states, { [member.id]: { a: 1 } }, 'and its state is stored');
  });

  test('room names with lone surrogates are refused with EINVALID; the resync of other rooms still works', { timeout: 15_000 }, async (t) => {
    const redis = await startRedis(t);
    const { url } = await startServer(t, { redis: { url: redis.url, instanceTimeout: 1_000 } });
    const member = await raw(t, url);
    assert.equal((await member.request('mesh/join-room', { roomName: 'base' })).success, true);
    // each of these would become "\ufffd" in Redis: different names, one room
    for (const name of ['\ud800', '\udfff', 'a\udc00b', 'z\ud83d']) {
      for (const command of ['mesh/join-room', 'mesh/subscribe-presence', 'mesh/get-presence-state']) {
        const reply = await member.request(command, { roomName: name });
        assert.equal(reply?.success, false, `${command} ${JSON.stringify(name)}: ${JSON.stringify(reply)}`);
        assert.equal(reply?.error?.code, 'EINVALID', `${command} ${JSON.stringify(name)} is refused as invalid: ${JSON.stringify(reply)}`);
      }
    }
    // a well-formed pair is fine
    assert.equal((await member.request('mesh/join-room', { roomName: 'party 🎉' })).success, true, 'a surrogate pair is a fine room name');

    assert.equal(await redisCall(redis.port, 'FLUSHALL'), 'OK');
    for (const room of ['base', 'party 🎉']) {
      await eventually(() => presenceVia(url, room), (seen) => seen.present.includes(member.id), 4_000, `${room} is registered again after Redis lost its data`);
    }
  });

  test('RedisStore: one connection whose sync fails does not stop the resync of the others', { timeout: 15_000 }, async (t) => {
    const redis = await startRedis(t);
    const store = new RedisStore({ url: redis.url, instanceTimeout: 1_000, logger: silentLogger });
    t.after(() => store.close());
    await store.ready();
    const ids = Array.from({ length: 250 }, (_, i) => `c${i}`);
    for (const id of ids) await store.addConnection(id, null, 'inst-names');
    await Promise.all(ids.map((id) => store.join('base', id)));
    // The store may refuse it (fine); if it takes it, it must not poison the resync.
    await store.join('\ud800', 'c0').catch(() => false);

    assert.equal(await redisCall(redis.port, 'FLUSHALL'), 'OK');
    // c0 itself may stay out (its sync carries the bad name); every other one comes back
    const others = ids.slice(1);
    await eventually(
      async () => {
        const members = new Set((await redisCall(redis.port, 'ZRANGE', `${PREFIX}r:base:m`, 0, -1)) as string[]);
        return others.filter((id) => members.has(id)).length;
      },
      (back) => back === others.length,
      4_000,
      'every other connection is back in "base" after Redis lost its data',
    );
  });

  test('a missed-event resync whose snapshot races with a join sends no false leave', { timeout: 15_000 }, async (t) => {
    const redis = await startRedis(t);
    /** Runs `hook` once, after a snapshot was read and before it is returned: a slow reply. */
    class SlowSnapshotStore extends RedisStore {
      hook: (() => Promise<void>) | undefined;
      override async snapshot(roomName: string) {
        const snapshot = await super.snapshot(roomName);
        const hook = this.hook;
        this.hook = undefined;
        if (hook) await hook();
        return snapshot;
      }
    }
    const store = new SlowSnapshotStore({ url: redis.url, instanceTimeout: 1_000, logger: silentLogger });
    t.after(() => store.close());
    const { url } = await startServer(t, { store });
    const room = 'view-race';
    const sub = await raw(t, url);
    await sub.request('mesh/subscribe-presence', { roomName: room });
    const member = await raw(t, url);
    // The resync's snapshot reply comes after an event published just after it was read
    // (pub/sub is another socket): a member joins right then.
    const raced = new Promise<void>((resolve, reject) => {
      store.hook = async () => {
        try {
          assert.equal((await member.request('mesh/join-room', { roomName: room })).success, true);
          await sub.waitFor(isUpdate('join', member.id, room), 3_000);
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      };
    });
    // the event channel reconnects: events may have been missed, the server resyncs its views
    await redisCall(redis.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    await raced;
    await quiet(500); // a false leave would follow the resync at once
    assert.deepEqual(eventsOf(sub, room, member.id), ['join'], 'the subscriber heard the join and nothing else');
    assert.deepEqual((await presenceVia(url, room)).present, [member.id], 'the member is present');
  });

  test('the sequence number never goes backwards when Redis restarts from an RDB snapshot: later subscribers keep getting events', { timeout: 30_000 }, async (t) => {
    const redis = await startRedis(t); // no save points, but SAVE writes dump.rdb and a restart loads it
    const { url } = await startServer(t, { redis: { url: redis.url, instanceTimeout: 2_000 } });
    const room = 'persist';
    const early = await raw(t, url);
    await early.request('mesh/subscribe-presence', { roomName: room });
    const m1 = await raw(t, url);
    await m1.request('mesh/join-room', { roomName: room });
    assert.equal(await redisCall(redis.port, 'SAVE'), 'OK');
    const seqAtSave = Number(await redisCall(redis.port, 'GET', `${PREFIX}seq`));
    for (let i = 0; i < 30; i++) assert.equal(await m1.request('mesh/publish-presence-state', { roomName: room, state: { i } }), true);
    const late = await raw(t, url); // subscribed after the SAVE
    await late.request('mesh/subscribe-presence', { roomName: room });
    const seqBefore = Number(await redisCall(redis.port, 'GET', `${PREFIX}seq`));
    assert.ok(seqBefore > seqAtSave, `events after the SAVE advanced the seq (${seqAtSave} -> ${seqBefore})`);

    await redis.kill();
    await redis.start();
    assert.equal(
      Number(await redisCall(redis.port, 'GET', `${PREFIX}seq`)),
      seqAtSave,
      'precondition: Redis came back from the snapshot, with the older seq',
    );
    await eventually(() => health(url), (status) => status === 200, 5_000, 'the server is healthy again');

    const m3 = await eventually(
      () => raw(t, url),
      () => true,
      5_000,
      'a new client connects after the restart',
    );
    assert.equal((await eventually(() => m3.request('mesh/join-room', { roomName: room }), (r) => r?.success === true, 5_000, 'join after the restart')).success, true);
    // the join may come live or through the instance's resync after the reconnect; either way
    await late.waitFor(isUpdate('join', m3.id, room), 5_000);
    // by now any resync is done: what follows can only come live
    assert.equal(await m3.request('mesh/publish-presence-state', { roomName: room, state: { hello: 2 } }), true);
    assert.equal(await m1.request('mesh/publish-presence-state', { roomName: room, state: { i: 'after' } }), true);
    for (const [sub, name] of [[late, 'subscribed after the SAVE'], [early, 'subscribed before the SAVE']] as const) {
      await sub
        .waitFor((f) => isUpdate('state', m3.id, room)(f) && f.payload.state?.hello === 2, 3_000)
        .catch((err: Error) => assert.fail(`the subscriber ${name} missed a live state after the restart: ${err.message.slice(0, 300)}`));
      await sub
        .waitFor((f) => isUpdate('state', m1.id, room)(f) && f.payload.state?.i === 'after', 3_000)
        .catch((err: Error) => assert.fail(`the subscriber ${name} missed m1's state after the restart: ${err.message.slice(0, 300)}`));
    }
    const seqAfter = Number(await redisCall(redis.port, 'GET', `${PREFIX}seq`));
    assert.ok(seqAfter > seqBefore, `the seq after the restart (${seqAfter}) is past every one handed out before it (${seqBefore})`);
  });

  test('close() removes its connections and its instance record at once: RedisStore and createPresenceServer', { timeout: 20_000 }, async (t) => {
    const redis = await startRedis(t);
    // a long timeout, so that a leave seen within a second cannot be the sweep's
    const timeout = 5_000;

    const watcher = new RedisStore({ url: redis.url, instanceTimeout: timeout, logger: silentLogger });
    t.after(() => watcher.close());
    await watcher.ready();
    const leaves: string[] = [];
    watcher.subscribe((e) => {
      if (e.type === 'leave') leaves.push(`${e.connectionId}@${e.roomName}`);
    });
    const store = new RedisStore({ url: redis.url, instanceTimeout: timeout, logger: silentLogger });
    t.after(() => store.close());
    await store.ready();
    await store.addConnection('closing-conn', { name: 'Cleo' }, store.instanceId);
    await store.join('close-room', 'closing-conn');
    await store.setState('close-room', 'closing-conn', { on: true });
    await store.close();
    await eventually(async () => leaves, (l) => l.includes('closing-conn@close-room'), 1_000, 'a leave right after RedisStore.close()');
    const left = (await allKeys(redis.port)).filter((key) => key.includes('closing-conn') || key.includes(store.instanceId) || key.includes('close-room'));
    assert.deepEqual(left, [], 'no key of the closed store’s connection or instance is left');
    assert.equal(await redisCall(redis.port, 'ZSCORE', `${PREFIX}instances`, store.instanceId), null, 'its instance record is gone');

    // Redis connections by name (the server's are named after its store, the probe's has none)
    const ours = async () => (await clientNames(redis.port)).filter((name) => name.startsWith('mesh-presence')).sort();
    const before = await eventually(
      ours,
      (names) => !names.some((name) => name.includes(store.instanceId)),
      1_000,
      'the closed RedisStore’s Redis connections are gone',
    );

    const { server, url } = await startServer(t, { redis: { url: redis.url, instanceTimeout: timeout } });
    const withServer = await ours();
    const opened = withServer.filter((name) => !before.includes(name));
    assert.ok(opened.length > 0, `precondition: the server opened Redis connections; before ${JSON.stringify(before)}, after ${JSON.stringify(withServer)}`);
    const { url: otherUrl } = await startServer(t, { redis: { url: redis.url, instanceTimeout: timeout } });
    const otherOpened = (await ours()).filter((name) => !withServer.includes(name));
    const sub = await raw(t, otherUrl);
    await sub.request('mesh/subscribe-presence', { roomName: 'close-server' });
    const member = await raw(t, url);
    await member.request('mesh/join-room', { roomName: 'close-server' });
    await sub.waitFor(isUpdate('join', member.id, 'close-server'), 3_000);
    assert.ok(
      (await redisCall(redis.port, 'ZSCORE', `${PREFIX}instances`, server.instanceId)) !== null,
      'precondition: the server’s instance record is in Redis',
    );
    const closing = performance.now();
    await server.close();
    const leave = await sub.waitFor(isUpdate('leave', member.id, 'close-server'), 1_500);
    const took = sub.times[sub.frames.indexOf(leave)]! - closing;
    assert.ok(took < 1_500, `the leave came ${took.toFixed(0)} ms after close(), not after the sweep`);
    const serverKeys = (await allKeys(redis.port)).filter((key) => key.includes(member.id) || key.includes(server.instanceId));
    assert.deepEqual(serverKeys, [], 'no key of the closed server’s connection or instance is left');
    assert.equal(await redisCall(redis.port, 'ZSCORE', `${PREFIX}instances`, server.instanceId), null, 'the closed server’s instance record is gone');
    // close() closes the Redis connections it opened: what was there before, plus the other server's
    await eventually(
      ours,
      (names) => JSON.stringify(names) === JSON.stringify([...before, ...otherOpened].sort()),
      2_000,
      `after close() only the connections from before it started and the other server’s remain (the closed one had ${JSON.stringify(opened)})`,
    );
  });

  test('listen() waits until Redis answers, then resolves and serves', { timeout: 20_000 }, async (t) => {
    const redis = await startRedis(t);
    await redis.stop();
    const logger = recordingLogger();
    const server = createPresenceServer({ redis: redis.url, logger });
    t.after(() => server.close());
    let outcome = 'pending';
    const listening = server.listen(0, '127.0.0.1');
    listening.then(
      () => void (outcome = 'resolved'),
      (err: Error) => void (outcome = `rejected: ${err.message}`),
    );
    await quiet(500);
    assert.equal(outcome, 'pending', 'listen() is still pending 500 ms after it was called with Redis down');

    await redis.start();
    let timer: NodeJS.Timeout | undefined;
    const url = await Promise.race([
      listening,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`listen() did not resolve within 8 s of Redis coming back (${outcome})`)), 8_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+/, 'listen() resolves the server’s URL');
    const member = await raw(t, url);
    assert.equal((await member.request('mesh/join-room', { roomName: 'after-wait' })).success, true, 'the server serves once Redis answers');
  });

  test('the health endpoint answers 503 while Redis is down, without logging a stack per probe', { timeout: 15_000 }, async (t) => {
    const redis = await startRedis(t);
    const logger = recordingLogger();
    const { url } = await startServer(t, { redis: { url: redis.url, instanceTimeout: 2_000 }, logger });
    assert.equal(await health(url), 200, 'healthy while Redis is up');
    await redis.stop();
    await eventually(() => health(url), (status) => status === 503, 3_000, 'health turns 503 once Redis is down');

    const from = logger.calls.length;
    for (let i = 0; i < 5; i++) assert.equal(await health(url), 503, `probe ${i + 1} answers 503 while Redis is down`);
    const calls = logger.calls.slice(from);
    const shown = calls.map((c) => `${c.level}: ${c.items.map((x) => (x instanceof Error ? `[${x.name}] ${x.message}` : String(x))).join(' ')}`);
    const withStack = calls.filter((c) => c.items.some((x) => x instanceof Error || (typeof x === 'string' && /\n\s+at /.test(x))));
    assert.equal(withStack.length, 0, `no stack logged for a health probe; logged:\n${shown.join('\n')}`);
    assert.ok(calls.length <= 2, `at most a line or two for five probes, logged ${calls.length}:\n${shown.join('\n')}`);
  });
});
