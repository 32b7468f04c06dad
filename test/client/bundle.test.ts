/**
 * The browser entry bundles without `ws` or any Node module (the transport is the
 * page's `WebSocket`); logs the minified + gzip size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

test('src/client/index.ts bundles for the browser without ws or node: imports', async () => {
  const result = await build({
    entryPoints: [new URL('../../src/client/index.ts', import.meta.url).pathname],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
    metafile: true,
  });
  assert.equal(result.errors.length, 0);
  const code = result.outputFiles[0]!.text;
  assert.doesNotMatch(code, /require\(\s*["']ws["']\s*\)/, 'no require("ws")');
  assert.doesNotMatch(code, /from\s*["']ws["']/, 'no import from "ws"');
  assert.doesNotMatch(code, /["']node:[a-z_/]+["']/, 'no node: imports');
  const inputs = Object.keys(result.metafile!.inputs);
  assert.deepEqual(
    inputs.filter((path) => path.includes('node_modules') || path.includes('/server/')),
    [],
    'only our client and protocol modules are bundled',
  );
  const gzip = gzipSync(code).length;
  console.log(`client browser bundle: ${(code.length / 1024).toFixed(1)} KB minified, ${(gzip / 1024).toFixed(1)} KB gzip`);
});
