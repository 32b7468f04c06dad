import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectRaw, UpgradeRefused, type RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

type T = { after(fn: () => unknown): void };

async function connect(t: T, url: string, options?: Parameters<typeof connectRaw>[1]): Promise<RawClient> {
  const c = await connectRaw(url, options);
  t.after(() => c.close());
  return c;
}

async function refusedStatus(url: string, options?: Parameters<typeof connectRaw>[1]): Promise<number> {
  try {
    const c = await connectRaw(url, options);
    await c.close();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err.status;
    throw err;
  }
  assert.fail('the upgrade was accepted');
}

describe('trackPresence', () => {
  test('once patterns are given, other rooms are refused with EFORBIDDEN', async (t) => {
    const { url } = await startServer(t, { track: ['exact', /^chat:/g] });
    const a = await connect(t, url);
    assert.equal((await a.request('mesh/join-room', { roomName: 'exact' })).success, true);
    assert.equal((await a.request('mesh/join-room', { roomName: 'chat:1' })).success, true);
    // a /g pattern matches every time, not every other time
    assert.equal((await a.request('mesh/subscribe-presence', { roomName: 'chat:1' })).success, true);
    assert.equal((await a.request('mesh/get-presence-state', { roomName: 'chat:1' })).success, true);
    for (const command of ['mesh/join-room', 'mesh/subscribe-presence', 'mesh/get-presence-state']) {
      const reply = await a.request(command, { roomName: 'other' });
      assert.equal(reply.success, false, command);
      assert.deepEqual(reply.present, []);
      assert.equal(reply.error.code, 'EFORBIDDEN');
      assert.match(reply.error.error, /not tracked/);
    }
    assert.equal(await a.request('mesh/publish-presence-state', { roomName: 'other', state: {} }), false);
    assert.equal((await a.request('mesh/join-room', { roomName: 'exactly' })).success, false, 'strings match exactly');
  });

  test('a guard refuses join, subscribe, get-presence-state and publish', async (t) => {
    let allowPublish = true; // flipped to show that publish asks the guard again
    const seen: string[] = [];
    const { url } = await startServer(t, {
      track: [
        [
          /^team:/,
          {
            guard: async (conn, roomName) => {
              seen.push(`${conn.metadata?.team}:${roomName}`);
              return allowPublish && roomName === `team:${String(conn.metadata?.team)}`;
            },
          },
        ],
      ],
    });
    const red = await connect(t, url);
    await red.request('mesh/set-my-connection-metadata', { metadata: { team: 'red' } });
    const blue = await connect(t, url);
    await blue.request('mesh/set-my-connection-metadata', { metadata: { team: 'blue' } });

    assert.equal((await red.request('mesh/join-room', { roomName: 'team:red' })).success, true);
    for (const command of ['mesh/join-room', 'mesh/subscribe-presence', 'mesh/get-presence-state']) {
      const reply = await blue.request(command, { roomName: 'team:red' });
      assert.equal(reply.success, false, command);
      assert.equal(reply.error.code, 'EFORBIDDEN');
      assert.deepEqual(reply.present, [], 'nothing leaks');
    }
    // the guard is asked again on publish
    allowPublish = false;
    assert.equal(await red.request('mesh/publish-presence-state', { roomName: 'team:red', state: { s: 1 } }), false);
    allowPublish = true;
    assert.equal(await red.request('mesh/publish-presence-state', { roomName: 'team:red', state: { s: 1 } }), true);
    assert.ok(seen.includes('blue:team:red'), 'the guard saw blue');
  });
});

describe('reading rules', () => {
  test('get-presence-state includes metadata only for a caller joined or subscribed to the room', async (t) => {
    const { url } = await startServer(t);
    const member = await connect(t, url);
    await member.request('mesh/set-my-connection-metadata', { metadata: { name: 'Ann' } });
    await member.request('mesh/join-room', { roomName: 'r' });
    const stranger = await connect(t, url);
    const seen = await stranger.request('mesh/get-presence-state', { roomName: 'r' });
    assert.deepEqual(seen, { success: true, present: [member.id], states: {} }, 'no metadata for a stranger');
    const subscriber = await connect(t, url);
    await subscriber.request('mesh/subscribe-presence', { roomName: 'r' });
    assert.deepEqual((await subscriber.request('mesh/get-presence-state', { roomName: 'r' })).metadata, {
      [member.id]: { name: 'Ann' },
    });
    assert.deepEqual((await member.request('mesh/get-presence-state', { roomName: 'r' })).metadata, {
      [member.id]: { name: 'Ann' },
    });
  });

  test('get-room-metadata needs a tracked room and the guard', async (t) => {
    const { server, url } = await startServer(t, {
      track: [[/^team:/, { guard: (conn, roomName) => roomName === `team:${String(conn.metadata?.team)}` }]],
    });
    await server.setRoomMetadata('team:red', { topic: 'red things' });
    await server.setRoomMetadata('other', { topic: 'untracked' });
    const red = await connect(t, url);
    await red.request('mesh/set-my-connection-metadata', { metadata: { team: 'red' } });
    const blue = await connect(t, url);
    await blue.request('mesh/set-my-connection-metadata', { metadata: { team: 'blue' } });
    assert.deepEqual(await red.request('mesh/get-room-metadata', { roomName: 'team:red' }), {
      metadata: { topic: 'red things' },
    });
    assert.equal((await blue.request('mesh/get-room-metadata', { roomName: 'team:red' })).code, 'EFORBIDDEN');
    assert.equal((await red.request('mesh/get-room-metadata', { roomName: 'other' })).code, 'EFORBIDDEN');
  });
});

