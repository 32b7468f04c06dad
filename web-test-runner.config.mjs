// Browser tests for the elements: headless Chromium, TypeScript through esbuild, and the
// REAL presence server (src/server) started for the run. Run with
//   NODE_OPTIONS=--import=tsx npx wtr
// (the config imports the server's TypeScript source, hence tsx).
import { chromeLauncher } from '@web/test-runner-chrome';
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { defaultReporter } from '@web/test-runner';
import { CHROMIUM_ARGS } from './test/helpers/chromium.ts';

const inCI = process.env.CI === 'true';

/**
 * Starts presence servers on 127.0.0.1 for the tests.
 * - One shared server for the whole run: `presence-server-url` → its ws URL.
 * - Private servers for tests that stop/restart a server, so that they do not disturb
 *   test files running at the same time: `presence-server-create {authenticate?}` →
 *   `{id, url}` (with `authenticate: true` the upgrade needs a token `<userId>:<name>`,
 *   which becomes the connection's trusted metadata),
 *   `presence-server-stop {id}` (closes it; clients see the server go away),
 *   `presence-server-start {id}` (listens again on the same port, so clients reconnect
 *   to the same URL), `presence-server-dispose {id}`.
 *   All of them are closed when the run ends.
 * - `presence-server-presence {id?, room}` → the server's `getPresence(room)` (shared
 *   server without `id`).
 */
function presenceServerPlugin() {
  /** @type {((options: object) => any) | undefined} */
  let createPresenceServer;
  /** @type {{server: any, url: string} | undefined} */
  let shared;
  /** @type {Map<string, {server: any | null, port: number, url: string, extra: object}>} */
  const privateServers = new Map();
  let nextId = 1;
  /** @type {Error | undefined} */
  let startError;

  const serverOptions = (port, extra = {}) => ({
    host: '127.0.0.1',
    port,
    // With `authenticate: true`, the token `<userId>:<name>` becomes the trusted metadata.
    ...(extra.authenticate ? { authenticate: tokenAuthenticate } : {}),
    // Tests do not wait for heartbeats; keep them short so a dropped socket is noticed soon.
    pingInterval: 2_000,
    logger: { info() {}, warn() {}, error: (...args) => console.error('[presence-server]', ...args) },
  });

  async function start(port, extra) {
    const server = createPresenceServer(serverOptions(port, extra));
    return { server, url: await server.listen(port) };
  }

  async function loadServerModule() {
    try {
      const mod = await import('./src/server/index.ts');
      return mod.createPresenceServer;
    } catch (error) {
      const hint = String(error).includes('Unknown file extension')
        ? ' Run the browser tests with NODE_OPTIONS=--import=tsx (the config imports TypeScript).'
        : '';
      throw new Error(`Could not start the presence server for the browser tests: ${error?.message ?? error}.${hint}`);
    }
  }

  return {
    name: 'mesh-presence-server',
    async serverStart() {
      // A server that cannot start fails the tests that need it with this message, while
      // pure rendering tests still run.
      try {
        createPresenceServer = await loadServerModule();
        shared = await start(0);
      } catch (error) {
        startError = error;
        console.error(`\n[presence-server] ${error.message}\n`);
      }
    },
    async serverStop() {
      const closing = [shared?.server.close()];
      for (const entry of privateServers.values()) closing.push(entry.server?.close());
      privateServers.clear();
      await Promise.allSettled(closing);
    },
    async executeCommand({ command, payload }) {
      if (command.startsWith('presence-server-') && startError) throw startError;
      switch (command) {
        case 'presence-server-url':
          if (!shared) throw new Error('the presence server is not running');
          return shared.url;
        case 'presence-server-create': {
          const extra = { authenticate: payload?.authenticate === true };
          const started = await start(0, extra);
          const id = String(nextId++);
          privateServers.set(id, { server: started.server, port: portOf(started.url), url: started.url, extra });
          return { id, url: started.url };
        }
        case 'presence-server-presence': {
          // who is in a room, as the server sees it: {present, states, metadata}
          const server = payload?.id === undefined ? shared?.server : privateEntry(payload).server;
          if (!server) throw new Error('that presence server is not running');
          return server.getPresence(String(payload.room));
        }
        case 'presence-server-stop': {
          const entry = privateEntry(payload);
          const server = entry.server;
          entry.server = null;
          await server?.close();
          return true;
        }
        case 'presence-server-start': {
          const entry = privateEntry(payload);
          if (!entry.server) entry.server = (await start(entry.port, entry.extra)).server;
          return true;
        }
        case 'presence-server-dispose': {
          const entry = privateEntry(payload);
          privateServers.delete(payload.id);
          await entry.server?.close();
          return true;
        }
        default:
          return undefined; // not ours
      }
    },
  };

  function privateEntry(payload) {
    const entry = privateServers.get(String(payload?.id));
    if (!entry) throw new Error(`no private presence server with id ${payload?.id}`);
    return entry;
  }
}

