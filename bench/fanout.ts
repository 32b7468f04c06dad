/**
 * Fan-out benchmark: our presence server against a bare `ws` broadcast server, in one run.
 *
 *   node --import tsx bench/fanout.ts [--quick] [--server ours|bare|both] [--workers N]
 *        [--scenarios A,B,C] [--rounds N] [--server-options JSON] [--bare-plain] [--profile]
 *        [--store memory|redis] [--redis-url URL] [--instances N] [--stores memory,redis]
 *
 * Scenarios: A fan-out latency and loss, B connect storm, C idle memory per connection.
 * Each server runs in a child process of its own (with `--expose-gc`), started afresh for
 * every scenario; the clients run in `--workers` other child processes. Everything binds
 * to 127.0.0.1, every wait has a deadline, and every process started here is stopped.
 *
 * `--rounds N` measures each scenario N times, alternating which server goes first, and
 * reports the median of each figure (the worst for losses): the machine is shared, so a
 * single run can catch another process's burst.
 * `--server-options` is JSON for our server's `createPresenceServer`, over its production
 * defaults (`limits` one by one). `--bare-plain` runs the bare server without write batching
 * (one syscall per frame). `--profile` writes a CPU profile of each server's serving time
 * under `bench/.profiles/` and prints where the time went. `--store`, `--redis-url` and
 * `--instances` choose how our server runs (clients are spread over the instances; with
 * `--store redis` the default is 2 instances on one Redis).
 *
 * `--stores memory,redis` compares our server with itself instead of with bare `ws`: on the
 * memory store (one instance) against on Redis (`--instances`, default 2, subscribers and
 * publishers spread over them), in one run; the tables' columns are then `memory` and
 * `redis×N`, and scenario A's p99 target is redis ≤ 2× memory (issue 4). Without
 * `--redis-url` the bench starts a redis-server of its own (persistence off) on a free port
 * and stops it at the end; each target gets a fresh key prefix. For Redis it also reports
 * commands per publish (INFO commandstats deltas over the publishing window) and the
 * redis-server's CPU. `npm run bench:redis` runs scenario A that way.
 *
 * Exit code: 0 whatever the targets say (it is a benchmark); 1 when a scenario could
 * not run (a server crashed, refused the load, or a set-up timed out); 2 on the watchdog.
 */
import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IpcPeer } from './lib/ipc.js';
import { summariseProfile } from './lib/profile.js';
import { mergeSorted, percentile, renderTable, split, wallNow, type Row } from './lib/stats.js';
import type { CollectResult, OpenRequest, OpenResult, PublishRequest, PublishResult } from './load-worker.js';
import { startTarget, type Target, type TargetKind, type TargetOptions } from './target.js';
import { redisAvailable, redisCall, startRedis, type TestRedis } from '../test/helpers/redis.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// ---- configuration ------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    server: { type: 'string', default: 'both' },
    workers: { type: 'string', default: '2' },
    scenarios: { type: 'string', default: 'A,B,C' },
    'server-options': { type: 'string', default: '{}' },
    'bare-plain': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    store: { type: 'string', default: 'memory' },
    'redis-url': { type: 'string' },
    instances: { type: 'string' },
    stores: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}

const quick = args.quick;
const workerCount = Math.max(1, Number(args.workers));
const rounds = Math.max(1, Number(args.rounds));
const scenarios = new Set(args.scenarios.split(',').map((name) => name.trim().toUpperCase()));
if (args.store !== 'memory' && args.store !== 'redis') throw new Error('--store must be memory or redis');
const profileDir = args.profile ? join(root, 'bench', '.profiles', new Date().toISOString().replace(/[:.]/g, '-')) : null;

/**
 * The two columns of every table: `bare` is the baseline, `ours` what is measured against
 * it (bare `ws` vs our server; or, with `--stores`, our server on memory vs on Redis).
 */
type Side = 'bare' | 'ours';

/** What runs in one column. */
interface Contender {
  /** Column header and progress label. */
  label: string;
  /** For file names (profiles). */
  slug: string;
  kind: TargetKind;
  options: TargetOptions;
}

const serverOptions = JSON.parse(args['server-options']) as Record<string, unknown>;
const storesMode = args.stores !== undefined;
if (storesMode && args.stores!.replace(/\s/g, '') !== 'memory,redis') throw new Error(`--stores takes memory,redis, not ${args.stores}`);
if (storesMode && args.server !== 'both') throw new Error('--stores compares our server with itself: leave out --server');

