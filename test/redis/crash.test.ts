/**
 * An instance that dies without cleanup (`kill -9`) leaves no ghosts: the survivors notice
 * through its heartbeat key and remove its connections, so every subscriber elsewhere gets
 * one `leave` per room within the instance timeout; deadlines it set (`expireAfter`) are
 * enforced by a survivor.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logsOf } from '../helpers/instances.js';
import { redisSkip } from '../helpers/redis.js';
import { cluster, eventsOf, isUpdate, presenceVia, quiet, raw, type TimedClient } from './helpers.js';

const INSTANCE_TIMEOUT = 2_000;
/** Delivery and scheduling on a small shared machine, over the bound itself. */
const SLACK = 1_000;

describe('an instance killed with SIGKILL', { skip: redisSkip }, () => {
  test('every subscriber on the other instances gets a leave for each of its connections, once, within the bound', { timeout: 30_000 }, async (t) => {
    const { instances } = await cluster(t, 3, { instanceTimeout: INSTANCE_TIMEOUT });
    const [A, B, C] = instances as [typeof instances[0], typeof instances[0], typeof instances[0]];
    const [r1, r2] = ['crash-1', 'crash-2'];

    // subscribers on the survivors (and one on the victim, which dies with it)
    const subs: Array<{ client: TimedClient; rooms: string[]; where: string }> = [
      { client: await raw(t, B.url), rooms: [r1, r2], where: 'B' },
      { client: await raw(t, B.url), rooms: [r1], where: 'B' },
      { client: await raw(t, C.url), rooms: [r1, r2], where: 'C' },
      { client: await raw(t, C.url), rooms: [r2], where: 'C' },
    ];
    const doomedSub = await raw(t, A.url);
    for (const { client, rooms } of [...subs, { client: doomedSub, rooms: [r1, r2] }]) {
      for (const room of rooms) assert.equal((await client.request('mesh/subscribe-presence', { roomName: room })).success, true);
    }

    // members on A (the victim) and one on each survivor
    const victims = await Promise.all([raw(t, A.url), raw(t, A.url), raw(t, A.url), raw(t, A.url)]);
    const membership: Array<[TimedClient, string[]]> = [
      [victims[0]!, [r1, r2]],
      [victims[1]!, [r1, r2]],
      [victims[2]!, [r1]],
      [victims[3]!, [r2]],
    ];
    for (const [member, rooms] of membership) {
      for (const room of rooms) {
        await member.request('mesh/join-room', { roomName: room });
        await member.request('mesh/publish-presence-state', { roomName: room, state: { on: 'A' } });
      }
    }
    const keepB = await raw(t, B.url);
    await keepB.request('mesh/join-room', { roomName: r1 });
    await keepB.request('mesh/publish-presence-state', { roomName: r1, state: { on: 'B' } });
    const keepC = await raw(t, C.url);
    await keepC.request('mesh/join-room', { roomName: r2 });

    // everyone has seen everything before the crash
    for (const { client, rooms } of subs) {
      for (const room of rooms) {
        for (const [member, memberRooms] of membership) {
          if (memberRooms.includes(room)) await client.waitFor(isUpdate('state', member.id, room), 3_000);
        }
      }
    }

    const killedAt = performance.now();
    await A.kill();

    const delays: number[] = [];
    for (const { client, rooms, where } of subs) {
      for (const room of rooms) {
        for (const [member, memberRooms] of membership) {
          if (!memberRooms.includes(room)) continue;
          const leave = await client
            .waitFor(isUpdate('leave', member.id, room), INSTANCE_TIMEOUT + 3 * SLACK)
            .catch((err: Error) => assert.fail(`subscriber on ${where} got no leave for ${member.id} in ${room}: ${err.message}\n${logsOf([B, C])}`));
          delays.push(client.times[client.frames.indexOf(leave)]! - killedAt);
        }
      }
    }
    delays.sort((a, b) => a - b);
    const fmt = (ms: number) => ms.toFixed(0);
    console.log(
      `kill -9 of 1 of 3 instances: ${delays.length} leaves seen on B and C after ` +
        `min ${fmt(delays[0]!)} / median ${fmt(delays[delays.length >> 1]!)} / max ${fmt(delays.at(-1)!)} ms ` +
        `(instanceTimeout ${INSTANCE_TIMEOUT} ms)`,
    );
    assert.ok(
      delays.at(-1)! <= INSTANCE_TIMEOUT + SLACK,
      `the last leave came ${fmt(delays.at(-1)!)} ms after the kill; bound ${INSTANCE_TIMEOUT} ms (+${SLACK} ms slack)`,
    );

    await quiet(300); // a second sweeper's duplicate leaves would be here by now
    for (const { client, rooms, where } of subs) {
      for (const room of rooms) {
        for (const [member, memberRooms] of membership) {
          if (!memberRooms.includes(room)) continue;
          assert.deepEqual(
            eventsOf(client, room, member.id).filter((e) => e === 'leave' || e === 'join'),
            ['join', 'leave'],
            `subscriber on ${where}, ${member.id} in ${room}: one join, then exactly one leave`,
          );
          assert.ok(
            !eventsOf(client, room, member.id).includes('state:null'),
            `subscriber on ${where}: a removed member gets a leave, no state: null before it`,
          );
        }
        assert.deepEqual(eventsOf(client, room, keepB.id).filter((e) => e === 'leave'), [], 'no leave for the live member on B');
        assert.deepEqual(eventsOf(client, room, keepC.id).filter((e) => e === 'leave'), [], 'no leave for the live member on C');
      }
    }
    for (const url of [B.url, C.url]) {
      assert.deepEqual(await presenceVia(url, r1), { present: [keepB.id], states: { [keepB.id]: { on: 'B' } } });
      assert.deepEqual(await presenceVia(url, r2), { present: [keepC.id], states: {} });
    }
    assert.ok(B.alive && C.alive, 'the survivors are still running');
  });

  test('an expireAfter deadline set through the crashed instance is enforced by a survivor', { timeout: 30_000 }, async (t) => {
    // a timeout well above the expiry, so that the state's expiry cannot be the crash sweep
    const timeout = 4_000;
    const { instances } = await cluster(t, 2, { instanceTimeout: timeout });
    const [A, B] = instances as [typeof instances[0], typeof instances[0]];
    const room = 'crash-expire';
    const sub = await raw(t, B.url);
    await sub.request('mesh/subscribe-presence', { roomName: room });
    const member = await raw(t, A.url);
    await member.request('mesh/join-room', { roomName: room });
    const expireAfter = 600;
    const publishedAt = performance.now();
    assert.equal(await member.request('mesh/publish-presence-state', { roomName: room, state: { typing: true }, expireAfter }), true);
    await A.kill();
    const killedAt = performance.now();

    const cleared = await sub.waitFor((f) => isUpdate('state', member.id, room)(f) && f.payload.state === null, expireAfter + 3 * SLACK);
    const clearedAfter = sub.times[sub.frames.indexOf(cleared)]! - publishedAt;
    const leave = await sub.waitFor(isUpdate('leave', member.id, room), timeout + 3 * SLACK);
    const leaveAfter = sub.times[sub.frames.indexOf(leave)]! - killedAt;
    console.log(
      `expireAfter ${expireAfter} ms set on A, A killed ${(killedAt - publishedAt).toFixed(0)} ms later: ` +
        `state null on B after ${clearedAfter.toFixed(0)} ms, leave ${leaveAfter.toFixed(0)} ms after the kill (instanceTimeout ${timeout})`,
    );
    assert.ok(clearedAfter >= expireAfter - 20, `expired early: ${clearedAfter.toFixed(0)} ms`);
    assert.ok(clearedAfter <= expireAfter + SLACK, `expired ${clearedAfter.toFixed(0)} ms after the publish; deadline ${expireAfter} ms`);
    assert.deepEqual(eventsOf(sub, room, member.id), ['join', 'state:{"typing":true}', 'state:null', 'leave']);
    assert.ok(leaveAfter <= timeout + SLACK, `leave ${leaveAfter.toFixed(0)} ms after the kill; bound ${timeout} ms`);
  });
});
