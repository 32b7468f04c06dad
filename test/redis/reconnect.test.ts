/**
 * A client that reconnects through the load balancer lands on another instance: presence
 * is restored there with no ghost (the old connection leaves, once) and no duplicate (the
 * new one joins, once), whether the old instance lost the socket, shut down cleanly or
 * crashed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MeshClient, type PresenceUpdate } from '../../src/client/node.js';
import { logsOf, type Instance } from '../helpers/instances.js';
import { redisSkip } from '../helpers/redis.js';
import { FAST, nextEvent, Updates } from '../client/helpers.js';
import { cluster, eventsOf, eventually, isUpdate, presenceVia, quiet, raw, router, type TestContext, type TimedClient } from './helpers.js';

/** A MeshClient behind the test's load balancer, closed at the end. */
function balancedClient(t: TestContext, lb: ReturnType<typeof router>): MeshClient {
  const client = new MeshClient('ws://load-balancer.invalid/', { ...FAST, WebSocket: lb.ctor });
  t.after(() => client.close());
  return client;
}

/** Replays a client's callbacks from its snapshot: no join of a member, leave or state of a non-member. */
function assertConsistent(initial: string[], updates: PresenceUpdate[], label: string): Set<string> {
  const members = new Set(initial);
  for (const u of updates) {
    if (u.type === 'join') {
      assert.ok(!members.has(u.connectionId), `${label}: duplicate join of ${u.connectionId}`);
      members.add(u.connectionId);
    } else if (u.type === 'leave') {
      assert.ok(members.has(u.connectionId), `${label}: leave of a non-member ${u.connectionId}`);
      members.delete(u.connectionId);
    } else assert.ok(members.has(u.connectionId), `${label}: state of a non-member (ghost) ${u.connectionId}`);
  }
  return members;
}

/**
 * Moves `count` MeshClients from A to B with `move`, and checks what a raw observer and a
 * MeshClient observer on B saw: each old connection leaves once (within `leaveWithin` ms of
 * the move), each new one joins once with its state, and presence is exactly the new ones.
 */
async function moveClients(
  t: TestContext,
  [A, B]: [Instance, Instance],
  room: string,
  count: number,
  move: (lb: ReturnType<typeof router>) => Promise<void>,
  leaveWithin: number,
): Promise<number> {
  const observer: TimedClient = await raw(t, B.url);
  await observer.request('mesh/subscribe-presence', { roomName: room });
  const watcher = new MeshClient(B.url, FAST);
  t.after(() => watcher.close());
  const watched = new Updates();
  const initial = await watcher.subscribePresence(room, watched.callback);
  assert.equal(initial.success, true);

  const lb = router(A.url);
  const clients = Array.from({ length: count }, () => balancedClient(t, lb));
  for (const [i, client] of clients.entries()) {
    await client.setConnectionMetadata({ name: `user-${i}` });
    assert.equal((await client.joinRoom(room)).success, true);
    assert.equal(await client.publishPresenceState(room, { state: { user: i } }), true);
  }
  const oldIds = clients.map((client) => client.connectionId!);
  for (const id of oldIds) await observer.waitFor(isUpdate('state', id, room), 3_000);
  const from = observer.frames.length;

  lb.route.url = B.url;
  const reconnected = Promise.all(clients.map((client) => nextEvent(client, 'reconnect', 10_000)));
  const movedAt = performance.now();
  await move(lb);
  await reconnected;
  const newIds = clients.map((client) => client.connectionId!);
  for (const [i, id] of newIds.entries()) {
    assert.notEqual(id, oldIds[i], 'a reconnection is a new connection');
    await observer.waitFor((f) => isUpdate('state', id, room)(f) && f.payload.state?.user === i, 5_000);
  }
  let slowest = 0;
  for (const id of oldIds) {
    const leave = await observer
      .waitFor(isUpdate('leave', id, room), leaveWithin + 3_000, from)
      .catch((err: Error) => assert.fail(`no leave for the old connection ${id}: ${err.message}\n${logsOf([A, B])}`));
    slowest = Math.max(slowest, observer.times[observer.frames.indexOf(leave)]! - movedAt);
  }
  assert.ok(slowest <= leaveWithin, `the old connections left ${slowest.toFixed(0)} ms after the move; expected within ${leaveWithin} ms`);

  await quiet(300); // late duplicates would be here by now
  for (const [i, id] of oldIds.entries()) {
    assert.deepEqual(eventsOf(observer, room, id, from), ['leave'], `old connection of client ${i}: one leave, nothing else`);
  }
  for (const [i, id] of newIds.entries()) {
    assert.deepEqual(eventsOf(observer, room, id, from), ['join', `state:{"user":${i}}`], `new connection of client ${i}: one join, its state`);
    const join = observer.frames.find(isUpdate('join', id, room))!;
    assert.deepEqual(join.payload.metadata, { name: `user-${i}` }, 'the metadata came along');
  }
  const truth = {
    present: [...newIds].sort(),
    states: Object.fromEntries(newIds.map((id, i) => [id, { user: i }])),
  };
  for (const url of [B.url, ...(A.alive ? [A.url] : [])]) {
    const seen = await eventually(
      () => presenceVia(url, room),
      (p) => p.present.length === count,
      3_000,
      'presence holds the new connections only',
    );
    assert.deepEqual({ present: [...seen.present].sort(), states: seen.states }, truth, 'no ghost, no duplicate');
  }
  const members = assertConsistent(initial.present, watched.list, 'MeshClient observer');
  assert.deepEqual([...members].sort(), truth.present, 'the MeshClient observer’s view is the truth');
  return slowest;
}

describe('reconnecting to another instance', { skip: redisSkip }, () => {
  test('socket lost (A still up): one leave for the old connection, one join for the new, no ghost', { timeout: 30_000 }, async (t) => {
    const { instances } = await cluster(t, 2);
    const slowest = await moveClients(t, instances as [Instance, Instance], 'move-dropped', 2, async (lb) => {
      for (const socket of lb.sockets) socket.terminate(); // the balancer drops the connections
    }, 1_500);
    console.log(`socket dropped, clients moved to B: old connections left after at most ${slowest.toFixed(0)} ms`);
  });

  test('clean shutdown of A (SIGTERM): its clients move to B; old connections leave at once, not after the instance timeout', { timeout: 30_000 }, async (t) => {
    const { instances } = await cluster(t, 2, { instanceTimeout: 6_000 });
    const [A] = instances as [Instance, Instance];
    const slowest = await moveClients(t, instances as [Instance, Instance], 'move-sigterm', 3, async () => {
      const { code } = await A.stop();
      assert.equal(code, 0, `A exited cleanly\n${A.log()}`);
    }, 2_000);
    console.log(`SIGTERM of A (instanceTimeout 6000): old connections left after at most ${slowest.toFixed(0)} ms`);
  });

  test('crash of A (SIGKILL): its clients move to B at once; the ghosts leave within the instance timeout', { timeout: 30_000 }, async (t) => {
    const timeout = 2_000;
    const { instances } = await cluster(t, 2, { instanceTimeout: timeout });
    const [A] = instances as [Instance, Instance];
    const slowest = await moveClients(t, instances as [Instance, Instance], 'move-crash', 3, () => A.kill(), timeout + 1_000);
    console.log(`SIGKILL of A (instanceTimeout ${timeout}): ghosts left after at most ${slowest.toFixed(0)} ms`);
  });
});
