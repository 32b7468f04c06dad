/**
 * Every class of bad input gets a clear error with a stable code (or a close code), and a
 * well-behaved client in the same room notices nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_EXPIRE_AFTER_MS } from '../../src/protocol.js';
import { MemoryStore, StoreUnavailableError } from '../../src/server/index.js';
import { connectRaw, type RawClient, type RawFrame } from '../helpers/raw-client.js';
import { startServer, type TestServerOptions } from '../helpers/server.js';
import { quiet } from '../helpers/time.js';

type T = { after(fn: () => unknown): void };

interface Scene {
  attacker: RawClient;
  bystander: RawClient;
  /** Resolves the next `mesh/error` push the attacker gets. */
  nextError(): Promise<RawFrame>;
  /** The bystander saw only the attacker's join, and still works normally. */
  assertUndisturbed(options?: { attackerLeft?: boolean }): Promise<void>;
}

/** A room `r` with a bystander (joined and subscribed) and an attacker (joined). */
async function scene(t: T, options: TestServerOptions = {}): Promise<Scene> {
  const { url } = await startServer(t, options);
  const bystander = await connectRaw(url);
  t.after(() => bystander.close());
  const attacker = await connectRaw(url);
  t.after(() => attacker.close());
  await bystander.request('mesh/join-room', { roomName: 'r' });
  await bystander.request('mesh/subscribe-presence', { roomName: 'r' });
  await attacker.request('mesh/join-room', { roomName: 'r' });
  await bystander.waitFor((f) => f.payload?.type === 'join' && f.payload.connectionId === attacker.id);
  let seenErrors = 0;
  return {
    attacker,
    bystander,
    async nextError() {
      const from = attacker.frames.findIndex((f, i) => {
        if (f.command !== 'mesh/error') return false;
        return attacker.frames.slice(0, i + 1).filter((g) => g.command === 'mesh/error').length > seenErrors;
      });
      const frame = await attacker.waitFor((f) => f.command === 'mesh/error', 2000, from === -1 ? attacker.frames.length : from);
      seenErrors++;
      return frame;
    },
    async assertUndisturbed({ attackerLeft = false } = {}) {
      await quiet(30);
      const expected = [{ type: 'join', connectionId: attacker.id }];
      if (attackerLeft) expected.push({ type: 'leave', connectionId: attacker.id });
      assert.deepEqual(
        bystander.updates().map((u) => ({ type: u.type, connectionId: u.connectionId })),
        expected,
      );
      assert.ok(!bystander.frames.some((f) => f.command === 'mesh/error'), 'the bystander got no error');
      assert.equal(await bystander.request('mesh/publish-presence-state', { roomName: 'r', state: { ok: 1 } }), true);
      await bystander.waitFor((f) => f.payload?.type === 'state' && f.payload.connectionId === bystander.id);
      const snapshot = await bystander.request('mesh/get-presence-state', { roomName: 'r' });
      assert.deepEqual(snapshot.present, attackerLeft ? [bystander.id] : [bystander.id, attacker.id]);
      assert.deepEqual(snapshot.states, { [bystander.id]: { ok: 1 } });
    },
  };
}

function assertErrorPayload(payload: any, code: string): void {
  assert.equal(payload.code, code, JSON.stringify(payload));
  assert.equal(typeof payload.error, 'string');
  assert.ok(payload.error.length > 0);
  assert.equal(payload.name, 'MeshError');
}

