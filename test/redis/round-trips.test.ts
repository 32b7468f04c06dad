/**
 * What a presence operation costs in Redis, counted with MONITOR on a real Redis while two
 * instances serve subscribers.
 *
 * What is counted: the commands Redis executed for the publishing instance's connections
 * in the window, as round trips: a MULTI…EXEC block is one, an EVAL/EVALSHA/FCALL is one
 * (the commands its script runs are reported with source `lua` and are not counted again),
 * every other command is one. Pipelined commands are counted one each, so the figure is an
 * upper bound on the real round trips. Background work of the instance in the window
 * (heartbeats, sweeps) is included too, and shown in the breakdown.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startInstance } from '../helpers/instances.js';
import { monitorRedis, redisCall, redisSkip, startRedis, type MonitoredCommand } from '../helpers/redis.js';
import { isUpdate, raw } from './helpers.js';

/** Client addresses (`ip:port`) connected now, except the probe asking. */
async function clientAddresses(port: number): Promise<Set<string>> {
  const list = (await redisCall(port, 'CLIENT', 'LIST')) as string;
  return new Set(
    list
      .split('\n')
      .filter((line) => line && !/ cmd=client\|list /.test(line))
      .map((line) => /(?:^| )addr=(\S+)/.exec(line)![1]!),
  );
}

interface Cost {
  roundTrips: number;
  byCommand: Record<string, number>;
  unknownSources: string[];
}

/** Round trips of the connections in `sources` (and of any unknown one, conservatively). */
function cost(commands: MonitoredCommand[], sources: Set<string>, others: Set<string>): Cost {
  const byCommand: Record<string, number> = {};
  const inMulti = new Set<string>();
  const unknown = new Set<string>();
  let roundTrips = 0;
  for (const c of commands) {
    if (c.source === 'lua' || others.has(c.source)) continue;
    if (!sources.has(c.source)) unknown.add(c.source);
    if (c.name === 'MULTI') {
      inMulti.add(c.source);
      roundTrips++;
      byCommand['MULTI…EXEC'] = (byCommand['MULTI…EXEC'] ?? 0) + 1;
      continue;
    }
    if (c.name === 'EXEC' || c.name === 'DISCARD') {
      inMulti.delete(c.source);
      continue;
    }
    if (inMulti.has(c.source)) continue;
    roundTrips++;
    byCommand[c.name] = (byCommand[c.name] ?? 0) + 1;
  }
  return { roundTrips, byCommand, unknownSources: [...unknown] };
}

const breakdown = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');

describe('Redis round trips', { skip: redisSkip }, () => {
  test('a publish costs at most 2 round trips from the publishing instance, and one PUBLISH whatever the subscribers', { timeout: 40_000 }, async (t) => {
    const redis = await startRedis(t);
    const room = 'round-trips';
    const A = await startInstance(t, redis.url, { name: 'A' });
    const publisher = await raw(t, A.url);
    await publisher.request('mesh/join-room', { roomName: room });
    // warm-up: connections opened, scripts loaded
    await publisher.request('mesh/publish-presence-state', { roomName: room, state: { n: 0 } });
    const aSources = await clientAddresses(redis.port);
    const B = await startInstance(t, redis.url, { name: 'B' });
    const subscribers = [await raw(t, A.url), await raw(t, B.url), await raw(t, B.url)];
    for (const sub of subscribers) await sub.request('mesh/subscribe-presence', { roomName: room });
    const mover = await raw(t, A.url);
    await mover.request('mesh/join-room', { roomName: 'warm-up' });
    await mover.request('mesh/leave-room', { roomName: 'warm-up' });
    const bSources = new Set([...(await clientAddresses(redis.port))].filter((addr) => !aSources.has(addr)));

    // N publishes, one after the other
    const N = 100;
    let monitor = await monitorRedis(redis.port);
    for (let i = 1; i <= N; i++) {
      assert.equal(await publisher.request('mesh/publish-presence-state', { roomName: room, state: { n: i } }), true);
    }
    for (const sub of subscribers) await sub.waitFor((f) => isUpdate('state', publisher.id, room)(f) && f.payload.state.n === N, 5_000);
    let seen = await monitor.stop();
    const publish = cost(seen, aSources, bSources);
    const onB = cost(seen, bSources, aSources);
    const published = seen.filter((c) => c.name === 'PUBLISH' || c.name === 'SPUBLISH').length;
    const perPublish = publish.roundTrips / N;
    console.log(
      `${N} publishes through A (1 subscriber on A, 2 on B): ${publish.roundTrips} round trips from A = ${perPublish.toFixed(2)} per publish ` +
        `[${breakdown(publish.byCommand)}]; PUBLISH executed ${published} times (scripts included); ` +
        `B issued ${onB.roundTrips} commands meanwhile [${breakdown(onB.byCommand)}]`,
    );
    if (publish.unknownSources.length) console.log(`commands from connections opened during the window, counted as A's: ${publish.unknownSources.join(' ')}`);
    assert.ok(perPublish <= 2, `a publish costs ${perPublish.toFixed(2)} round trips (target ≤ 2): ${breakdown(publish.byCommand)}`);
    assert.ok(published >= N, `every publish crossed to the other instance through PUBLISH: ${published} for ${N}`);
    assert.ok(published <= N * 1.1 + 5, `one PUBLISH per event, not per subscriber or instance: ${published} for ${N} events`);
    assert.ok(onB.roundTrips <= N * 0.1 + 5, `the receiving instance fans out without per-event commands: ${onB.roundTrips} for ${N} events`);

    // join and leave, for the record (and a loose bound)
    const J = 20;
    const rooms = Array.from({ length: J }, (_, i) => `${room}-${i}`);
    monitor = await monitorRedis(redis.port);
    for (const name of rooms) assert.equal((await mover.request('mesh/join-room', { roomName: name })).success, true);
    seen = await monitor.stop();
    const join = cost(seen, aSources, bSources);
    monitor = await monitorRedis(redis.port);
    for (const name of rooms) assert.equal((await mover.request('mesh/leave-room', { roomName: name })).success, true);
    seen = await monitor.stop();
    const leave = cost(seen, aSources, bSources);
    console.log(
      `join-room: ${(join.roundTrips / J).toFixed(2)} round trips each [${breakdown(join.byCommand)}]; ` +
        `leave-room: ${(leave.roundTrips / J).toFixed(2)} each [${breakdown(leave.byCommand)}]`,
    );
    assert.ok(join.roundTrips / J <= 3, `a join costs ${(join.roundTrips / J).toFixed(2)} round trips: ${breakdown(join.byCommand)}`);
    assert.ok(leave.roundTrips / J <= 3, `a leave costs ${(leave.roundTrips / J).toFixed(2)} round trips: ${breakdown(leave.byCommand)}`);
  });
});
