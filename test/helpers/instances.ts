/**
 * Server instances as separate processes of the real CLI (`mesh-presence serve --redis …`),
 * the way they run behind a load balancer: each can be killed with SIGKILL (a crash, no
 * cleanup) or stopped with SIGTERM (a clean shutdown), and every one started here is
 * stopped when the test ends. Their stderr (the logs) is kept for failure messages; set
 * `MESH_TEST_LOGS=1` to see it live.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type TestContext = { after(fn: () => unknown): void };

const root = fileURLToPath(new URL('../..', import.meta.url));
const showLogs = process.env.MESH_TEST_LOGS === '1';

export interface InstanceOptions {
  /** `--redis-prefix`; default: the server's (`mesh-presence:`). */
  prefix?: string;
  /** `--instance-timeout` in ms. Default 2000 (short, for fast crash tests). */
  instanceTimeout?: number;
  /** `--ping-interval` in ms. Default 1000. */
  pingInterval?: number;
  /** `--max-missed-pongs`. Default: the server's. */
  maxMissedPongs?: number;
  /** More CLI arguments. */
  args?: string[];
  /** A name for logs and messages. Default `instance-N`. */
  name?: string;
}

export interface Instance {
  name: string;
  /** The `ws://` URL the instance printed. */
  url: string;
  pid: number;
  /** Its stderr so far. */
  log(): string;
  /** Lines of its stderr written after `from` characters (see `log().length`). */
  linesSince(from: number): string[];
  readonly alive: boolean;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: a crash, nothing cleaned up. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM: a clean shutdown (clients get 1012). Resolves with the exit (SIGKILL after 10 s). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let counter = 0;

/** Starts one CLI instance on `redisUrl`; rejects with its stderr if it does not come up. */
export async function startInstance(t: TestContext, redisUrl: string, options: InstanceOptions = {}): Promise<Instance> {
  const name = options.name ?? `instance-${++counter}`;
  const args = [
    '--import', 'tsx', 'src/server/cli.ts', 'serve',
    '--port', '0',
    '--host', '127.0.0.1',
    '--redis', redisUrl,
    '--instance-timeout', String(options.instanceTimeout ?? 2_000),
    '--ping-interval', String(options.pingInterval ?? 1_000),
  ];
  if (options.prefix !== undefined) args.push('--redis-prefix', options.prefix);
  if (options.maxMissedPongs !== undefined) args.push('--max-missed-pongs', String(options.maxMissedPongs));
  args.push(...(options.args ?? []));

  const child: ChildProcess = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let alive = true;
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (showLogs) process.stderr.write(chunk.replace(/^(?=.)/gm, `[${name}] `));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      alive = false;
      process.off('exit', killOnExit);
      resolve({ code, signal });
    }),
  );

  const stop = async () => {
    if (alive) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    return exited;
  };
  t.after(stop);

  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => fail(new Error('no URL line within 20 s')), 20_000);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start: ${err.message}\n--- its stderr ---\n${stderr.slice(-3000)}`));
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = /^(ws:\/\/\S+)\n/m.exec(stdout);
      if (line && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(line[1]!);
      }
    });
    void exited.then(({ code, signal }) => fail(new Error(`exited with ${signal ?? `code ${code}`}`)));
  });

  return {
    name,
    url,
    pid: child.pid!,
    log: () => stderr,
    linesSince: (from) => stderr.slice(from).split('\n').filter(Boolean),
    get alive() {
      return alive;
    },
    exited,
    async kill() {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
    stop,
  };
}

/** Starts `count` instances on one Redis, in parallel. */
export function startInstances(t: TestContext, redisUrl: string, count: number, options: InstanceOptions = {}): Promise<Instance[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startInstance(t, redisUrl, { ...options, name: options.name ? `${options.name}-${i + 1}` : `${String.fromCharCode(65 + i)}` }),
    ),
  );
}

/** The stderr of each instance, labelled: for assertion messages. */
export function logsOf(instances: Instance[]): string {
  return instances.map((instance) => `--- ${instance.name} (pid ${instance.pid}) ---\n${instance.log().slice(-2000)}`).join('\n');
}