describe('bad frames', () => {
  test('invalid JSON: mesh/error EBADJSON', async (t) => {
    const s = await scene(t);
    for (const raw of ['{', 'not json', '{"command":"mesh/noop",}', '']) {
      s.attacker.send(raw);
      assertErrorPayload((await s.nextError()).payload, 'EBADJSON');
    }
    assert.equal(await s.attacker.request('mesh/noop'), true, 'the connection stays usable');
    await s.assertUndisturbed();
  });

  test('frames that are not JSON objects: mesh/error EBADFRAME', async (t) => {
    const s = await scene(t);
    for (const raw of ['[1,2]', '42', '"mesh/noop"', 'null', 'true', '[{"id":1,"command":"mesh/noop"}]']) {
      s.attacker.send(raw);
      assertErrorPayload((await s.nextError()).payload, 'EBADFRAME');
    }
    await s.assertUndisturbed();
  });

  test('binary frames: mesh/error EBINARY', async (t) => {
    const s = await scene(t);
    s.attacker.send(Buffer.from(JSON.stringify({ id: 1, command: 'mesh/noop' })));
    assertErrorPayload((await s.nextError()).payload, 'EBINARY');
    await s.assertUndisturbed();
  });

  test('missing, unknown and inherited commands: ENOTFOUND by id', async (t) => {
    const s = await scene(t);
    let id = 1000;
    for (const command of [undefined, 42, '', 'mesh/nope', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'ping']) {
      const frameId = id++;
      const frame: Record<string, unknown> = { id: frameId, payload: {} };
      if (command !== undefined) frame.command = command;
      s.attacker.send(JSON.stringify(frame));
      const reply = await s.attacker.waitFor((f) => f.id === frameId);
      assertErrorPayload(reply.payload, 'ENOTFOUND');
    }
    await s.assertUndisturbed();
  });

  test('unknown command without an id: mesh/error ENOTFOUND', async (t) => {
    const s = await scene(t);
    s.attacker.send(JSON.stringify({ command: 'constructor', payload: {} }));
    assertErrorPayload((await s.nextError()).payload, 'ENOTFOUND');
    await s.assertUndisturbed();
  });

  test('missing or non-numeric request ids: mesh/error EBADFRAME, nothing executed', async (t) => {
    const s = await scene(t);
    for (const id of [undefined, '1', null, {}, [1], true, '1e400']) {
      const frame: Record<string, unknown> = { command: 'mesh/leave-room', payload: { roomName: 'r' } };
      if (id !== undefined) frame.id = id;
      s.attacker.send(id === '1e400' ? '{"id":1e400,"command":"mesh/leave-room","payload":{"roomName":"r"}}' : JSON.stringify(frame));
      assertErrorPayload((await s.nextError()).payload, 'EBADFRAME');
    }
    await s.assertUndisturbed();
  });
});

