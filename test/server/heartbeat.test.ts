import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { HeartbeatScheduler, type HeartbeatMember } from '../../src/server/heartbeat.js';
import { connectRaw, type RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { quiet } from '../helpers/time.js';

type T = { after(fn: () => unknown): void };

async function connect(t: T, url: string, options?: Parameters<typeof connectRaw>[1]): Promise<RawClient> {
  const c = await connectRaw(url, options);
  t.after(() => c.close());
  return c;
}

describe('heartbeats', () => {
  test('every interval brings a Mesh ping frame and a control ping', async (t) => {
    const { url } = await startServer(t, { pingInterval: 40 });
    const a = await connect(t, url);
    let controlPings = 0;
    a.ws.on('ping', () => controlPings++);
    await a.waitFor((f) => f.command === 'ping', 1000);
    await quiet(130);
    const pings = a.frames.filter((f) => f.command === 'ping');
    assert.ok(pings.length >= 2, `${pings.length} pings`);
    assert.deepEqual(pings[0], { command: 'ping', payload: {} });
    assert.ok(controlPings >= 2, `${controlPings} control pings`);
  });

  test('a silently dead client is closed and leaves within about two intervals', async (t) => {
    const interval = 100;
    const { server, url } = await startServer(t, { pingInterval: interval, maxMissedPongs: 1 });
    const watcher = await connect(t, url);
    await watcher.request('mesh/subscribe-presence', { roomName: 'r' });
    // answers nothing: neither Mesh pings nor control pings
    const dead = await connect(t, url, { answerPings: false });
    await dead.request('mesh/join-room', { roomName: 'r' });
    await dead.request('mesh/publish-presence-state', { roomName: 'r', state: { here: true } });
    const lastHeard = Date.now();
    const leave = await watcher.waitFor(
      (f) => f.payload?.type === 'leave' && f.payload.connectionId === dead.id,
      interval * 6,
    );
    const elapsed = Date.now() - lastHeard;
    assert.ok(elapsed <= interval * 2 + 150, `left after ${elapsed} ms`);
    assert.ok(elapsed >= interval - 20, `not before an interval was missed (${elapsed} ms)`);
    assert.equal(leave.payload.roomName, 'r');
    assert.deepEqual((await server.getPresence('r')).present, []);
    assert.deepEqual((await server.getPresence('r')).states, {});
    assert.equal((await dead.closed).code, 1006, 'terminated, no close handshake');
    // the watcher, which answers pings, is still fine
    assert.equal(await watcher.request('mesh/noop'), true);
  });

  test('a client that answers only control pings (network stack) stays', async (t) => {
    const { url } = await startServer(t, { pingInterval: 30, maxMissedPongs: 1 });
    const ws = new WebSocket(url); // autoPong on, but never sends a frame
    t.after(() => ws.close());
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    let closed = false;
    ws.on('close', () => (closed = true));
    await quiet(200);
    assert.equal(closed, false);
  });

  test('a client that answers only Mesh pings (no control pongs) stays', async (t) => {
    const { url } = await startServer(t, { pingInterval: 30, maxMissedPongs: 1 });
    // no control pongs, only the frame-level answers
    const a = await connect(t, url, { answerPings: true, autoPong: false });
    let controlPings = 0;
    a.ws.on('ping', () => controlPings++);
    await a.request('mesh/join-room', { roomName: 'r' });
    await quiet(200);
    assert.ok(controlPings >= 2, `control pings arrived (${controlPings}) and went unanswered`);
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    assert.deepEqual((await a.request('mesh/get-presence-state', { roomName: 'r' })).present, [a.id]);
  });

  test('connections are pinged spread over the interval, each once per interval', async (t) => {
    // 300 ms is cut into 30 slices 10 ms apart; 30 connections get one slice each.
    const interval = 300;
    const { url } = await startServer(t, { pingInterval: interval });
    const clients: RawClient[] = [];
    const pingTimes: number[][] = [];
    for (let i = 0; i < 30; i++) {
      const c = await connect(t, url);
      const times: number[] = [];
      c.ws.on('message', (data) => {
        if (JSON.parse(data.toString()).command === 'ping') times.push(performance.now());
      });
      clients.push(c);
      pingTimes.push(times);
    }
    // every connection's second ping (counted from its first one seen here)
    await Promise.all(
      clients.map(async (c) => {
        const first = await c.waitFor((f) => f.command === 'ping', interval * 4);
        await c.waitFor((f) => f.command === 'ping', interval * 4, c.frames.indexOf(first) + 1);
      }),
    );
    const firsts = pingTimes.map((times) => times[0]!).sort((a, b) => a - b);
    // Pinging everyone at once would put all 30 first pings within a few ms.
    let crowded = 0;
    for (let i = 0, j = 0; j < firsts.length; j++) {
      while (firsts[j]! - firsts[i]! > 20) i++;
      crowded = Math.max(crowded, j - i + 1);
    }
    assert.ok(crowded <= 10, `${crowded} of 30 connections were pinged within 20 ms`);
    for (const times of pingTimes) {
      const gap = times[1]! - times[0]!;
      assert.ok(gap >= interval * 0.7 && gap <= interval * 2.5, `pinged ${gap.toFixed(0)} ms apart`);
    }
  });

  test('with maxMissedPongs 2, two silent intervals are tolerated, the third closes', async (t) => {
    const interval = 60;
    const { url } = await startServer(t, { pingInterval: interval, maxMissedPongs: 2 });
    const dead = await connect(t, url, { answerPings: false });
    const start = Date.now();
    await dead.closed;
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= interval * 2 - 20 && elapsed <= interval * 3 + 100, `closed after ${elapsed} ms`);
  });
});

describe('heartbeat scheduler', () => {
  test('slices: up to 50, at least 10 ms apart', () => {
    const visit = (): void => {};
    assert.equal(new HeartbeatScheduler(5_000, visit).sliceCount, 50);
    assert.equal(new HeartbeatScheduler(100, visit).sliceCount, 10);
    assert.equal(new HeartbeatScheduler(5, visit).sliceCount, 1);
  });

  test('members are dealt evenly, and newcomers fill the slices others left', () => {
    const scheduler = new HeartbeatScheduler<HeartbeatMember>(100, () => {});
    const members = Array.from({ length: 95 }, (): HeartbeatMember => ({ heartbeatSlice: -1 }));
    for (const m of members) scheduler.add(m);
    const sizes = (list: HeartbeatMember[]) => {
      const counts = new Array<number>(scheduler.sliceCount).fill(0);
      for (const m of list) counts[m.heartbeatSlice]!++;
      return counts;
    };
    assert.deepEqual(sizes(members), [10, 10, 10, 10, 10, 9, 9, 9, 9, 9]);
    // everyone in slice 2 leaves; the next ten arrivals all go there
    const left = members.filter((m) => m.heartbeatSlice === 2);
    for (const m of left) scheduler.delete(m);
    const stayed = members.filter((m) => m.heartbeatSlice !== 2);
    const fresh = Array.from({ length: 10 }, (): HeartbeatMember => ({ heartbeatSlice: -1 }));
    for (const m of fresh) scheduler.add(m);
    assert.ok(fresh.every((m) => m.heartbeatSlice === 2));
    assert.deepEqual(sizes([...stayed, ...fresh]), [10, 10, 10, 10, 10, 9, 9, 9, 9, 9]);
  });
});