/** Our server's processes on `store`; memory alone runs 1 instance unless told (2 would be 2 presences). */
function ours(store: 'memory' | 'redis'): TargetOptions {
  const instances = store === 'memory' && storesMode ? 1 : Math.max(1, Number(args.instances ?? (store === 'redis' ? 2 : 1)));
  // redisUrl is filled in by main() once the Redis runs (ours, or --redis-url)
  return { instances, serverOptions, store, redisUrl: args['redis-url'] };
}

const contenders: Partial<Record<Side, Contender>> = {};
if (storesMode) {
  const redisSide = ours('redis');
  contenders.bare = { label: 'memory', slug: 'memory', kind: 'ours', options: ours('memory') };
  contenders.ours = { label: `redis×${redisSide.instances}`, slug: 'redis', kind: 'ours', options: redisSide };
} else {
  if (args.server !== 'ours' && args.server !== 'bare' && args.server !== 'both') {
    throw new Error(`--server must be ours, bare or both, not ${args.server}`);
  }
  // the bare server always runs as one instance
  if (args.server !== 'ours') contenders.bare = { label: 'bare', slug: 'bare', kind: 'bare', options: { serverOptions: { batchWrites: !args['bare-plain'] } } };
  if (args.server !== 'bare') contenders.ours = { label: 'ours', slug: 'ours', kind: 'ours', options: ours(args.store) };
}
const sides = (['bare', 'ours'] as const).filter((side) => contenders[side]);
const columns = { bare: contenders.bare?.label ?? 'bare', ours: contenders.ours?.label ?? 'ours' };
const usesRedis = sides.some((side) => contenders[side]!.options.store === 'redis');

const config = quick
  ? {
      fanout: { subscribers: 50, publishers: 5, ratePerSecond: 10, warmupMs: 500, durationMs: 2_000, padBytes: 64 },
      storm: { clients: 100 },
      idle: { connections: 300, firstPhase: 30, rooms: 10 },
      watchdogMs: 120_000,
    }
  : {
      fanout: { subscribers: 500, publishers: 5, ratePerSecond: 10, warmupMs: 2_000, durationMs: 10_000, padBytes: 64 },
      storm: { clients: 500 },
      idle: { connections: 5_000, firstPhase: 500, rooms: 50 },
      watchdogMs: 600_000,
    };

/** The targets of issue 2, as ratios ours/bare. */
const MAX_RATIO = 1.5;
/** Issue 4: scenario A's p99 on Redis (two instances) at most twice the memory store's. */
const MAX_RATIO_REDIS = 2;

// ---- process management ---------------------------------------------------------------

const workers: IpcPeer[] = [];
const targets = new Set<Target>();
/** The redis-server this run started (none with `--redis-url`). */
let ownRedis: TestRedis | null = null;

/** Starts a redis-server for the run unless `--redis-url` names one; gives the Redis sides its URL. */
async function startRedisIfNeeded(): Promise<void> {
  if (!usesRedis || args['redis-url']) return;
  if (!redisAvailable()) {
    throw new Error('redis-server not found: install it (apt-get install redis-server) or pass --redis-url redis://host:port');
  }
  ownRedis = await startRedis();
  for (const side of sides) {
    const options = contenders[side]!.options;
    if (options.store === 'redis') options.redisUrl = ownRedis.url;
  }
}

