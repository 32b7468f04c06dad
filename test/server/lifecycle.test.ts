import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { WebSocketServer, WebSocket } from 'ws';
import { parseCliArgs, USAGE, UsageError } from '../../src/server/cli-args.js';
import { createPresenceServer, type PresenceServerOptions } from '../../src/server/index.js';
import { connectRaw, UpgradeRefused, type RawClient } from '../helpers/raw-client.js';
import { silentLogger, startServer } from '../helpers/server.js';

type T = { after(fn: () => unknown): void };

async function connect(t: T, url: string): Promise<RawClient> {
  const c = await connectRaw(url);
  t.after(() => c.close());
  return c;
}

function httpGet(url: string): Promise<{ status: number; body: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    get(url, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
    }).on('error', reject);
  });
}

const httpUrl = (wsUrl: string, path: string): string => wsUrl.replace(/^ws:/, 'http:').replace(/\/[^/]*$/, path);

describe('graceful close', () => {
  test('closes every socket with 1012 and resolves when all is closed', async (t) => {
    const { server, url } = await startServer(t, { closeTimeout: 5000 });
    const a = await connect(t, url);
    const b = await connect(t, url);
    await a.request('mesh/join-room', { roomName: 'r' });
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 2000, 'the clients answered; no waiting for closeTimeout');
    assert.deepEqual((await a.closed).code, 1012);
    assert.deepEqual((await b.closed).code, 1012);
    assert.equal(server.connectionCount, 0);
    assert.deepEqual(await server.getPresence('r'), { present: [], states: {}, metadata: {} });
    assert.equal(server.close(), server.close(), 'one shutdown, however often asked');
    await assert.rejects(connectRaw(url), 'nothing listens any more');
  });

  test('another close code can be given', async (t) => {
    const { server, url } = await startServer(t);
    const a = await connect(t, url);
    await server.close({ code: 1001 });
    assert.equal((await a.closed).code, 1001);
  });

  test('a client that never answers the close handshake is cut after closeTimeout', async (t) => {
    const { server, url } = await startServer(t, { closeTimeout: 100 });
    const a = await connect(t, url);
    // stop reading: the close frame is never seen, so never answered
    (a.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const started = Date.now();
    await server.close();
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 90 && elapsed < 600, `closed after ${elapsed} ms`);
    assert.equal(server.connectionCount, 0);
    a.ws.terminate();
  });
});