describe('authenticate', () => {
  test('null answers HTTP 401; the token arrives as ?token=', async (t) => {
    const tokens: Array<string | null> = [];
    const { url, server } = await startServer(t, {
      authenticate: (_req, { token }) => {
        tokens.push(token);
        return token === 'good' ? { userId: 'u1', role: 'member' } : null;
      },
    });
    assert.equal(await refusedStatus(url), 401);
    assert.equal(await refusedStatus(`${url}?token=bad`), 401);
    assert.equal(server.connectionCount, 0);
    const a = await connect(t, `${url}?token=good`);
    assert.deepEqual(tokens, [null, 'bad', 'good']);
    assert.deepEqual(await a.request('mesh/get-my-connection-metadata'), { metadata: { userId: 'u1', role: 'member' } });
    const join = await a.request('mesh/join-room', { roomName: 'r' });
    assert.deepEqual(join.metadata, { [a.id]: { userId: 'u1', role: 'member' } });
  });

  test('undefined answers HTTP 401 too, sync or async', { timeout: 10_000 }, async (t) => {
    const { url, server } = await startServer(t, {
      authenticate: (_req, { token }) => {
        if (token === 'async') return Promise.resolve(undefined);
        return token === 'good' ? { userId: 'u1' } : undefined;
      },
    });
    assert.equal(await refusedStatus(url), 401);
    assert.equal(await refusedStatus(`${url}?token=async`), 401);
    assert.equal(server.connectionCount, 0, 'no connection was accepted');
    const a = await connect(t, `${url}?token=good`);
    assert.deepEqual(await a.request('mesh/get-my-connection-metadata'), { metadata: { userId: 'u1' } });
  });

  test('a throwing authenticate answers 401 and the server goes on', async (t) => {
    const { url } = await startServer(t, {
      authenticate: (_req, { token }) => {
        if (token === 'throw') throw new Error('db down');
        return {};
      },
    });
    assert.equal(await refusedStatus(`${url}?token=throw`), 401);
    const a = await connect(t, url);
    assert.equal(await a.request('mesh/noop'), true);
  });

  test('authenticated keys are read-only: change or removal answers EREADONLY', async (t) => {
    const { url } = await startServer(t, { authenticate: () => ({ userId: 'u1', org: { id: 7 } }) });
    const a = await connect(t, url);
    const set = (metadata: unknown, strategy?: string) =>
      a.request('mesh/set-my-connection-metadata', strategy ? { metadata, options: { strategy } } : { metadata });
    for (const [metadata, strategy] of [
      [{ userId: 'u2' }, 'merge'],
      [{ name: 'Ann' }, 'replace'],
      [{ org: { id: 8 } }, 'deepMerge'],
      [{ org: { id: 7, extra: 1 } }, 'deepMerge'],
    ] as const) {
      const reply = await set(metadata, strategy);
      assert.equal(reply.success, false, `${strategy} ${JSON.stringify(metadata)}`);
      assert.equal(reply.error.code, 'EREADONLY');
    }
    assert.deepEqual(await a.request('mesh/get-my-connection-metadata'), { metadata: { userId: 'u1', org: { id: 7 } } });
    // adding other keys, or restating the trusted ones unchanged, is fine
    assert.deepEqual(await set({ name: 'Ann' }, 'merge'), { success: true });
    assert.deepEqual(await set({ userId: 'u1', org: { id: 7 }, name: 'Bo' }), { success: true });
    assert.deepEqual(await a.request('mesh/get-my-connection-metadata'), {
      metadata: { userId: 'u1', org: { id: 7 }, name: 'Bo' },
    });
  });
});

describe('allowedOrigins', () => {
  test('exact matches pass, others get HTTP 403, requests without Origin pass', async (t) => {
    const { url } = await startServer(t, { allowedOrigins: ['https://app.example.com'] });
    assert.equal(await refusedStatus(url, { headers: { Origin: 'https://evil.example.com' } }), 403);
    assert.equal(await refusedStatus(url, { headers: { Origin: 'https://app.example.com.evil.com' } }), 403);
    const good = await connect(t, url, { headers: { Origin: 'https://app.example.com' } });
    assert.equal(await good.request('mesh/noop'), true);
    const cli = await connect(t, url);
    assert.equal(await cli.request('mesh/noop'), true);
  });

  test('without a list, the server says once that every origin is accepted', async (t) => {
    const warnings: unknown[][] = [];
    const logger = { info() {}, error() {}, warn: (...args: unknown[]) => warnings.push(args) };
    const { url } = await startServer(t, { logger });
    await connect(t, url, { headers: { Origin: 'https://anything.example' } });
    await connect(t, url, { headers: { Origin: 'https://other.example' } });
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]![0]), /every origin/);
  });

  test('with a list, no such warning', async (t) => {
    const warnings: unknown[][] = [];
    const logger = { info() {}, error() {}, warn: (...args: unknown[]) => warnings.push(args) };
    await startServer(t, { logger, allowedOrigins: ['https://a.example'] });
    assert.equal(warnings.length, 0);
  });
});
