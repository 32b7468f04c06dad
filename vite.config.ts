/**
 * The single-file bundle for a `<script type="module">` tag: `dist/mesh-presence.js`,
 * one self-registering ES module (the four elements, the client and Lit, inlined and
 * minified). `npm run build` runs it after `tsc`, which also writes to `dist/`, hence
 * `emptyOutDir: false`. The demo server does not use this file (it configures Vite
 * itself); `bench/bundle-size.ts` reuses `libraryBuild` for its Lit-only baseline.
 */
import path from 'node:path';
import { defineConfig, type Plugin, type UserConfig } from 'vite';

const root = import.meta.dirname;

/**
 * Minify the CSS of `css\`…\`` literals without expressions (the JS minifier leaves
 * template text alone). The line breaks taken out of a literal go right after it, as
 * JS whitespace, so that source maps of the code below still line up.
 */
export function minifyCssLiterals(): Plugin {
  const squeeze = (text: string): string =>
    text
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\s+/g, ' ')
      // Spaces around these never matter in CSS; around ':' they may (`a :hover`), so only after it.
      .replace(/\s*([{};,>])\s*/g, '$1')
      .replace(/:\s+/g, ':')
      .replace(/;}/g, '}')
      .trim();
  return {
    name: 'mesh-presence:minify-css-literals',
    transform(code, id) {
      if (!/\/components\/.*\.ts$/.test(id) || !code.includes('css`')) return null;
      const out = code.replace(/\bcss`([^`$\\]*)`/g, (_, text: string) => {
        const lines = text.split('\n').length - 1;
        return `css\`${squeeze(text)}\`${'\n'.repeat(lines)}`;
      });
      return out === code ? null : { code: out, map: null };
    },
  };
}

/** A minified one-file ES library build of `entry` into `outDir/fileName`. */
export function libraryBuild(entry: string, outDir: string, fileName: string): UserConfig {
  return {
    root,
    logLevel: 'warn',
    publicDir: false,
    plugins: [minifyCssLiterals()],
    build: {
      target: 'es2022',
      outDir,
      emptyOutDir: false,
      copyPublicDir: false,
      sourcemap: true,
      lib: { entry, formats: ['es'], fileName: () => fileName },
      rolldownOptions: {
        // ES library output is not minified by default.
        output: { minify: true },
      },
    },
  };
}

export default defineConfig(libraryBuild(path.join(root, 'components/index.ts'), path.join(root, 'dist'), 'mesh-presence.js'));