describe('http', () => {
  test('health endpoint answers status, connections and rooms', async (t) => {
    const { url } = await startServer(t);
    const a = await connect(t, url);
    await a.request('mesh/join-room', { roomName: 'one' });
    await a.request('mesh/join-room', { roomName: 'two' });
    await connect(t, url);
    const res = await httpGet(httpUrl(url, '/health'));
    assert.equal(res.status, 200);
    assert.match(res.type ?? '', /application\/json/);
    assert.deepEqual(JSON.parse(res.body), { status: 'ok', connections: 2, rooms: 2 });
  });

  test('plain GET on the socket path answers 426, other paths 404, other upgrade paths 404', async (t) => {
    const { url } = await startServer(t, { path: '/ws' });
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    assert.equal((await httpGet(httpUrl(url, '/ws'))).status, 426);
    assert.equal((await httpGet(httpUrl(url, '/nope'))).status, 404);
    await assert.rejects(connectRaw(url.replace(/\/ws$/, '/other')), (err) => err instanceof UpgradeRefused && err.status === 404);
    const a = await connect(t, url);
    assert.equal(await a.request('mesh/noop'), true);
  });

  test('healthPath can be moved or switched off', async (t) => {
    const moved = await startServer(t, { healthPath: '/healthz' });
    assert.equal((await httpGet(httpUrl(moved.url, '/healthz'))).status, 200);
    assert.equal((await httpGet(httpUrl(moved.url, '/health'))).status, 404);
    const off = await startServer(t, { healthPath: false });
    assert.equal((await httpGet(httpUrl(off.url, '/health'))).status, 404);
  });

  test('attach: our path only; other upgrade paths and requests stay with their owners', async (t) => {
    const presence = createPresenceServer({ logger: silentLogger });
    const http = createServer((req, res) => {
      if (presence.handleHealthRequest(req, res)) return;
      res.end('app');
    });
    const other = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.send('hello from other'));
    });
    presence.attach(http, '/presence');
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      await presence.close();
      for (const client of other.clients) client.terminate();
      other.close();
      http.closeAllConnections(); // keep-alive sockets of the test's own GETs
      await new Promise((resolve) => http.close(resolve));
    });
    const { port } = http.address() as AddressInfo;
    assert.equal(presence.url, `ws://127.0.0.1:${port}/presence`);

    const a = await connect(t, `ws://127.0.0.1:${port}/presence`);
    assert.equal((await a.request('mesh/join-room', { roomName: 'r' })).success, true);

    const ws = new WebSocket(`ws://127.0.0.1:${port}/other`);
    t.after(() => ws.close());
    const message = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    assert.equal(message, 'hello from other');

    assert.equal((await httpGet(`http://127.0.0.1:${port}/anything`)).body, 'app');
    assert.deepEqual(JSON.parse((await httpGet(`http://127.0.0.1:${port}/health`)).body), {
      status: 'ok',
      connections: 1,
      rooms: 1,
    });
    // close() leaves the user's server running
    await presence.close();
    assert.equal((await a.closed).code, 1012);
    assert.equal((await httpGet(`http://127.0.0.1:${port}/anything`)).body, 'app');
  });

  test('options.server attaches at options.path', async (t) => {
    const http = createServer();
    const presence = createPresenceServer({ logger: silentLogger, server: http, path: '/p' });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      await presence.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    });
    const a = await connect(t, presence.url!);
    assert.match(presence.url!, /\/p$/);
    assert.equal(await a.request('mesh/noop'), true);
  });
});

describe('option validation', () => {
  test('createPresenceServer throws a TypeError naming a bad numeric option', () => {
    const cases: Array<[PresenceServerOptions, RegExp]> = [
      [{ maxMissedPongs: 0 }, /maxMissedPongs/],
      [{ maxMissedPongs: 1.5 }, /maxMissedPongs/],
      [{ pingInterval: 0 }, /pingInterval/],
      [{ pingInterval: Number.NaN }, /pingInterval/],
      [{ closeTimeout: -1 }, /closeTimeout/],
      [{ limits: { maxFrameBytes: 0 } }, /maxFrameBytes/],
      [{ limits: { messagesPerSecond: 0 } }, /messagesPerSecond/],
      [{ limits: { burst: 0 } }, /burst/],
      [{ limits: { maxRoomsPerConnection: 0 } }, /maxRoomsPerConnection/],
      [{ limits: { maxStateBytes: Infinity } }, /maxStateBytes/],
      [{ limits: { maxBufferedBytes: -5 } }, /maxBufferedBytes/],
      [{ limits: { maxDroppedMessages: -1 } }, /maxDroppedMessages/],
    ];
    for (const [options, name] of cases) {
      assert.throws(
        () => createPresenceServer({ logger: silentLogger, ...options }),
        (err) => err instanceof TypeError && name.test(err.message),
        JSON.stringify(options),
      );
    }
    // the smallest sensible values are accepted
    const ok = createPresenceServer({
      logger: silentLogger,
      maxMissedPongs: 1,
      pingInterval: 1,
      closeTimeout: 0,
      limits: { maxDroppedMessages: 0, messagesPerSecond: 0.5, burst: 1 },
    });
    return ok.close();
  });
});

