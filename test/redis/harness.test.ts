/**
 * The Redis test harness itself: a real redis-server on a random port, persistence off,
 * restart comes back empty on the same port, MONITOR parsing. If these fail, the other
 * Redis suites' failures say nothing about the store.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allKeys, monitorRedis, parseMonitorLine, redisCall, redisSkip, RespClient, startRedis } from '../helpers/redis.js';

describe('redis test harness', { skip: redisSkip }, () => {
  test('starts on a free port with persistence off; restart keeps the port and comes back empty', { timeout: 20_000 }, async (t) => {
    const redis = await startRedis(t);
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await redisCall(redis.port, 'PING'), 'PONG');
    assert.deepEqual(await redisCall(redis.port, 'CONFIG', 'GET', 'save'), ['save', '']);
    assert.deepEqual(await redisCall(redis.port, 'CONFIG', 'GET', 'appendonly'), ['appendonly', 'no']);
    assert.equal(await redisCall(redis.port, 'SET', 'k', 'v'), 'OK');
    assert.deepEqual(await allKeys(redis.port), ['k']);

    const held = await RespClient.connect(redis.port);
    await redis.restart(100);
    await assert.rejects(held.call('PING'), 'a connection from before the restart is closed');
    held.close();
    assert.equal(redis.running, true);
    assert.equal(await redisCall(redis.port, 'DBSIZE'), 0, 'Redis came back empty');

    await redis.kill();
    assert.equal(redis.running, false);
    await assert.rejects(redisCall(redis.port, 'PING'), 'a killed Redis refuses connections');
    await redis.start();
    assert.equal(await redisCall(redis.port, 'PING'), 'PONG');
  });

  test('two Redis servers get different ports', { timeout: 20_000 }, async (t) => {
    const [a, b] = await Promise.all([startRedis(t), startRedis(t)]);
    assert.notEqual(a.port, b.port);
  });

  test('MONITOR reports commands with their source, MULTI blocks and script commands', { timeout: 20_000 }, async (t) => {
    const redis = await startRedis(t);
    const monitor = await monitorRedis(redis.port);
    const client = await RespClient.connect(redis.port);
    t.after(() => client.close());
    await client.call('SET', 'a', 'with "quotes" and spaces');
    await client.call('MULTI');
    await client.call('INCR', 'n');
    await client.call('PUBLISH', 'ch', 'x');
    await client.call('EXEC');
    await client.call('EVAL', "redis.call('PUBLISH', 'ch', 'y'); return 1", 0);
    const seen = await monitor.stop();
    assert.deepEqual(
      seen.map((c) => c.name),
      ['SET', 'MULTI', 'INCR', 'PUBLISH', 'EXEC', 'EVAL', 'PUBLISH'],
      JSON.stringify(seen),
    );
    assert.equal(seen[0]!.args[1], 'with \\"quotes\\" and spaces');
    assert.equal(seen.at(-1)!.source, 'lua');
    assert.match(seen[0]!.source, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(parseMonitorLine('1700000000.123456 [0 127.0.0.1:5000] "PUBLISH" "a" "b"'), {
      time: 1700000000.123456,
      source: '127.0.0.1:5000',
      name: 'PUBLISH',
      args: ['a', 'b'],
    });
  });
});
