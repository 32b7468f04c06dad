/**
 * `npm start`: serves the demo page with Vite and the presence server on the same
 * origin, in memory. The presence server attaches to Vite's own HTTP server at
 * `/presence` and only handles upgrades for that path, so Vite's HMR socket keeps working.
 *
 *     node --import tsx demo/serve.ts [--port 5173] [--host localhost]
 *
 * The port also comes from `PORT`; 0 picks a free one.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { createPresenceServer, type PresenceServer } from '../src/server/index.js';

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
}

/** Start Vite on `demo/` with the presence server attached at `/presence`. */
export async function startDemo({ port = 5173, host = 'localhost' }: DemoOptions = {}): Promise<DemoServer> {
  const demoRoot = import.meta.dirname;
  const vite = await createServer({
    configFile: false,
    root: demoRoot,
    logLevel: 'warn',
    clearScreen: false,
    // The page imports ../components: let Vite serve the package root.
    server: { port, host, strictPort: true, fs: { allow: [path.resolve(demoRoot, '..')] } },
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
