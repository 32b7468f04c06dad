/**
 * `npm start`: serves the demo pages with Vite and the presence server on the same
 * origin, in memory. The presence server attaches to Vite's own HTTP server at
 * `/presence` and only handles upgrades for that path, so Vite's HMR socket keeps working.
 *
 * Pages: `/` (Lit elements from TypeScript source), `/plain/` (static HTML with only the
 * script-tag bundle), `/vue/` (Vue 3) and `/svelte/` (Svelte 5).
 *
 *     node --import tsx demo/serve.ts [--port 5173] [--host localhost]
 *
 * The port also comes from `PORT`; 0 picks a free one.
 */
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import path from 'node:path';
import { createServer, type Plugin, type ViteDevServer } from 'vite';
import vue from '@vitejs/plugin-vue';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { createPresenceServer, type PresenceServer } from '../src/server/index.js';

// as the user started us, before Vite sets it (see plainPage)
const NODE_ENV = process.env.NODE_ENV;
const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

/** Path of the presence WebSocket on the demo's origin. */
export const PRESENCE_PATH = '/presence';

export interface DemoServer {
  /** http:// URL of the demo page. */
  url: string;
  /** ws:// URL of the presence server. */
  presenceUrl: string;
  vite: ViteDevServer;
  presence: PresenceServer;
  close(): Promise<void>;
}

export interface DemoOptions {
  /** Default 5173; 0 picks a free port. */
  port?: number;
  /** Default 'localhost'. */
  host?: string;
  /**
   * Reload the pages when a source file changes. Default true; tests turn it off, so
   * that an edit elsewhere in the tree does not reload the pages they drive.
   */
  watch?: boolean;
}

/** Start Vite on `demo/` with the presence server attached at `/presence`. */
export async function startDemo({ port = 5173, host = 'localhost', watch = true }: DemoOptions = {}): Promise<DemoServer> {
  const demoRoot = import.meta.dirname;
  const vite = await createServer({
    configFile: false,
    root: demoRoot,
    logLevel: 'warn',
    clearScreen: false,
    // The page imports ../components: let Vite serve the package root.
    server: { port, host, strictPort: true, fs: { allow: [path.resolve(demoRoot, '..')] }, ...(watch ? {} : { watch: null }) },
    plugins: [
      plainPage(demoRoot),
      // the four tags are custom elements, not Vue components
      vue({ template: { compilerOptions: { isCustomElement: (tag) => tag.startsWith('mesh-') } } }),
      svelte({ configFile: false }),
    ],
    // Scan the Vite pages up front, so that Vue and Svelte are pre-bundled at start and a
    // first visit does not reload the page; the plain page is none of Vite's business.
    optimizeDeps: { entries: ['index.html', 'vue/index.html', 'svelte/index.html'] },
  });
  await vite.listen();
  const httpServer = vite.httpServer;
  if (!httpServer) throw new Error('demo: Vite started without an HTTP server');
  const address = httpServer.address() as AddressInfo;
  const origins = ['localhost', '127.0.0.1', '[::1]'].map((h) => `http://${h}:${address.port}`);
  // Vite's configured host may be any name; add it so the page's own origin is accepted.
  if (!['localhost', '127.0.0.1', '::1'].includes(host)) origins.push(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}`);
  const presence = createPresenceServer({ allowedOrigins: origins });
  presence.attach(httpServer as import('node:http').Server, PRESENCE_PATH);
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${address.port}/`;
  return {
    url,
    presenceUrl: `ws://${shownHost}:${address.port}${PRESENCE_PATH}`,
    vite,
    presence,
    async close() {
      await presence.close();
      await vite.close();
    },
  };
}

/**
 * `/plain/`: the plain HTML page served as the static file it is (no Vite transform, no
 * injected client), with `mesh-presence.js` next to it: `dist/mesh-presence.js` when it
 * is newer than every source it is built from, else the same build (`vite build` of
 * vite.config.ts, as in `npm run build`) made on request and kept in memory until a
 * source changes.
 */