describe('bad fields', () => {
  test('room names that are not short non-empty strings: EINVALID in the reply shape', async (t) => {
    const s = await scene(t);
    const bad = [undefined, 42, null, '', 'x'.repeat(257), ['r'], { r: 1 }];
    for (const roomName of bad) {
      const payload = roomName === undefined ? {} : { roomName };
      for (const command of ['mesh/join-room', 'mesh/subscribe-presence', 'mesh/get-presence-state', 'mesh/leave-room']) {
        const reply = await s.attacker.request(command, payload);
        assert.equal(reply.success, false, `${command} ${JSON.stringify(payload)}`);
        assert.equal(reply.error.code, 'EINVALID');
        if (command !== 'mesh/leave-room') assert.deepEqual(reply.present, []);
      }
      for (const command of [
        'mesh/unsubscribe-presence',
        'mesh/clear-presence-state',
        'mesh/refresh-presence',
        'mesh/get-room-metadata',
      ]) {
        assertErrorPayload(await s.attacker.request(command, payload), 'EINVALID');
      }
      assertErrorPayload(
        await s.attacker.request('mesh/publish-presence-state', { ...payload, state: { s: 1 } }),
        'EINVALID',
      );
    }
    // a 256-character name is fine
    assert.equal((await s.attacker.request('mesh/join-room', { roomName: 'x'.repeat(256) })).success, true);
    await s.assertUndisturbed();
  });

  test('payloads that are not objects: EINVALID', async (t) => {
    const s = await scene(t);
    for (const payload of [null, 'r', 7, ['r']]) {
      const join = await s.attacker.request('mesh/join-room', payload);
      assert.equal(join.error.code, 'EINVALID');
      assertErrorPayload(await s.attacker.request('mesh/publish-presence-state', payload), 'EINVALID');
      assertErrorPayload(await s.attacker.request('mesh/get-connection-metadata', payload), 'EINVALID');
      assert.equal((await s.attacker.request('mesh/set-my-connection-metadata', payload)).error.code, 'EINVALID');
    }
    await s.assertUndisturbed();
  });

  test('states that are not objects, and bad silent / connectionId / strategy: EINVALID', async (t) => {
    const s = await scene(t);
    for (const state of [undefined, null, 'typing', 3, [1, 2], true]) {
      assertErrorPayload(await s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state }), 'EINVALID');
    }
    assertErrorPayload(
      await s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state: {}, silent: 'yes' }),
      'EINVALID',
    );
    for (const connectionId of [undefined, 1, '', 'x'.repeat(129)]) {
      assertErrorPayload(await s.attacker.request('mesh/get-connection-metadata', { connectionId }), 'EINVALID');
    }
    for (const metadata of [undefined, null, 'x', [1]]) {
      const reply = await s.attacker.request('mesh/set-my-connection-metadata', { metadata });
      assert.equal(reply.success, false);
      assert.equal(reply.error.code, 'EINVALID');
    }
    for (const options of ['merge', { strategy: 'squash' }, { strategy: 1 }]) {
      const reply = await s.attacker.request('mesh/set-my-connection-metadata', { metadata: { a: 1 }, options });
      assert.equal(reply.error.code, 'EINVALID', JSON.stringify(options));
    }
    assert.deepEqual(await s.attacker.request('mesh/get-my-connection-metadata'), { metadata: null }, 'nothing was set');
    await s.assertUndisturbed();
  });

  test('out-of-range expireAfter: EINVALID, not clamped, nothing stored', async (t) => {
    const s = await scene(t);
    const values = ['-1', '0', '"100"', '1e400', '-1e400', String(MAX_EXPIRE_AFTER_MS + 1), 'null', '{}'];
    let id = 500;
    for (const value of values) {
      const frameId = id++;
      // raw text, so that 1e400 (Infinity once parsed) travels as is
      s.attacker.send(
        `{"id":${frameId},"command":"mesh/publish-presence-state","payload":{"roomName":"r","state":{"s":1},"expireAfter":${value}}}`,
      );
      assertErrorPayload((await s.attacker.waitFor((f) => f.id === frameId)).payload, 'EINVALID');
    }
    assert.equal(
      await s.attacker.request('mesh/publish-presence-state', {
        roomName: 'r',
        state: { s: 1 },
        expireAfter: MAX_EXPIRE_AFTER_MS,
      }),
      true,
      'the documented maximum itself is accepted',
    );
    await s.attacker.request('mesh/clear-presence-state', { roomName: 'r' });
    await quiet(50);
    // the bystander saw exactly the accepted publish and the clear
    const states = s.bystander.updates().filter((u) => u.type === 'state').map((u) => u.state);
    assert.deepEqual(states, [{ s: 1 }, null]);
    s.bystander.frames.splice(0, s.bystander.frames.length, ...s.bystander.frames.filter((f) => f.payload?.type !== 'state'));
    await s.assertUndisturbed();
  });

  test('__proto__ / constructor / prototype keys in states and metadata: EINVALID, no pollution', async (t) => {
    const s = await scene(t);
    const payloads = [
      '{"__proto__":{"polluted":1}}',
      '{"a":{"constructor":{"prototype":{"polluted":1}}}}',
      '{"prototype":1}',
      '{"list":[{"__proto__":{"polluted":1}}]}',
    ];
    let id = 700;
    for (const state of payloads) {
      const a = id++;
      s.attacker.send(`{"id":${a},"command":"mesh/publish-presence-state","payload":{"roomName":"r","state":${state}}}`);
      assertErrorPayload((await s.attacker.waitFor((f) => f.id === a)).payload, 'EINVALID');
      for (const strategy of ['replace', 'merge', 'deepMerge']) {
        const b = id++;
        s.attacker.send(
          `{"id":${b},"command":"mesh/set-my-connection-metadata","payload":{"metadata":${state},"options":{"strategy":"${strategy}"}}}`,
        );
        const reply = (await s.attacker.waitFor((f) => f.id === b)).payload;
        assert.equal(reply.success, false);
        assert.equal(reply.error.code, 'EINVALID');
      }
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    assert.deepEqual(await s.attacker.request('mesh/get-my-connection-metadata'), { metadata: null });
    await s.assertUndisturbed();
  });

  test('huge, deeply nested and over-wide states and metadata: ETOOLARGE', async (t) => {
    const s = await scene(t);
    const huge = { text: 'x'.repeat(9 * 1024) };
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 9; i++) deep = { d: deep };
    const deepText = '{"d":'.repeat(5000) + '{}' + '}'.repeat(5000);
    const wide = { list: Array.from({ length: 2000 }, () => 0) };
    for (const state of [huge, deep, wide]) {
      assertErrorPayload(await s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state }), 'ETOOLARGE');
      const reply = await s.attacker.request('mesh/set-my-connection-metadata', { metadata: state });
      assert.equal(reply.error.code, 'ETOOLARGE');
    }
    s.attacker.send(`{"id":9001,"command":"mesh/publish-presence-state","payload":{"roomName":"r","state":${deepText}}}`);
    assertErrorPayload((await s.attacker.waitFor((f) => f.id === 9001)).payload, 'ETOOLARGE');
    // merges that would grow metadata beyond the limit are refused too
    await s.attacker.request('mesh/set-my-connection-metadata', { metadata: { a: 'x'.repeat(5000) } });
    const grow = await s.attacker.request('mesh/set-my-connection-metadata', {
      metadata: { b: 'x'.repeat(5000) },
      options: { strategy: 'merge' },
    });
    assert.equal(grow.error.code, 'ETOOLARGE');
    // 8 levels is fine
    let ok: Record<string, unknown> = {};
    for (let i = 0; i < 7; i++) ok = { d: ok };
    assert.equal(await s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state: ok }), true);
    await s.attacker.request('mesh/clear-presence-state', { roomName: 'r' });
    await quiet(50);
    s.bystander.frames.splice(0, s.bystander.frames.length, ...s.bystander.frames.filter((f) => f.payload?.type !== 'state'));
    await s.assertUndisturbed();
  });
});

