/** Argument parsing for the `mesh-presence` CLI, apart from its I/O so that it can be tested in-process. */
import { parseArgs } from 'node:util';

export const USAGE = `Usage: mesh-presence serve [options]

Runs a Mesh-compatible presence server and prints its ws:// URL on stdout.

Options:
  --port <n>                 port to listen on (default 8080; 0 = any free port)
  --host <host>              interface to bind (default 127.0.0.1; 0.0.0.0 for all)
  --path <path>              URL path for WebSocket upgrades (default /)
  --track <regex>            track presence only in rooms matching this regular
                             expression; repeat for several (default: every room)
  --allowed-origins <a,b>    comma-separated Origin values accepted from browsers
                             (default: every origin, with a warning)
  --ping-interval <ms>       heartbeat interval (default 5000)
  --max-missed-pongs <n>     silent intervals tolerated before closing (default 2)
  --redis <url>              share presence with other instances through Redis or
                             Valkey (redis://host:port); default: in memory
  --redis-prefix <prefix>    prefix of every Redis key, so that several apps can
                             share one Redis (default mesh-presence:)
  --instance-timeout <ms>    with --redis: a crashed instance's users leave within
                             this time (default 10000)
  -h, --help                 show this help
`;

/** A command line that cannot be run; the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {}

export interface ServeArgs {
  command: 'serve';
  port: number;
  host: string;
  path: string;
  track: RegExp[];
  allowedOrigins: string[] | undefined;
  pingInterval: number;
  maxMissedPongs: number;
  redis: { url: string; prefix?: string; instanceTimeout?: number } | undefined;
}

export type CliArgs = { command: 'help' } | ServeArgs;

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

/** Parses the arguments after `mesh-presence`. Throws `UsageError` for anything unknown or malformed. */
export function parseCliArgs(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        track: { type: 'string', multiple: true },
        'allowed-origins': { type: 'string' },
        'ping-interval': { type: 'string' },
        'max-missed-pongs': { type: 'string' },
        redis: { type: 'string' },
        'redis-prefix': { type: 'string' },
        'instance-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  if (positionals.length !== 1 || positionals[0] !== 'serve') {
    throw new UsageError(
      positionals.length === 0 ? 'missing command: serve' : `unknown command: ${positionals.join(' ')}`,
    );
  }
  const port = integer('port', values.port, 8080);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const pingInterval = integer('ping-interval', values['ping-interval'], 5000);
  if (pingInterval === 0) throw new UsageError('--ping-interval must be greater than 0');
  const path = values.path ?? '/';
  if (!path.startsWith('/')) throw new UsageError(`--path must start with "/", got "${path}"`);
  const track = (values.track ?? []).map((source) => {
    try {
      return new RegExp(source);
    } catch (err) {
      throw new UsageError(`--track: ${(err as Error).message}`);
    }
  });
  const allowedOrigins = values['allowed-origins']
    ?.split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  const redisUrl = values.redis;
  if (redisUrl !== undefined && !/^rediss?:\/\/./.test(redisUrl)) {
    throw new UsageError(`--redis must be a redis:// or rediss:// URL, got "${redisUrl}"`);
  }
  if (redisUrl === undefined && (values['redis-prefix'] !== undefined || values['instance-timeout'] !== undefined)) {
    throw new UsageError('--redis-prefix and --instance-timeout need --redis');
  }
  const instanceTimeout =
    values['instance-timeout'] === undefined ? undefined : integer('instance-timeout', values['instance-timeout'], 0);
  if (instanceTimeout !== undefined && instanceTimeout < 100) {
    throw new UsageError(`--instance-timeout must be at least 100 (ms), got ${instanceTimeout}`);
  }
  return {
    command: 'serve',
    port,
    host: values.host ?? '127.0.0.1',
    path,
    track,
    allowedOrigins,
    pingInterval,
    maxMissedPongs: integer('max-missed-pongs', values['max-missed-pongs'], 2),
    redis: redisUrl === undefined ? undefined : { url: redisUrl, prefix: values['redis-prefix'], instanceTimeout },
  };
}
