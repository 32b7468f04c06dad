/**
 * Size of the script-tag bundle (`dist/mesh-presence.js`: the four elements, the client
 * and Lit) next to a Lit-only baseline (one trivial element) built the same way in the
 * same run, raw, gzip (level 9) and brotli. Target: ≤ 15 KB gzip for the bundle.
 *
 *     node --import tsx bench/bundle-size.ts [--breakdown]
 *
 * Both are built with `libraryBuild` from vite.config.ts into a temporary directory, so
 * the figures are those of `npm run build` without touching `dist/`. `--breakdown` adds
 * what each part adds on top of the previous ones: the client as the room uses it, then
 * the room, then each element.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build, type Plugin } from 'vite';
import { BUNDLE_ENTRY, libraryBuild } from '../vite.config.js';

const root = path.resolve(import.meta.dirname, '..');
const TARGET_GZIP = 15 * 1024;

interface Size {
  raw: number;
  gzip: number;
  brotli: number;
}

/** A virtual entry module, so the baseline needs no file in the tree. */
function virtualEntry(name: string, code: string): Plugin {
  return {
    name: `virtual-entry:${name}`,
    enforce: 'pre',
    resolveId(id) {
      return id === name || id.endsWith(`/${name}`) ? `\0${name}` : null;
    },
    load(id) {
      return id === `\0${name}` ? code : null;
    },
  };
}

async function buildAndMeasure(outDir: string, label: string, entry: string, code?: string): Promise<Size> {
  const config = libraryBuild(entry, outDir, `${label}.js`);
  await build({
    ...config,
    configFile: false,
    plugins: [...(config.plugins ?? []), ...(code === undefined ? [] : [virtualEntry(entry, code)])],
    build: { ...config.build, sourcemap: false },
  });
  const bytes = await readFile(path.join(outDir, `${label}.js`));
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

const kib = (n: number) => `${(n / 1024).toFixed(2)} KiB`;
const row = (label: string, s: Size) =>
  `${label.padEnd(34)} ${String(s.raw).padStart(7)} B ${kib(s.raw).padStart(11)}   gzip ${String(s.gzip).padStart(6)} B ${kib(s.gzip).padStart(10)}   brotli ${kib(s.brotli).padStart(10)}`;

const LIT_BASELINE = `
import { LitElement, html, css } from 'lit';
class LitBaseline extends LitElement {
  static styles = css\`:host { display: block; }\`;
  static properties = { name: {} };
  constructor() { super(); this.name = 'world'; }
  render() { return html\`<p>Hello, \${this.name}</p>\`; }
}
if (!customElements.get('lit-baseline')) customElements.define('lit-baseline', LitBaseline);
`;

/** What the elements use of Lit and @lit/context, before any element of ours. */
const FRAMEWORK = `
export { LitElement, html, css, nothing } from 'lit';
export { property, state } from 'lit/decorators.js';
export { repeat } from 'lit/directives/repeat.js';
export { ContextProvider, ContextConsumer, consume, provide, createContext } from '@lit/context';
`;

/** What the room uses of the client (`src/client`), so that the room's own share shows apart. */
const CLIENT = `export { createPresence, getClient } from ${JSON.stringify(path.join(root, 'src/client/index.ts'))};`;

const STEPS: Array<[string, string[], boolean]> = [
  ['Lit + @lit/context as used', [], false],
  ['+ client (what the room uses)', [], true],
  ['+ room', ['mesh-presence-room'], true],
  ['+ avatars', ['mesh-presence-room', 'mesh-avatars'], true],
  ['+ typing', ['mesh-presence-room', 'mesh-avatars', 'mesh-typing'], true],
  ['+ status picker', ['mesh-presence-room', 'mesh-avatars', 'mesh-typing', 'mesh-status-picker'], true],
];

async function main(): Promise<void> {
  const breakdown = process.argv.includes('--breakdown');
  const outDir = await mkdtemp(path.join(tmpdir(), 'mesh-presence-bundle-'));
  try {
    const bundle = await buildAndMeasure(outDir, 'mesh-presence', BUNDLE_ENTRY);
    const lit = await buildAndMeasure(outDir, 'lit-baseline', 'lit-baseline-entry.js', LIT_BASELINE);
    console.log('bundle sizes (vite library build, es2022, minified; gzip -9, brotli q11)');
    console.log(row('dist/mesh-presence.js', bundle));
    console.log(row('Lit-only baseline (one element)', lit));
    console.log(`bundle / baseline (gzip): ${(bundle.gzip / lit.gzip).toFixed(2)}x; over Lit: ${kib(bundle.gzip - lit.gzip)} gzip`);
    if (breakdown) {
      console.log('\nbreakdown (each step adds to the previous; gzip of the whole):');
      let previous = 0;
      for (const [index, [label, tags, client]] of STEPS.entries()) {
        const imports = tags.map((tag) => `import ${JSON.stringify(path.join(root, 'components', tag, 'register.ts'))};`);
        const code = [FRAMEWORK, ...(client ? [CLIENT] : []), ...imports].join('\n');
        const size = await buildAndMeasure(outDir, `step-${index}`, `step-${index}-entry.js`, code);
        console.log(`${row(label, size)}   (+${kib(size.gzip - previous)})`);
        previous = size.gzip;
      }
    }
    const verdict = bundle.gzip <= TARGET_GZIP ? 'within' : `OVER by ${kib(bundle.gzip - TARGET_GZIP)}`;
    console.log(`target ≤ ${kib(TARGET_GZIP)} gzip: ${verdict}`);
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
