/**
 * The types a TypeScript user gets: test/types/consumer.ts imports the package by name, so
 * the compiler resolves it through package.json "exports" to the built `.d.ts` files.
 * It must compile cleanly under bundler and nodenext resolution, and every mistake it
 * marks with `@ts-expect-error` must really be an error (checked on a copy without the
 * markers), so loose types (`any` details, untyped tags) fail here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const consumerPath = join(root, 'test/types/consumer.ts');

/** Runs tsc; resolves with its exit code and output instead of throwing on errors. */
async function typecheck(project: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', project], { cwd: root });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('a consumer of the built package gets typed tags, properties and events', { timeout: 120_000 }, async (t) => {
  // the .d.ts files the exports map points at
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root });

  await t.test('every mesh-* event class is declared in GlobalEventHandlersEventMap and used by the consumer', async () => {
    const dir = join(root, 'components/events');
    const consumer = await readFile(consumerPath, 'utf8');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 7, `expected the event classes in ${dir}, found ${files.length}`);
    for (const file of files) {
      const source = await readFile(join(dir, file), 'utf8');
      const name = /static readonly eventName = '([^']+)'/.exec(source)?.[1];
      const cls = /export class (\w+) extends CustomEvent/.exec(source)?.[1];
      assert.ok(name && cls, `${file}: no event class with a static eventName`);
      assert.match(name, /^mesh-[a-z]+(-[a-z]+)*$/, `${file}: event names are mesh- + kebab-case`);
      const map = /interface GlobalEventHandlersEventMap \{([^}]*)\}/.exec(source)?.[1] ?? '';
      assert.ok(map.includes(`'${name}': ${cls};`), `${file}: '${name}' is not declared in GlobalEventHandlersEventMap`);
      assert.ok(consumer.includes(`'${name}'`), `test/types/consumer.ts does not listen to '${name}': add a typed use of it`);
    }
  });

  for (const config of ['tsconfig.json', 'tsconfig.nodenext.json']) {
    await t.test(`test/types/${config} compiles`, async () => {
      const result = await typecheck(join(root, 'test/types', config));
      assert.equal(result.code, 0, `tsc -p test/types/${config} failed:\n${result.output}`);
    });
  }

  await t.test('each @ts-expect-error line is an error without its marker', async () => {
    const lines = (await readFile(consumerPath, 'utf8')).split('\n');
    const kept: string[] = [];
    const expected: number[] = [];
    for (const line of lines) {
      if (line.trim().startsWith('// @ts-expect-error')) expected.push(kept.length + 1);
      else kept.push(line);
    }
    assert.ok(expected.length >= 5, `expected several @ts-expect-error lines in the consumer, found ${expected.length}`);

    // under the repository, so that the package's self-reference resolves as for the original
    await mkdir(join(root, '.tmp'), { recursive: true });
    const dir = await mkdtemp(join(root, '.tmp', 'types-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'consumer.ts'), kept.join('\n'));
    const config = JSON.parse((await readFile(join(root, 'test/types/tsconfig.json'), 'utf8')).replace(/^\s*\/\/.*$/gm, ''));
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(config));

    const result = await typecheck(join(dir, 'tsconfig.json'));
    assert.notEqual(result.code, 0, 'the consumer without its @ts-expect-error markers compiled: the types are too loose');
    const errorLines = [...result.output.matchAll(/consumer\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1]));
    assert.deepEqual([...new Set(errorLines)].sort((a, b) => a - b), expected, `errors on other lines than the marked ones:\n${result.output}`);
  });
});