function startWorkers(): void {
  const entry = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
  for (let i = 0; i < workerCount; i++) {
    const child = fork(entry, [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    workers.push(new IpcPeer(child, `load worker #${i + 1}`));
  }
}

async function cleanUp(): Promise<void> {
  await Promise.allSettled([...targets].map((target) => target.close()));
  await Promise.allSettled(workers.map((worker) => worker.stop(2_000)));
  await ownRedis?.close();
}

const watchdog = setTimeout(() => {
  console.error(`\nwatchdog: the benchmark ran longer than ${config.watchdogMs / 1000} s; stopping.`);
  void cleanUp().finally(() => process.exit(2));
}, config.watchdogMs);

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping the servers and load workers`);
    void cleanUp().finally(() => process.exit(130));
  });
}

async function withTarget<T>(side: Side, run: (target: Target, contender: Contender) => Promise<T>, label: string): Promise<T> {
  const contender = contenders[side]!;
  const options: TargetOptions = {
    ...contender.options,
    profilePath: profileDir ? join(profileDir, `${label}-${contender.slug}`) : undefined,
  };
  const target = await startTarget(contender.kind, options);
  targets.add(target);
  try {
    const figures = await run(target, contender);
    await target.stopProfiles();
    return figures;
  } finally {
    // Clients first, so that the server sees ordinary closes, not its own shutdown.
    await Promise.all(workers.map((worker) => worker.request('close', null, 60_000)));
    await target.close();
    targets.delete(target);
  }
}

/** Asks every worker the same kind of request, each with its own body. */
function all<T>(type: string, bodies: unknown[], timeoutMs: number): Promise<T[]> {
  return Promise.all(workers.map((worker, i) => worker.request<T>(type, bodies[i], timeoutMs)));
}

function checkOpened(results: OpenResult[], expected: number, what: string): void {
  const opened = results.reduce((sum, result) => sum + result.opened, 0);
  if (opened < expected) {
    const why = [...new Set(results.flatMap((result) => result.failures))].slice(0, 5).join('; ');
    throw new Error(`${what}: only ${opened} of ${expected} clients finished set-up${why ? ` (${why})` : ''}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const progress = (text: string) => process.stderr.write(`  … ${text}\n`);

// ---- scenarios ----------------------------------------------------------------------------

interface FanoutFigures {
  p50: number;
  p99: number;
  max: number;
  deliveredPerSecond: number;
  expected: number;
  lost: number;
  outOfOrder: number;
  refused: number;
  /** Server CPU time over the publishing window (warm-up to drained), in % of one core. */
  cpuPercent: number;
  /** Why publishes were refused or events lost: publish failures, then socket closes/errors and `mesh/error` pushes. */
  notes: string[];
  /** Redis only (a Redis this run started): EVALSHA/EVAL/FCALL/EXEC calls per publish over the window. */
  redisScriptsPerPublish?: number;
  /** Redis only: every command Redis executed per publish (those run inside scripts and background work included). */
  redisCommandsPerPublish?: number;
  /** Redis only: the redis-server's CPU over the window, in % of one core. */
  redisCpuPercent?: number;
}

/** Commands executed so far (by name, from INFO commandstats) and CPU seconds of the Redis this run started. */
async function redisCounters(): Promise<{ calls: Map<string, number>; cpuSeconds: number } | null> {
  if (!ownRedis) return null;
  const info = (await redisCall(ownRedis.port, 'INFO', 'cpu', 'commandstats')) as string;
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  const cpu = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { calls, cpuSeconds: cpu('used_cpu_user') + cpu('used_cpu_sys') };
}

async function fanout(target: Target, contender: Contender): Promise<FanoutFigures> {
  const { subscribers, publishers, ratePerSecond, warmupMs, durationMs, padBytes } = config.fanout;
  const shares = split(subscribers, workers.length);
  const opened = await all<OpenResult>(
    'open',
    shares.map(
      (share): OpenRequest => ({
        urls: target.urls,
        offset: share.offset,
        count: share.count,
        rooms: ['bench-fanout'],
        subscribe: true,
        concurrency: 50,
        expectMembers: 0,
        timeoutMs: 60_000,
      }),
    ),
    70_000,
  );
  checkOpened(opened, subscribers, 'fan-out set-up');
  await sleep(500); // let the join pushes of the set-up drain
  const runId = `${contender.slug}-${Date.now()}`;
  const onRedis = contender.options.store === 'redis';
  const redisBefore = onRedis ? await redisCounters() : null;
  const cpuBefore = await target.cpuMicros();
  const wallBefore = wallNow();
  const startAt = wallNow() + 200;
  const published = await all<PublishResult>(
    'publish',
    workers.map(
      (_, w): PublishRequest => ({
        runId,
        publishers: Array.from({ length: publishers }, (_, g) => g).filter((g) => g % workers.length === w),
        totalPublishers: publishers,
        intervalMs: 1_000 / ratePerSecond,
        startAt,
        warmupMs,
        durationMs,
        padBytes,
      }),
    ),
    warmupMs + durationMs + 60_000,
  );
  const measured = published.reduce((sum, result) => sum + result.measured, 0);
  const refused = published.reduce((sum, result) => sum + result.refused, 0);
  const collected = await all<CollectResult>(
    'collect',
    workers.map(() => ({ runId, expectedPerClient: measured, drainTimeoutMs: 5_000 })),
    30_000,
  );
  const cpuPercent = (100 * ((await target.cpuMicros()) - cpuBefore)) / 1_000 / (wallNow() - wallBefore);
  const redisAfter = redisBefore ? await redisCounters() : null;
  const window = wallNow() - wallBefore;
  const latencies = mergeSorted(collected.map((result) => result.latencies));
  const received = collected.reduce((sum, result) => sum + result.received, 0);
  const expected = measured * subscribers;
  const notes = [...new Set([...published, ...collected].flatMap((result) => result.failures))];
  let redisFigures: Pick<FanoutFigures, 'redisScriptsPerPublish' | 'redisCommandsPerPublish' | 'redisCpuPercent'> = {};
  if (redisBefore && redisAfter) {
    const publishes = published.reduce((sum, result) => sum + result.measured + result.warmup, 0);
    const delta = (name: string) => (redisAfter.calls.get(name) ?? 0) - (redisBefore.calls.get(name) ?? 0);
    // the INFO calls of this measurement are not the server's
    const all = [...redisAfter.calls.keys()].filter((name) => name !== 'info').reduce((sum, name) => sum + delta(name), 0);
    redisFigures = {
      redisScriptsPerPublish: (delta('evalsha') + delta('eval') + delta('fcall') + delta('exec')) / publishes,
      redisCommandsPerPublish: all / publishes,
      redisCpuPercent: (100 * (redisAfter.cpuSeconds - redisBefore.cpuSeconds) * 1_000) / window,
    };
  }
  return {
    ...redisFigures,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    deliveredPerSecond: received / (durationMs / 1_000),
    expected,
    lost: Math.max(0, expected - received),
    outOfOrder: collected.reduce((sum, result) => sum + result.outOfOrder, 0),
    refused,
    cpuPercent,
    notes,
  };
}

interface StormFigures {
  totalMs: number;
  readyP50: number;
  readyP99: number;
  allSeenP50: number;
  allSeenP99: number;
  incomplete: number;
  /** Server CPU time from the first connection to the last client seeing everyone. */
  cpuMs: number;
}

async function storm(target: Target): Promise<StormFigures> {
  const { clients } = config.storm;
  const cpuBefore = await target.cpuMicros();
  const results = await all<OpenResult>(
    'open',
    split(clients, workers.length).map(
      (share): OpenRequest => ({
        urls: target.urls,
        offset: share.offset,
        count: share.count,
        rooms: ['bench-storm'],
        subscribe: true,
        concurrency: 0, // all at once
        expectMembers: clients,
        timeoutMs: 60_000,
      }),
    ),
    70_000,
  );
  const cpuMs = ((await target.cpuMicros()) - cpuBefore) / 1_000;
  checkOpened(results, clients, 'connect storm');
  const ready = mergeSorted(results.map((result) => result.readyMs));
  const allSeen = mergeSorted(results.map((result) => result.allSeenMs));
  const incomplete = results.reduce((sum, result) => sum + result.incomplete, 0);
  const firstStart = Math.min(...results.map((result) => result.firstStartAt));
  const lastSeen = Math.max(...results.map((result) => result.lastAllSeenAt));
  return {
    totalMs: incomplete > 0 ? NaN : lastSeen - firstStart,
    readyP50: percentile(ready, 50),
    readyP99: percentile(ready, 99),
    allSeenP50: percentile(allSeen, 50),
    allSeenP99: percentile(allSeen, 99),
    incomplete,
    cpuMs,
  };
}

interface IdleFigures {
  kbPerConnection: number;
  kbPerConnectionMarginal: number;
  heapKbPerConnection: number;
  baselineMb: number;
  connections: number;
}

async function idle(target: Target): Promise<IdleFigures> {
  const { connections, firstPhase, rooms } = config.idle;
  const roomNames = Array.from({ length: rooms }, (_, i) => `bench-idle-${i}`);
  const openPhase = async (from: number, count: number) => {
    const results = await all<OpenResult>(
      'open',
      split(count, workers.length).map(
        (share): OpenRequest => ({
          urls: target.urls,
          offset: from + share.offset,
          count: share.count,
          rooms: roomNames,
          subscribe: false,
          concurrency: 100, // a bounded SYN queue; this phase is not timed
          expectMembers: 0,
          timeoutMs: 120_000,
        }),
      ),
      130_000,
    );
    checkOpened(results, count, 'idle connections');
    await sleep(1_000); // let join pushes and replies drain before measuring
  };
  const before = await target.memory();
  await openPhase(0, firstPhase);
  const middle = await target.memory();
  await openPhase(firstPhase, connections - firstPhase);
  const after = await target.memory();
  if (after.connections !== connections) {
    throw new Error(`the server counts ${after.connections} connections, expected ${connections}`);
  }
  return {
    kbPerConnection: (after.rss - before.rss) / connections / 1024,
    kbPerConnectionMarginal: (after.rss - middle.rss) / (connections - firstPhase) / 1024,
    heapKbPerConnection: (after.heapUsed - before.heapUsed) / connections / 1024,
    baselineMb: before.rss / 1024 / 1024,
    connections,
  };
}

// ---- running and reporting ----------------------------------------------------------------

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Runs one scenario against each server, `rounds` times with the order alternating, and
 * combines the rounds: the median of each figure, except `worst` keys (losses), which take
 * the maximum; lists are merged.
 */
async function measure<T extends object>(
  scenario: string,
  run: (target: Target, contender: Contender) => Promise<T>,
  worst: Array<keyof T> = [],
): Promise<Partial<Record<Side, Outcome<T>>>> {
  const values: Partial<Record<Side, T[]>> = {};
  const failed: Partial<Record<Side, string>> = {};
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      if (failed[side]) continue;
      const started = Date.now();
      const tag = `${scenario} ${contenders[side]!.label}${rounds > 1 ? ` round ${round + 1}/${rounds}` : ''}`;
      try {
        (values[side] ??= []).push(await withTarget(side, run, `${scenario}${rounds > 1 ? `-r${round + 1}` : ''}`));
        progress(`${tag}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } catch (error) {
        // A dead load worker means the bench itself broke: stop here.
        if (workers.some((worker) => worker.exited)) throw error;
        // The first line says what failed; a child's stack would drown the table.
        const message = error instanceof Error ? error.message : String(error);
        failed[side] = message.split('\n')[0]!;
        progress(`${tag}: ERROR`);
      }
    }
  }
  const outcomes: Partial<Record<Side, Outcome<T>>> = {};
  for (const side of sides) {
    outcomes[side] = failed[side] ? { ok: false, error: failed[side]! } : { ok: true, value: combine(values[side]!, worst) };
  }
  return outcomes;
}

function combine<T extends object>(values: T[], worst: Array<keyof T>): T {
  const combined = { ...values[0]! };
  for (const key of Object.keys(combined) as Array<keyof T>) {
    const all = values.map((value) => value[key]);
    if (typeof all[0] === 'number') {
      const numbers = (all as number[]).slice().sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
      const pick = worst.includes(key)
        ? numbers.some(Number.isNaN) ? NaN : numbers[numbers.length - 1]!
        : numbers[Math.floor((numbers.length - 1) / 2)]!; // lower median: a real round's figure
      combined[key] = pick as T[keyof T];
    } else if (Array.isArray(all[0])) {
      combined[key] = [...new Set((all as unknown[][]).flat())] as T[keyof T];
    }
  }
  return combined;
}

const verdicts: Array<{ label: string; pass: boolean; error?: boolean }> = [];
let errors = 0;

function report<T>(title: string, outcomes: Partial<Record<Side, Outcome<T>>>, rows: (figures: Partial<Record<Side, T>>) => Row[], notes: (figures: Partial<Record<Side, T>>) => string[] = () => []): void {
  const figures: Partial<Record<Side, T>> = {};
  const problems: string[] = [];
  for (const side of sides) {
    const outcome = outcomes[side]!;
    if (outcome.ok) figures[side] = outcome.value;
    else {
      errors++;
      problems.push(`  ERROR (${contenders[side]!.label}): ${outcome.error}`);
    }
  }
  if (outcomes.ours && !outcomes.ours.ok) verdicts.push({ label: `${title.split('.')[0]}: could not run ${columns.ours}`, pass: false, error: true });
  const table = renderTable(title, rows(figures), title.split('.')[0]!, columns);
  verdicts.push(...table.verdicts);
  console.log(`\n${table.text}`);
  for (const line of [...notes(figures), ...problems]) console.log(line);
}

function machine(): string {
  const cpus = os.cpus();
  const wsVersion = (JSON.parse(readFileSync(join(root, 'node_modules/ws/package.json'), 'utf8')) as { version: string }).version;
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  return [
    `machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`,
    `node ${process.version}, ws ${wsVersion}, load average at start ${load} (shared machine: figures are noisy; ratios are what count)`,
    `mode: ${quick ? 'quick (smoke test; the targets are meant for the full run)' : 'full'}; servers: ${sides.map((side) => contenders[side]!.label).join(', ')}; ` +
      `${rounds === 1 ? '1 round' : `${rounds} rounds in alternating order, median per figure (worst for losses)`}; ` +
      `${workers.length} load workers; each server in its own process, started afresh per scenario; ` +
      `perMessageDeflate off on both (ws default); bare ${args['bare-plain'] ? 'writes each frame at once' : 'batches writes per event-loop turn (cork)'}`,
    ...sides
      .filter((side) => contenders[side]!.kind === 'ours')
      .map((side) => {
        const { store, instances, redisUrl } = contenders[side]!.options;
        const where = store === 'redis' ? ` on ${ownRedis ? `its own redis-server (${redisUrl}, persistence off)` : redisUrl}, clients spread over the instances` : '';
        return `${contenders[side]!.label}: our server, store ${store}, ${instances} instance(s)${where}; server options: ${args['server-options']}`;
      }),
  ].join('\n');
}

async function main(): Promise<void> {
  await startRedisIfNeeded();
  startWorkers();
  console.log(machine());

  if (scenarios.has('A')) {
    const c = config.fanout;
    const outcomes = await measure('A', fanout, ['lost', 'refused', 'outOfOrder']);
    report(
      `A. Fan-out: 1 room × ${c.subscribers} subscribers, ${c.publishers} publishers × ${c.ratePerSecond}/s, ` +
        `${c.durationMs / 1000} s measured after ${c.warmupMs / 1000} s warm-up; latency = receive − sentAt`,
      outcomes,
      (f) => [
        { label: 'latency p50 (ms)', bare: f.bare?.p50, ours: f.ours?.p50, decimals: 2 },
        { label: 'latency p99 (ms)', bare: f.bare?.p99, ours: f.ours?.p99, decimals: 2, target: { maxRatio: storesMode ? MAX_RATIO_REDIS : MAX_RATIO } },
        { label: 'latency max (ms)', bare: f.bare?.max, ours: f.ours?.max, decimals: 2 },
        { label: 'delivered events/s', bare: f.bare?.deliveredPerSecond, ours: f.ours?.deliveredPerSecond, decimals: 0 },
        { label: 'server CPU (% of a core)', bare: f.bare?.cpuPercent, ours: f.ours?.cpuPercent, decimals: 0 },
        { label: 'expected events', bare: f.bare?.expected, ours: f.ours?.expected, decimals: 0, noRatio: true },
        { label: 'lost events', bare: f.bare?.lost, ours: f.ours?.lost, decimals: 0, noRatio: true, target: { equals: 0 } },
        ...(ownRedis
          ? [
              { label: 'Redis: script calls per publish', bare: f.bare?.redisScriptsPerPublish, ours: f.ours?.redisScriptsPerPublish, decimals: 2, noRatio: true },
              { label: 'Redis: all commands per publish', bare: f.bare?.redisCommandsPerPublish, ours: f.ours?.redisCommandsPerPublish, decimals: 2, noRatio: true },
              { label: 'redis-server CPU (% of a core)', bare: f.bare?.redisCpuPercent, ours: f.ours?.redisCpuPercent, decimals: 0, noRatio: true },
            ]
          : []),
      ],
      (f) => [
        ...sides.flatMap((side) => {
          const value = f[side];
          if (!value) return [];
          const label = contenders[side]!.label;
          const lines: string[] = [];
          const counts = [value.refused > 0 ? `${value.refused} publishes refused` : '', value.lost > 0 ? `${value.lost} events lost` : ''].filter(Boolean);
          if (counts.length > 0 || value.notes.length > 0) {
            lines.push(`  ${label}: ${counts.join(', ') || 'nothing lost'}: ${value.notes.join('; ') || 'no failure reported'}`);
          }
          if (value.outOfOrder > 0) lines.push(`  ${label}: ${value.outOfOrder} events arrived out of order or twice`);
          return lines;
        }),
        ...(ownRedis
          ? [
              '  Redis rows: INFO commandstats deltas over the publishing window (warm-up included) per publish, for every',
              '  instance: "all commands" counts those run inside scripts and background work (heartbeats, sweeps) too;',
              '  test/redis/round-trips.test.ts counts the round trips per publish exactly (MONITOR).',
            ]
          : []),
      ],
    );
  }

  if (scenarios.has('B')) {
    const n = config.storm.clients;
    const outcomes = await measure('B', storm, ['incomplete']);
    report(
      `B. Connect storm: ${n} clients at once, each connect + join + subscribe one room, until all ${n} have seen all ${n}`,
      outcomes,
      (f) => [
        { label: 'total time (ms)', bare: f.bare?.totalMs, ours: f.ours?.totalMs, decimals: 0, ...(storesMode ? {} : { target: { maxRatio: MAX_RATIO } }) },
        { label: 'connect+join+subscribe p50 (ms)', bare: f.bare?.readyP50, ours: f.ours?.readyP50, decimals: 0 },
        { label: 'connect+join+subscribe p99 (ms)', bare: f.bare?.readyP99, ours: f.ours?.readyP99, decimals: 0 },
        { label: 'saw all members p50 (ms)', bare: f.bare?.allSeenP50, ours: f.ours?.allSeenP50, decimals: 0 },
        { label: 'saw all members p99 (ms)', bare: f.bare?.allSeenP99, ours: f.ours?.allSeenP99, decimals: 0 },
        { label: 'server CPU time (ms)', bare: f.bare?.cpuMs, ours: f.ours?.cpuMs, decimals: 0 },
      ],
      (f) =>
        sides.flatMap((side) =>
          (f[side]?.incomplete ?? 0) > 0 ? [`  ${contenders[side]!.label}: ${f[side]!.incomplete} clients never saw all members within 60 s`] : [],
        ),
    );
  }

  if (scenarios.has('C')) {
    const c = config.idle;
    const outcomes = await measure('C', idle);
    report(
      `C. Idle memory: ${c.connections} connections, each joined (not subscribed) to one of ${c.rooms} rooms; ` +
        `server RSS after forced GC`,
      outcomes,
      (f) => [
        { label: 'RSS per connection (KB)', bare: f.bare?.kbPerConnection, ours: f.ours?.kbPerConnection, ...(storesMode ? {} : { target: { maxRatio: MAX_RATIO } }) },
        {
          label: `  marginal, ${c.firstPhase}→${c.connections} (KB)`,
          bare: f.bare?.kbPerConnectionMarginal,
          ours: f.ours?.kbPerConnectionMarginal,
        },
        { label: 'JS heap per connection (KB)', bare: f.bare?.heapKbPerConnection, ours: f.ours?.heapKbPerConnection },
        { label: 'RSS before connections (MB)', bare: f.bare?.baselineMb, ours: f.ours?.baselineMb },
      ],
    );
  }

  console.log('\nSummary');
  for (const verdict of verdicts) {
    console.log(`  ${verdict.error ? 'ERROR' : verdict.pass ? 'PASS' : 'MISS'}  ${verdict.label}`);
  }
  if (errors > 0) console.log(`  ${errors} measurement(s) could not run: see ERROR lines above`);

  if (profileDir) {
    console.log(`\nCPU profiles of the servers (${profileDir}):`);
    for (const file of readdirSafe(profileDir)) {
      console.log(`scenario ${file.split('-')[0]}: ${file}`);
      console.log(summariseProfile(join(profileDir, file)).join('\n'));
    }
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

if (profileDir) mkdirSync(profileDir, { recursive: true });

let exitCode = 0;
try {
  await main();
  if (errors > 0) exitCode = 1;
} catch (error) {
  if (interrupted) await new Promise(() => {}); // the signal handler exits
  console.error(`\nbenchmark crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await cleanUp();
}
process.exit(exitCode);