describe('cli', () => {
  function run(args: string[]) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', ...args], {
      cwd: new URL('../..', import.meta.url),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => stdout, err: () => stderr };
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`serve prints one ws:// line, serves, and closes with 1012 on ${signal}`, { timeout: 20_000 }, async (t) => {
      const proc = run(['serve', '--port', '0', '--track', '^chat:', '--ping-interval', '1000']);
      t.after(() => proc.child.kill('SIGKILL'));
      const firstLine = await new Promise<string>((resolve, reject) => {
        createInterface({ input: proc.child.stdout }).once('line', resolve);
        proc.exited.then((code) => reject(new Error(`exited with ${code}: ${proc.err()}`)));
      });
      assert.match(firstLine, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
      const a = await connect(t, firstLine);
      assert.equal((await a.request('mesh/join-room', { roomName: 'chat:1' })).success, true);
      assert.equal((await a.request('mesh/join-room', { roomName: 'other' })).error.code, 'EFORBIDDEN');
      proc.child.kill(signal);
      assert.equal((await a.closed).code, 1012);
      assert.equal(await proc.exited, 0);
      assert.equal(proc.out(), `${firstLine}\n`, 'exactly one line on stdout');
      assert.match(proc.err(), /every origin/);
    });
  }

  test('an unknown flag exits 2 with a clear error on stderr and nothing on stdout', async () => {
    const bad = run(['serve', '--prot', '80']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /Unknown option '--prot'/);
    assert.match(bad.err(), /Usage: mesh-presence serve/);
    assert.equal(bad.out(), '');
  });

  test('an option out of range (--max-missed-pongs 0) exits 2 naming it', async () => {
    const bad = run(['serve', '--port', '0', '--max-missed-pongs', '0']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /maxMissedPongs must be an integer >= 1/);
    assert.equal(bad.out(), '');
  });

  test('argument parsing', () => {
    assert.deepEqual(parseCliArgs(['--help']), { command: 'help' });
    assert.deepEqual(parseCliArgs(['serve', '-h']), { command: 'help' });
    assert.match(USAGE, /--allowed-origins/);
    assert.deepEqual(parseCliArgs(['serve']), {
      command: 'serve',
      port: 8080,
      host: '127.0.0.1',
      path: '/',
      track: [],
      allowedOrigins: undefined,
      pingInterval: 5000,
      maxMissedPongs: 2,
      redis: undefined,
    });
    assert.deepEqual(
      (parseCliArgs(['serve', '--redis', 'redis://127.0.0.1:6390', '--redis-prefix', 'app1:', '--instance-timeout', '2000']) as { redis?: unknown }).redis,
      { url: 'redis://127.0.0.1:6390', prefix: 'app1:', instanceTimeout: 2000 },
    );
    const full = parseCliArgs([
      'serve', '--port', '0', '--host', '0.0.0.0', '--path', '/ws', '--track', '^a:', '--track', 'b$',
      '--allowed-origins', 'https://a.example, https://b.example', '--ping-interval', '250', '--max-missed-pongs', '3',
    ]);
    assert.equal(full.command, 'serve');
    if (full.command !== 'serve') return;
    assert.deepEqual(full.track.map(String), ['/^a:/', '/b$/']);
    assert.deepEqual(full.allowedOrigins, ['https://a.example', 'https://b.example']);
    assert.deepEqual([full.port, full.host, full.path, full.pingInterval, full.maxMissedPongs], [0, '0.0.0.0', '/ws', 250, 3]);
    for (const [argv, message] of [
      [['serve', '--prot', '80'], /Unknown option '--prot'/],
      [['serve', '--port', 'eighty'], /--port must be a non-negative integer/],
      [['serve', '--port', '70000'], /at most 65535/],
      [['serve', '--ping-interval', '0'], /greater than 0/],
      [['serve', '--track', '('], /--track/],
      [['serve', '--path', 'ws'], /must start with/],
      [['serve', '--redis', 'localhost:6379'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
      [['serve', '--redis-prefix', 'a:'], /need --redis/],
      [['serve', '--redis', 'redis://x', '--instance-timeout', '50'], /at least 100/],
      [[], /missing command: serve/],
      [['start'], /unknown command: start/],
    ] as const) {
      assert.throws(() => parseCliArgs([...argv]), (err) => err instanceof UsageError && message.test(err.message));
    }
  });
});