describe('limits', () => {
  test('a frame above maxFrameBytes closes the socket with 1009; its presence is removed', async (t) => {
    const s = await scene(t, { limits: { maxFrameBytes: 16 * 1024 } });
    s.attacker.send(JSON.stringify({ id: 1, command: 'mesh/noop', payload: { junk: 'x'.repeat(20 * 1024) } }));
    const { code } = await s.attacker.closed;
    assert.equal(code, 1009);
    await s.bystander.waitFor((f) => f.payload?.type === 'leave' && f.payload.connectionId === s.attacker.id);
    await s.assertUndisturbed({ attackerLeft: true });
  });

  test('the default frame limit is 64 KiB', async (t) => {
    const s = await scene(t);
    s.attacker.send(JSON.stringify({ id: 1, command: 'mesh/noop', payload: { junk: 'x'.repeat(64 * 1024) } }));
    assert.equal((await s.attacker.closed).code, 1009);
    await s.bystander.waitFor((f) => f.payload?.type === 'leave' && f.payload.connectionId === s.attacker.id);
    await s.assertUndisturbed({ attackerLeft: true });
  });

  test('a client that stops reading is closed once its send buffer passes maxBufferedBytes', async (t) => {
    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (...args: unknown[]) => warnings.push(args.join(' ')) };
    const { server, url } = await startServer(t, {
      logger,
      closeTimeout: 100,
      limits: { maxBufferedBytes: 256 * 1024, maxStateBytes: 60_000, messagesPerSecond: 1e6, burst: 1e6 },
    });
    const reader = await connectRaw(url);
    t.after(() => reader.close());
    const publisher = await connectRaw(url);
    t.after(() => publisher.close());
    await reader.request('mesh/join-room', { roomName: 'r' });
    await reader.request('mesh/subscribe-presence', { roomName: 'r' });
    await publisher.request('mesh/join-room', { roomName: 'r' });
    let left = false;
    server.onLeave((e) => {
      if (e.connectionId === reader.id) left = true;
    });
    // The reader stops reading but keeps sending pongs, as a stuck tab's network stack may.
    (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const state = { blob: 'x'.repeat(50_000) };
    // Enough to fill the kernel's socket buffers several times over, then ours.
    for (let i = 0; i < 400 && !left; i++) {
      reader.ws.send(JSON.stringify({ command: 'pong', payload: {} }));
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => publisher.request('mesh/publish-presence-state', { roomName: 'r', state })),
      );
      assert.ok(replies.every((r) => r === true), `publishes succeed: ${JSON.stringify(replies).slice(0, 200)}`);
    }
    for (let i = 0; i < 100 && !left; i++) await quiet(10);
    assert.ok(left, 'the reader was removed from the room');
    assert.deepEqual((await server.getPresence('r')).present, [publisher.id]);
    assert.equal(warnings.filter((w) => w.includes(reader.id)).length, 1, `one log line: ${warnings.join(' | ')}`);
    (reader.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code } = await reader.closed;
    assert.ok(code === 1013 || code === 1006, `closed with 1013 (or cut): ${code}`);
    // the publisher is unaffected
    assert.equal(await publisher.request('mesh/publish-presence-state', { roomName: 'r', state: { ok: 1 } }), true);
  });

  test('the default burst covers a reconnect that restores 45 rooms at once', async (t) => {
    const { url } = await startServer(t);
    const c = await connectRaw(url);
    t.after(() => c.close());
    // what a restoring client sends: its metadata, then join, subscribe, publish per room
    const replies = await Promise.all([
      c.request('mesh/set-my-connection-metadata', { metadata: { name: 'n' } }),
      ...Array.from({ length: 45 }, (_, i) => [
        c.request('mesh/join-room', { roomName: `room${i}` }),
        c.request('mesh/subscribe-presence', { roomName: `room${i}` }),
        c.request('mesh/publish-presence-state', { roomName: `room${i}`, state: { i } }),
      ]).flat(),
    ]);
    const limited = replies.filter((r) => r?.code === 'ERATELIMIT' || r?.error?.code === 'ERATELIMIT');
    assert.equal(limited.length, 0, `${limited.length} of ${replies.length} rate-limited`);
  });

  test('publish floods: ERATELIMIT replies and dropped messages', async (t) => {
    const s = await scene(t, { limits: { messagesPerSecond: 10, burst: 20, maxDroppedMessages: 1000 } });
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state: { i } }),
      ),
    );
    const accepted = replies.filter((r) => r === true).length;
    const limited = replies.filter((r) => r?.code === 'ERATELIMIT');
    assert.ok(accepted >= 19 && accepted <= 22, `about the burst was accepted: ${accepted}`);
    assert.equal(accepted + limited.length, 60);
    assertErrorPayload(limited[0], 'ERATELIMIT');
    await quiet(50);
    const states = s.bystander.updates().filter((u) => u.type === 'state');
    assert.equal(states.length, accepted, 'dropped messages were not applied');
    await quiet(200); // a couple of tokens come back
    assert.equal(await s.attacker.request('mesh/clear-presence-state', { roomName: 'r' }), true);
    await s.bystander.waitFor((f) => f.payload?.type === 'state' && f.payload.state === null);
    s.bystander.frames.splice(0, s.bystander.frames.length, ...s.bystander.frames.filter((f) => f.payload?.type !== 'state'));
    await s.assertUndisturbed();
  });

  test('a flood that goes on far beyond the limit closes with 1008', async (t) => {
    const s = await scene(t, { limits: { messagesPerSecond: 10, burst: 10, maxDroppedMessages: 50 } });
    for (let i = 0; i < 200; i++) {
      s.attacker.send(JSON.stringify({ id: i + 1, command: 'mesh/publish-presence-state', payload: { roomName: 'r', state: { i } } }));
    }
    assert.equal((await s.attacker.closed).code, 1008);
    await s.bystander.waitFor((f) => f.payload?.type === 'leave' && f.payload.connectionId === s.attacker.id);
    s.bystander.frames.splice(0, s.bystander.frames.length, ...s.bystander.frames.filter((f) => f.payload?.type !== 'state'));
    await s.assertUndisturbed({ attackerLeft: true });
  });

  test('room-join and subscribe floods: ELIMIT beyond maxRoomsPerConnection', async (t) => {
    const s = await scene(t, { limits: { maxRoomsPerConnection: 5, burst: 100 } });
    const joins = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.attacker.request('mesh/join-room', { roomName: `flood:${i}` })),
    );
    // 'r' counts: 4 more fit
    assert.equal(joins.filter((r) => r.success).length, 4);
    const refused = joins.filter((r) => !r.success);
    assert.equal(refused.length, 6);
    for (const r of refused) assert.equal(r.error.code, 'ELIMIT');
    const subs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.attacker.request('mesh/subscribe-presence', { roomName: `flood:${i}` })),
    );
    assert.equal(subs.filter((r) => r.success).length, 5);
    assert.ok(subs.filter((r) => !r.success).every((r) => r.error.code === 'ELIMIT'));
    // leaving frees a slot
    await s.attacker.request('mesh/leave-room', { roomName: 'flood:0' });
    assert.equal((await s.attacker.request('mesh/join-room', { roomName: 'flood:9' })).success, true);
    await s.assertUndisturbed();
  });
});

