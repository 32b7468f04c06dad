/**
 * A real `redis-server` for tests: a random free port on 127.0.0.1, persistence off (so a
 * restart comes back empty, as a Redis without persistence does in production), its own
 * temporary directory, and teardown registered on the test context.
 *
 * Also a tiny RESP client (`RespClient`) for probing Redis from a test: no reconnects and
 * no queueing, so a probe against a stopped Redis fails at once instead of hiding it.
 *
 * Without `redis-server` the Redis suites are skipped with `redisSkip` (a visible skip that
 * says how to run them); with `CI=true` they run anyway and fail with `startRedis`'s message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { delimiter, join } from 'node:path';

type TestContext = { after(fn: () => unknown): void };

/** Where `redis-server` is: `$REDIS_SERVER` when set (and only there), else the first one on `PATH` (Debian: /usr/bin). */
export function redisServerPath(): string | null {
  const candidates = process.env.REDIS_SERVER
    ? [process.env.REDIS_SERVER]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'redis-server')), '/usr/bin/redis-server'];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not there; try the next
    }
  }
  return null;
}

export function redisAvailable(): boolean {
  return redisServerPath() !== null;
}

const HOW_TO =
  'redis-server not found: the Redis suite (test/redis) needs it. Install it with ' +
  '`sudo apt-get install -y redis-server` (or set REDIS_SERVER=/path/to/redis-server) and run ' +
  '`node --import tsx --test test/redis/*.test.ts`';

/**
 * The `skip` option for Redis tests: a message when redis-server is missing outside CI,
 * `false` otherwise. In CI (`CI=true`) a missing Redis is not skipped: `startRedis` throws
 * and every Redis test fails with the install hint.
 */
export const redisSkip: string | false = redisAvailable() || process.env.CI === 'true' ? false : HOW_TO;

export interface TestRedis {
  url: string;
  port: number;
  /** Whatever redis-server wrote (its log), for failure messages. */
  log(): string;
  /** Stops Redis (SIGTERM; no save, persistence is off) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty; resolves once it answers PING. */
  start(): Promise<void>;
  /** `stop()`, an optional pause with Redis down, then `start()`: Redis comes back EMPTY. */
  restart(downMs?: number): Promise<void>;
  /** SIGKILL, as a crash; waits for the exit. */
  kill(): Promise<void>;
  /** Whether redis-server is running now. */
  readonly running: boolean;
  /** The running redis-server's process id. */
  readonly pid: number | undefined;
  /** Kills it for good and removes its directory (what the test's teardown does). */
  close(): Promise<void>;
}

