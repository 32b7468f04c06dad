/**
 * Redis goes away and comes back EMPTY (no persistence): every heartbeat is lost too. The
 * instances keep their sockets, say so in one line, re-register and re-publish their live
 * connections, and nobody declares anybody dead: no false `leave` for live users, and
 * presence converges to the truth on every instance, for new subscribers and for those
 * that were subscribed all along (including users who left while Redis was down).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MeshClient, type PresenceUpdate } from '../../src/client/node.js';
import { FAST, Updates } from '../client/helpers.js';
import { logsOf } from '../helpers/instances.js';
import { redisSkip } from '../helpers/redis.js';
import type { RawClient } from '../helpers/raw-client.js';
import { cluster, eventually, isUpdate, presenceVia, quiet, raw } from './helpers.js';

const INSTANCE_TIMEOUT = 2_000;

/** A subscriber's view, replayed from its snapshot (a join of a known member counts once). */
function replay(snapshot: { present: string[]; states: Record<string, unknown> }, updates: Array<Pick<PresenceUpdate, 'type' | 'connectionId' | 'state'>>) {
  const members = new Map<string, unknown>(snapshot.present.map((id) => [id, snapshot.states[id] ?? null]));
  let duplicateJoins = 0;
  for (const u of updates) {
    if (u.type === 'join') {
      if (members.has(u.connectionId)) duplicateJoins++;
      else members.set(u.connectionId, null);
    } else if (u.type === 'leave') members.delete(u.connectionId);
    else if (members.has(u.connectionId)) members.set(u.connectionId, u.state ?? null);
  }
  const present = [...members.keys()].sort();
  const states = Object.fromEntries([...members].filter(([, state]) => state !== null));
  return { view: { present, states }, duplicateJoins };
}