/** Test authentication: the token `<userId>:<name>` is trusted as `{userId, name}`; none → 401. */
function tokenAuthenticate(_req, { token }) {
  if (!token) return null;
  const colon = token.indexOf(':');
  return colon < 0 ? { userId: token } : { userId: token.slice(0, colon), name: token.slice(colon + 1) };
}

function portOf(url) {
  return Number(new URL(url).port);
}

/**
 * Prints `N passed, N failed, N skipped` as the very last line of the run, so CI can read
 * the counts. A test file that failed to load or run counts as one failure. In CI a
 * skipped test counts as a failure too (it would otherwise hide a missing check) and makes
 * the run fail.
 */
function countReporter() {
  let counts = null;

  function count(sessions) {
    const c = { passed: 0, failed: 0, skipped: 0 };
    const walk = (suite) => {
      for (const test of suite.tests) {
        if (test.skipped) c.skipped++;
        else if (test.passed) c.passed++;
        else c.failed++;
      }
      for (const child of suite.suites) walk(child);
    };
    for (const session of sessions) {
      const before = c.failed;
      if (session.testResults) walk(session.testResults);
      // Load errors, uncaught errors after the tests, or a browser crash.
      if (!session.passed && c.failed === before) c.failed++;
    }
    return c;
  }

  process.on('exit', () => {
    const c = counts ?? { passed: 0, failed: 1, skipped: 0 };
    let failed = c.failed;
    if (inCI && c.skipped > 0) {
      process.stdout.write(`CI: ${c.skipped} skipped test(s) count as failures.\n`);
      failed += c.skipped;
    }
    if (failed > 0) process.exitCode = 1;
    process.stdout.write(`${c.passed} passed, ${failed} failed, ${c.skipped} skipped\n`);
  });

  return {
    onTestRunFinished({ sessions }) {
      counts = count(sessions);
    },
  };
}

export default {
  files: ['test/elements/**/*.test.ts'],
  // One page at a time: a second page is a hidden tab, where requestAnimationFrame (which
  // fixture() waits for) does not run, so its tests hang.
  concurrency: 1,
  nodeResolve: true,
  // Lit says it is in dev mode once per test file; everything else the browser logs stays.
  filterBrowserLogs: ({ args }) => !(typeof args[0] === 'string' && args[0].startsWith('Lit is in dev mode')),
  // Element behaviour tests wait for real sockets; a hung test should still end the run.
  testFramework: { config: { timeout: 10_000 } },
  testsFinishTimeout: 120_000,
  browsers: [
    chromeLauncher({
      launchOptions: {
        headless: true,
        args: [...CHROMIUM_ARGS],
      },
    }),
  ],
  plugins: [esbuildPlugin({ ts: true, target: 'es2022', tsconfig: './tsconfig.json' }), presenceServerPlugin()],
  reporters: [defaultReporter(), countReporter()],
};