/** Starts a fresh redis-server and registers its teardown on `t` (when given). */
export async function startRedis(t?: TestContext): Promise<TestRedis> {
  const binary = redisServerPath();
  if (!binary) throw new Error(HOW_TO);
  const dir = mkdtempSync(join(os.tmpdir(), 'mesh-redis-'));
  let port = 0;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  const launch = async (): Promise<void> => {
    const proc = spawn(
      binary,
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', dir,
        '--daemonize', 'no',
        '--logfile', '',
        '--loglevel', 'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    let dead = false;
    exited = new Promise<void>((resolve) =>
      proc.once('exit', () => {
        dead = true;
        if (child === proc) child = null;
        resolve();
      }),
    );
    const deadline = Date.now() + 5_000;
    for (;;) {
      if (dead) throw new Error(`redis-server exited at start on port ${port}:\n${output.slice(-2000)}`);
      if (await answersPing(port)) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not answer PING on port ${port} within 5 s:\n${output.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  // A free port can be taken between the probe and redis binding it: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        process.off('exit', killOnExit);
        throw err;
      }
    }
  }

  const signal = async (name: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc) return;
    proc.kill(name);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    log: () => output,
    stop: () => signal('SIGTERM'),
    async start() {
      if (child) throw new Error('redis-server is already running');
      await launch();
    },
    async restart(downMs = 0) {
      await signal('SIGTERM');
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await launch();
    },
    kill: () => signal('SIGKILL'),
    get running() {
      return child !== null;
    },
    get pid() {
      return child?.pid;
    },
    async close() {
      await signal('SIGKILL');
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t?.after(() => redis.close());
  return redis;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function answersPing(port: number): Promise<boolean> {
  try {
    const client = await RespClient.connect(port, 500);
    try {
      return (await client.call('PING')) === 'PONG';
    } finally {
      client.close();
    }
  } catch {
    return false;
  }
}

// ---- a minimal RESP client -------------------------------------------------------------

export type RespValue = string | number | null | RespValue[] | RespError;

export class RespError extends Error {}

/**
 * One connection speaking RESP2: `call()` sends a command and resolves its reply (an error
 * reply resolves a `RespError`); after `monitor()` every line Redis streams goes to the
 * callback. Fails fast: no reconnects, a closed socket rejects what is pending.
 */
export class RespClient {
  #socket: net.Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: Array<{ resolve: (value: RespValue) => void; reject: (err: Error) => void }> = [];
  #onPush: ((line: string) => void) | null = null;
  #closed: Error | null = null;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      for (;;) {
        const parsed = parse(this.#buffer, 0);
        if (!parsed) break;
        this.#buffer = this.#buffer.subarray(parsed.end);
        const waiter = this.#pending.shift();
        if (waiter) waiter.resolve(parsed.value);
        else if (this.#onPush && typeof parsed.value === 'string') this.#onPush(parsed.value);
      }
    });
    const fail = (err: Error) => {
      this.#closed ??= err;
      for (const waiter of this.#pending.splice(0)) waiter.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('redis connection closed')));
  }

  static connect(port: number, timeoutMs = 2_000): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`redis on port ${port}: connect timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new RespClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  call(...args: Array<string | number>): Promise<RespValue> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) {
        const text = String(arg);
        parts.push(`$${Buffer.byteLength(text)}\r\n${text}\r\n`);
      }
      this.#socket.write(parts.join(''));
    });
  }

  /** Enters MONITOR mode: `onLine` gets each command line Redis reports, as Redis prints it. */
  async monitor(onLine: (line: string) => void): Promise<void> {
    const reply = await this.call('MONITOR');
    if (reply !== 'OK') throw new Error(`MONITOR answered ${String(reply)}`);
    this.#onPush = onLine;
  }

  close(): void {
    this.#socket.destroy();
  }
}

function parse(buffer: Buffer, at: number): { value: RespValue; end: number } | null {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buffer[at]!);
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return null;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, end);
        if (!item) return null;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

/** Runs one command on a fresh connection (for probes: keys, channels, sizes). */
export async function redisCall(port: number, ...args: Array<string | number>): Promise<RespValue> {
  const client = await RespClient.connect(port);
  try {
    return await client.call(...args);
  } finally {
    client.close();
  }
}

/** Every key in the database (SCAN, not KEYS, as a good citizen even in tests). */
export async function allKeys(port: number): Promise<string[]> {
  const client = await RespClient.connect(port);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const reply = (await client.call('SCAN', cursor, 'COUNT', 1000)) as [string, string[]];
      cursor = reply[0];
      keys.push(...reply[1]);
    } while (cursor !== '0');
    return keys;
  } finally {
    client.close();
  }
}

// ---- MONITOR, parsed -----------------------------------------------------------------------

export interface MonitoredCommand {
  /** Server time, seconds. */
  time: number;
  /** `ip:port` of the client connection, or `lua` for a command a script ran. */
  source: string;
  /** Upper-case command name. */
  name: string;
  args: string[];
}

/**
 * Records every command Redis executes from now on (MONITOR on a connection of its own).
 * `stop()` ends it and returns what was seen. MONITOR reports each command once: the
 * commands of a MULTI…EXEC block individually between MULTI and EXEC, a script's commands
 * with source `lua`.
 */
export async function monitorRedis(port: number): Promise<{ commands: MonitoredCommand[]; stop(): Promise<MonitoredCommand[]> }> {
  const client = await RespClient.connect(port);
  const commands: MonitoredCommand[] = [];
  await client.monitor((line) => {
    const parsed = parseMonitorLine(line);
    if (parsed) commands.push(parsed);
  });
  return {
    commands,
    async stop() {
      // an ECHO after the last command of interest marks the end of the stream: once its own
      // echo is in, everything executed before it has been reported
      const marker = await RespClient.connect(port);
      const token = `mesh-monitor-end-${Math.random()}`;
      await marker.call('ECHO', token);
      marker.close();
      const deadline = Date.now() + 2_000;
      while (!commands.some((c) => c.name === 'ECHO' && c.args[0] === token) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      client.close();
      return commands.filter((c) => !(c.name === 'ECHO' && c.args[0] === token));
    },
  };
}

export function parseMonitorLine(line: string): MonitoredCommand | null {
  const head = /^(\d+\.\d+) \[\d+ ([^\]]+)\] /.exec(line);
  if (!head) return null;
  const args: string[] = [];
  const quoted = /"((?:[^"\\]|\\.)*)"/g;
  quoted.lastIndex = head[0].length;
  for (let match = quoted.exec(line); match; match = quoted.exec(line)) args.push(match[1]!);
  const name = (args.shift() ?? '').toUpperCase();
  return { time: Number(head[1]), source: head[2]!, name, args };
}