describe('Redis restarts empty mid-session', { skip: redisSkip }, () => {
  test('no false leaves; presence converges for new and old subscribers on every instance; events flow again', { timeout: 45_000 }, async (t) => {
    const { redis, instances } = await cluster(t, 2, { instanceTimeout: INSTANCE_TIMEOUT });
    const [A, B] = instances as [typeof instances[0], typeof instances[0]];
    const room = 'restart';
    const other = 'restart-other';

    const subs: Array<{ name: string; client: RawClient; snapshot: { present: string[]; states: Record<string, unknown> } }> = [];
    for (const [name, url] of [['A', A.url], ['B', B.url]] as const) {
      const client = await raw(t, url);
      await client.request('mesh/subscribe-presence', { roomName: other });
      subs.push({ name, client, snapshot: await client.request('mesh/subscribe-presence', { roomName: room }) });
    }
    const watcher = new MeshClient(B.url, FAST);
    t.after(() => watcher.close());
    const watched = new Updates();
    const watchedInitial = await watcher.subscribePresence(room, watched.callback);

    const a1 = await raw(t, A.url);
    const a2 = await raw(t, A.url);
    const b1 = await raw(t, B.url);
    const b2 = await raw(t, B.url);
    await a1.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } });
    for (const member of [a1, a2, b1, b2]) await member.request('mesh/join-room', { roomName: room });
    await a1.request('mesh/join-room', { roomName: other });
    await a1.request('mesh/publish-presence-state', { roomName: room, state: { status: 'busy' } });
    await a2.request('mesh/publish-presence-state', { roomName: room, state: { status: 'gone soon' } });
    await b1.request('mesh/publish-presence-state', { roomName: room, state: { status: 'away' } });
    for (const { client } of subs) await client.waitFor(isUpdate('state', b1.id, room), 3_000);
    await watched.wait({ type: 'state', connectionId: b1.id });

    const logFrom = { A: A.log().length, B: B.log().length };
    const framesFrom = subs.map(({ client }) => client.frames.length);

    // Redis down for longer than the instance timeout, so that every heartbeat is stale;
    // meanwhile a2 (on A) and b2 (on B) really leave, and a publish is tried
    await redis.stop();
    const downAt = Date.now();
    await a2.close();
    await b2.close();
    const during = await a1
      .request('mesh/publish-presence-state', { roomName: room, state: { status: 'during the outage' } }, 3_000)
      .then(
        (reply) => JSON.stringify(reply),
        (err: Error) => assert.fail(`a publish while Redis is down got no reply within 3 s (${err.message}): commands must fail fast`),
      );
    assert.deepEqual(
      JSON.parse(during),
      { error: 'the presence store is unavailable; try again shortly', code: 'ESERVER', name: 'MeshError' },
      `a publish while Redis is down answers ESERVER "the presence store is unavailable"; it answered ${during}`,
    );
    await quiet(Math.max(0, INSTANCE_TIMEOUT + 500 - (Date.now() - downAt)));
    await redis.start();
    const backAt = Date.now();
    const downMs = backAt - downAt;

    const truthStates = { [a1.id]: { status: 'busy' }, [b1.id]: { status: 'away' } };
    const truth = {
      present: [a1.id, b1.id].sort(),
      states: Object.fromEntries(Object.entries(truthStates).sort(([x], [y]) => (x < y ? -1 : 1))),
    };
    const sorted = async (url: string) => {
      const seen = await presenceVia(url, room);
      // keys in a fixed order, so that the comparison below does not depend on them
      const states = Object.fromEntries(Object.entries(seen.states).sort(([x], [y]) => (x < y ? -1 : 1)));
      return { present: [...seen.present].sort(), states };
    };
    for (const [name, url] of [['A', A.url], ['B', B.url]] as const) {
      await eventually(
        () => sorted(url),
        (seen) => JSON.stringify(seen) === JSON.stringify(truth),
        10_000,
        `presence through ${name} after Redis came back empty\n${logsOf([A, B])}`,
      );
    }
    const convergedMs = Date.now() - backAt;
    assert.deepEqual((await presenceVia(B.url, other)).present, [a1.id], 'each of a member’s rooms is re-registered');
    const reader = await raw(t, B.url);
    await reader.request('mesh/join-room', { roomName: other });
    assert.deepEqual(await reader.request('mesh/get-connection-metadata', { connectionId: a1.id }), { metadata: { name: 'Ann' } }, 'metadata re-registered');

    // nobody was declared dead: wait past a full instance timeout before judging
    await quiet(INSTANCE_TIMEOUT + 1_000);
    for (const client of [...subs.map((s) => s.client), a1, b1]) {
      assert.equal(client.ws.readyState, client.ws.OPEN, 'the instances kept their sockets through the outage');
    }
    for (const [i, { name, client, snapshot }] of subs.entries()) {
      const updates = client.updates(room);
      const afterOutage = client.frames.slice(framesFrom[i]).filter((f) => f.command === 'mesh/presence-update' && f.payload.roomName === room);
      const leaves = afterOutage.filter((f) => f.payload.type === 'leave').map((f) => f.payload.connectionId as string);
      assert.deepEqual(
        [...leaves].sort(),
        [a2.id, b2.id].sort(),
        `subscriber on ${name}: a leave for each user who left during the outage, and none for the live ones\n${logsOf([A, B])}`,
      );
      const { view, duplicateJoins } = replay(snapshot, updates);
      assert.deepEqual(view, truth, `subscriber on ${name} (subscribed all along): its view converged to the truth`);
      assert.equal(duplicateJoins, 0, `subscriber on ${name}: no join of a member it already had (a stock Mesh client would list it twice)`);
      console.log(
        `subscriber on ${name} got, after the outage: ${afterOutage.map((f) => f.payload.type).join(', ') || 'nothing'} ` +
          `(${duplicateJoins} join(s) of members it already had)`,
      );
    }
    for (const [name, url] of [['A', A.url], ['B', B.url]] as const) {
      assert.deepEqual(await sorted(url), truth, `presence through ${name}, ${INSTANCE_TIMEOUT + 1_000} ms after convergence`);
    }
    const watcherView = replay(watchedInitial, watched.list);
    assert.equal(watcherView.duplicateJoins, 0, 'a MeshClient’s callbacks never get a join of a member they have');
    assert.deepEqual(watcherView.view, truth, 'a MeshClient subscribed all along converged');
    console.log(
      `Redis down ${downMs} ms, back empty; presence converged on both instances ${convergedMs} ms after it was back; ` +
        `a publish during the outage answered ${during}`,
    );

    // events flow again, both ways, for old and new subscribers
    const fresh = await raw(t, A.url);
    const snapshot = await fresh.request('mesh/subscribe-presence', { roomName: room });
    assert.deepEqual([...snapshot.present].sort(), truth.present, 'a new subscriber sees everyone again');
    await a1.request('mesh/publish-presence-state', { roomName: room, state: { status: 'back' } });
    await subs[1]!.client.waitFor((f) => isUpdate('state', a1.id, room)(f) && f.payload.state?.status === 'back', 3_000);
    await b1.request('mesh/publish-presence-state', { roomName: room, state: { status: 'back too' } });
    await subs[0]!.client.waitFor((f) => isUpdate('state', b1.id, room)(f) && f.payload.state?.status === 'back too', 3_000);
    await fresh.waitFor((f) => isUpdate('state', b1.id, room)(f) && f.payload.state?.status === 'back too', 3_000);
    const late = await raw(t, B.url);
    await late.request('mesh/join-room', { roomName: room });
    await subs[0]!.client.waitFor(isUpdate('join', late.id, room), 3_000);
    await b1.close();
    await subs[0]!.client.waitFor(isUpdate('leave', b1.id, room), 3_000); // a real leave still goes through

    // one clear line each (and one when it is back), not a line per retry; nothing crashed
    assert.ok(A.alive && B.alive, 'both instances are still running');
    for (const [name, instance] of [['A', A], ['B', B]] as const) {
      const lines = instance.linesSince(logFrom[name]);
      console.log(`${name} logged: ${lines.join(' | ')}`);
      assert.ok(lines.some((line) => /redis/i.test(line)), `${name} logged that Redis was unreachable; its log:\n${lines.join('\n')}`);
      assert.ok(lines.length <= 4, `${name} logged ${lines.length} lines for one outage (a line per retry?):\n${lines.join('\n')}`);
      assert.ok(!lines.some((line) => /Unhandled error event/.test(line)), `${name}: ioredis errors were left unhandled:\n${lines.join('\n')}`);
    }
  });
});