function plainPage(demoRoot: string): Plugin {
  const packageRoot = path.resolve(demoRoot, '..');
  const dist = path.join(packageRoot, 'dist');
  const files: Record<string, string> = { 'index.html': 'text/html', 'style.css': 'text/css' };
  let cached: { newest: number; files: Promise<Map<string, string>> } | undefined;

  const newestSource = async (): Promise<number> => {
    const roots = ['components', 'src/client', 'src/protocol.ts', 'vite.config.ts'].map((p) => path.join(packageRoot, p));
    let newest = 0;
    for (const root of roots) {
      const info = await stat(root);
      const paths = info.isDirectory()
        ? (await readdir(root, { recursive: true })).map((p) => path.join(root, p))
        : [root];
      for (const p of paths) newest = Math.max(newest, (await stat(p)).mtimeMs);
    }
    return newest;
  };

  const builtFiles = async (newest: number): Promise<Map<string, string>> => {
    const distFile = path.join(dist, 'mesh-presence.js');
    const distTime = await stat(distFile).then((s) => s.mtimeMs, () => 0);
    if (distTime >= newest) {
      const map = await readFile(`${distFile}.map`, 'utf8').catch(() => undefined);
      const out = new Map([['mesh-presence.js', await readFile(distFile, 'utf8')]]);
      if (map) out.set('mesh-presence.js.map', map);
      return out;
    }
    // `vite build` with vite.config.ts, as `npm run build` runs it, into a temporary
    // folder. In a child process: Vite decides production or development from NODE_ENV,
    // which the dev server in this process has set to development.
    const outDir = await mkdtemp(path.join(tmpdir(), 'mesh-presence-demo-'));
    try {
      const env = { ...process.env };
      if (NODE_ENV === undefined) delete env.NODE_ENV;
      else env.NODE_ENV = NODE_ENV;
      const vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin/vite.js');
      await execFileAsync(process.execPath, [vite, 'build', '--outDir', outDir, '--logLevel', 'warn'], { cwd: packageRoot, env });
      const out = new Map<string, string>();
      for (const name of await readdir(outDir)) out.set(name, await readFile(path.join(outDir, name), 'utf8'));
      return out;
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  };

  return {
    name: 'mesh-presence:plain-page',
    configureServer(server) {
      // before Vite's own middlewares, which would transform the HTML
      server.middlewares.use((req, res, next) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        if (url.pathname === '/plain') {
          res.writeHead(302, { location: `/plain/${url.search}` }).end();
          return;
        }
        if (!url.pathname.startsWith('/plain/')) return next();
        const name = url.pathname.slice('/plain/'.length) || 'index.html';
        void (async () => {
          if (name in files) {
            const body = await readFile(path.join(demoRoot, 'plain', name));
            res.writeHead(200, { 'content-type': `${files[name]}; charset=utf-8`, 'cache-control': 'no-cache' }).end(body);
            return;
          }
          if (name !== 'mesh-presence.js' && name !== 'mesh-presence.js.map') return next();
          const newest = await newestSource();
          if (cached?.newest !== newest) cached = { newest, files: builtFiles(newest) };
          const built = await cached.files.catch((err: unknown) => {
            cached = undefined; // try again on the next request
            throw err;
          });
          const body = built.get(name);
          if (body === undefined) return next();
          const type = name.endsWith('.map') ? 'application/json' : 'text/javascript';
          res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-cache' }).end(body);
        })().catch((err: unknown) => {
          server.config.logger.error(`demo: /plain/${name}: ${String(err)}`);
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
        });
      });
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, host: { type: 'string' } },
    allowPositionals: false,
  });
  const rawPort = values.port ?? process.env.PORT ?? '5173';
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`demo: invalid port "${rawPort}"`);
    process.exit(1);
  }
  const demo = await startDemo({ port, host: values.host ?? 'localhost' });
  console.log(`mesh-presence demo: ${demo.url}`);
  console.log('Open it in two browser windows: each window is a different user.');
  console.log(`The same with plain HTML, Vue 3 and Svelte 5: ${['plain/', 'vue/', 'svelte/'].map((p) => demo.url + p).join('  ')}`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1); // a second Ctrl-C: do not wait
    stopping = true;
    void demo.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
