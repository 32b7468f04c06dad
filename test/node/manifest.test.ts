/**
 * custom-elements.json (the Custom Elements Manifest that package.json points to) and the
 * README's element tables are generated from the element classes' JSDoc by
 * `npm run manifest`. These tests generate the manifest again and fail when the committed
 * one or the README differs, and check that the manifest says what users need of each
 * element.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { customElements, renderReadme } from '../../scripts/readme-tables.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const STALE = 'run `npm run manifest` and commit custom-elements.json and README.md';

/**
 * Documentation known to be missing in an element file, as `<tag> <kind> <name>`. Remove an
 * entry once the JSDoc is there (the test says so when it is).
 */
const KNOWN_GAPS = new Set<string>([]);

async function committed(): Promise<any> {
  return JSON.parse(await readFile(join(root, 'custom-elements.json'), 'utf8'));
}

test('the committed custom-elements.json is what the analyzer generates now', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-presence-cem-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // the analyzer joins --outdir to the working directory: give it a relative path
  const cem = join(root, 'node_modules/@custom-elements-manifest/analyzer/cem.js');
  await run(process.execPath, [cem, 'analyze', '--quiet', '--outdir', relative(root, dir)], { cwd: root });
  const fresh = await readFile(join(dir, 'custom-elements.json'), 'utf8');
  const current = await readFile(join(root, 'custom-elements.json'), 'utf8').catch(() => '');
  assert.ok(current, `custom-elements.json is missing: ${STALE}`);
  assert.ok(fresh === current, `custom-elements.json is out of date: ${STALE}`);
});

test('the README element tables match custom-elements.json', { timeout: 10_000 }, async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const expected = renderReadme(readme, await committed());
  assert.ok(expected === readme, `README.md element tables differ from custom-elements.json: ${STALE}`);
});

test('package.json points to the manifest and publishes it', { timeout: 10_000 }, async () => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.customElements, 'custom-elements.json', 'package.json "customElements"');
  assert.ok(pkg.files.includes('custom-elements.json'), 'package.json "files" lists custom-elements.json');
});

test('the manifest describes the four elements', { timeout: 10_000 }, async () => {
  const manifest = await committed();
  const elements = new Map(customElements(manifest).map((d) => [d.tagName!, d as any]));
  assert.deepEqual([...elements.keys()].sort(), ['mesh-avatars', 'mesh-presence-room', 'mesh-status-picker', 'mesh-typing']);

  const names = (list: Array<{ name: string }> | undefined) => (list ?? []).map((x) => x.name);
  const room = elements.get('mesh-presence-room');
  assert.deepEqual(names(room.events).sort(), [
    'mesh-connection-change',
    'mesh-error',
    'mesh-join',
    'mesh-leave',
    'mesh-state',
    'mesh-users-change',
  ]);
  for (const attribute of ['url', 'room', 'token', 'user-id', 'name', 'avatar', 'color', 'watch-only', 'leave-grace', 'typing-timeout']) {
    assert.ok(names(room.attributes).includes(attribute), `mesh-presence-room lists the ${attribute} attribute`);
  }
  assert.deepEqual(names(room.slots), ['']);

  const avatars = elements.get('mesh-avatars');
  assert.deepEqual(names(avatars.attributes), ['max', 'self-position', 'show-tab-count']);
  for (const part of ['base', 'avatar', 'image', 'initials', 'status-dot', 'overflow', 'tooltip']) {
    assert.ok(names(avatars.cssParts).includes(part), `mesh-avatars lists the ${part} part`);
  }
  assert.ok(names(avatars.cssProperties).includes('--mesh-avatars-size'), 'mesh-avatars lists --mesh-avatars-size');
  assert.deepEqual(names(avatars.slots), ['empty']);
  assert.deepEqual(names(avatars.cssStates), ['stale']);

  const picker = elements.get('mesh-status-picker');
  assert.deepEqual(names(picker.events).sort(), ['mesh-request-close', 'mesh-status-change']);
  assert.deepEqual(names(avatars.events), ['mesh-request-close']);
  assert.ok(names(picker.cssParts).includes('listbox'), 'mesh-status-picker lists the listbox part');

  const typing = elements.get('mesh-typing');
  assert.deepEqual(names(typing.cssParts).sort(), ['base', 'dots', 'text']);
  assert.ok(names(typing.cssProperties).includes('--mesh-typing-dot-color'), 'mesh-typing lists --mesh-typing-dot-color');

  // public API only, with published paths that have a source
  for (const element of elements.values()) {
    for (const member of element.members ?? []) {
      assert.ok(!member.name.startsWith('_') && !member.privacy, `${element.tagName}: ${member.name} is not public API`);
    }
  }
  for (const module of manifest.modules) {
    assert.match(module.path, /^dist\/components\/.+\.js$/, 'module paths are those of the published package');
    const source = join(root, module.path.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
    assert.ok(existsSync(source), `${module.path} has no source ${relative(root, source)}`);
  }
});

test('every attribute, property, event, part, custom property and slot has a description', { timeout: 10_000 }, async () => {
  const missing = new Set<string>();
  for (const element of customElements(await committed()) as any[]) {
    const tag = element.tagName;
    if (!element.summary) missing.add(`${tag} summary`);
    if (!element.description) missing.add(`${tag} description`);
    const kinds: Array<[string, Array<{ name: string; description?: string }> | undefined]> = [
      ['attribute', element.attributes],
      ['member', element.members],
      ['event', element.events],
      ['part', element.cssParts],
      ['cssprop', element.cssProperties],
      ['slot', element.slots],
      ['state', element.cssStates],
    ];
    for (const [kind, list] of kinds) {
      for (const item of list ?? []) if (!item.description?.trim()) missing.add(`${tag} ${kind} ${item.name}`);
    }
  }
  const unexpected = [...missing].filter((gap) => !KNOWN_GAPS.has(gap));
  assert.deepEqual(unexpected, [], 'add JSDoc for these in the element files, then run `npm run manifest`');
  const fixed = [...KNOWN_GAPS].filter((gap) => !missing.has(gap));
  assert.deepEqual(fixed, [], 'documented now: remove these from KNOWN_GAPS in test/node/manifest.test.ts');
});
