/**
 * The package as users get it: `npm run build`'s tsc output, resolved through the
 * `exports` map and the `bin`, not the TypeScript sources the other tests import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url);

test('the built package: exports resolve in Node, the client talks to the server, the bin runs', async () => {
  await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: root });

  // A fresh process, so that resolution goes through package.json "exports" ("node" condition
  // for the client: ws plugged in, nothing passed to MeshClient).
  const script = `
    import { MeshClient } from 'mesh-presence/client';
    import { createPresenceServer } from 'mesh-presence/server';
    const server = createPresenceServer({ logger: { info() {}, warn() {}, error() {} } });
    const url = await server.listen(0);
    const client = new MeshClient(url);
    const joined = await client.joinRoom('lobby');
    const presence = await server.getPresence('lobby');
    await client.close();
    await server.close();
    console.log(JSON.stringify({ joined: joined.success, members: presence.present.length }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  assert.deepEqual(JSON.parse(stdout.trim()), { joined: true, members: 1 }, `unexpected output: ${stdout}`);

  const pkg = JSON.parse((await import('node:fs')).readFileSync(new URL('package.json', root), 'utf8'));
  const help = await run(process.execPath, [pkg.bin['mesh-presence'], '--help'], { cwd: root });
  assert.match(help.stdout, /mesh-presence serve/, 'the bin prints its usage');
});