describe('server faults', () => {
  test('a throwing guard answers ESERVER and the server goes on', async (t) => {
    const s = await scene(t, {
      track: [
        [
          /.*/,
          {
            guard: (_c, roomName) => {
              if (roomName === 'boom') throw new Error('guard bug');
              return true;
            },
          },
        ],
      ],
    });
    const reply = await s.attacker.request('mesh/join-room', { roomName: 'boom' });
    assert.equal(reply.success, false);
    assert.equal(reply.error.code, 'ESERVER');
    assert.doesNotMatch(reply.error.error, /guard bug/, 'internals do not leak');
    await s.assertUndisturbed();
  });

  test('a throwing store answers the ESERVER error payload for boolean commands', async (t) => {
    class FaultyStore extends MemoryStore {
      override async setState(...args: Parameters<MemoryStore['setState']>): Promise<boolean> {
        if (args[2].explode) throw new Error('disk on fire');
        return super.setState(...args);
      }
    }
    const s = await scene(t, { store: new FaultyStore() });
    assertErrorPayload(
      await s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state: { explode: true } }),
      'ESERVER',
    );
    await s.assertUndisturbed();
  });

  test('an unavailable store answers ESERVER "try again shortly" and logs no error', { timeout: 10_000 }, async (t) => {
    // what RedisStore throws while Redis is away: the store said so once, the server must not log per command
    class UnavailableStore extends MemoryStore {
      override async setState(...args: Parameters<MemoryStore['setState']>): Promise<boolean> {
        if (args[2].outage) throw new StoreUnavailableError(new Error('Redis is reconnecting'));
        return super.setState(...args);
      }
    }
    const errors: unknown[][] = [];
    const logger = { info() {}, warn() {}, error: (...args: unknown[]) => void errors.push(args) };
    const s = await scene(t, { store: new UnavailableStore(), logger });
    const reply = await s.attacker.request('mesh/publish-presence-state', { roomName: 'r', state: { outage: true } });
    assertErrorPayload(reply, 'ESERVER');
    assert.equal(reply.error, 'the presence store is unavailable; try again shortly', JSON.stringify(reply));
    await s.assertUndisturbed();
    assert.deepEqual(errors, [], 'logger.error is never called for an unavailable store');
  });
});
