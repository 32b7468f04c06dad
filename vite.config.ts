/**
 * The single-file bundle for a `<script type="module">` tag: `dist/mesh-presence.js`,
 * one self-registering ES module (the four elements, the client and Lit, inlined and
 * minified), built from `components/bundle.ts`. `npm run build` runs it after `tsc`,
 * which also writes to `dist/`, hence `emptyOutDir: false`. The demo server does not use this file (it configures Vite
 * itself); `bench/bundle-size.ts` reuses `libraryBuild` for its Lit-only baseline.
 */
import path from 'node:path';
import ts from 'typescript';
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

/**
 * Take the indentation out of the `html\`…\`` templates of the elements (the JS minifier
 * leaves template text alone, and Lit would clone every blank into the DOM). A run of
 * blanks with a line break in it goes when it touches a tag (`>`, `<`) and becomes one
 * space elsewhere (between attributes, words or bindings), so what renders is the same:
 * our templates put no meaningful line break between two inline elements. The templates
 * are found with the TypeScript parser, so that `${…}` bindings, nested templates and
 * strings cannot confuse it; the line breaks taken out of a template part go right after
 * it, into the JS around it, so that source maps of the code below still line up.
 */
export function minifyHtmlLiterals(): Plugin {
  const squeeze = (text: string): { text: string; lines: number } => {
    let lines = 0;
    const out = text.replace(/\s*\n\s*/g, (blank: string, at: number) => {
      lines += blank.split('\n').length - 1;
      return text[at - 1] === '>' || text[at + blank.length] === '<' ? '' : ' ';
    });
    return { text: out, lines };
  };
  return {
    name: 'mesh-presence:minify-html-literals',
    transform(code, id) {
      if (!/\/components\/.*\.ts$/.test(id) || !code.includes('html`')) return null;
      const source = ts.createSourceFile(id, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
      const edits: Array<{ start: number; end: number; text: string }> = [];
      // a template part is `\`…${`, `}…${` or `}…\``: squeeze what is between its delimiters
      const part = (node: ts.Node, open: number, close: number): void => {
        const start = node.getStart(source) + open;
        const end = node.end - close;
        const { text, lines } = squeeze(code.slice(start, end));
        // line breaks after `${` or after the closing backtick are JS whitespace
        const after = code.slice(end, node.end) + '\n'.repeat(lines);
        if (lines > 0) edits.push({ start, end: node.end, text: text + after });
      };
      const visit = (node: ts.Node): void => {
        if (ts.isTaggedTemplateExpression(node) && node.tag.getText(source) === 'html') {
          const template = node.template;
          if (ts.isNoSubstitutionTemplateLiteral(template)) part(template, 1, 1);
          else {
            part(template.head, 1, 2);
            template.templateSpans.forEach((span, i, all) => part(span.literal, 1, i === all.length - 1 ? 1 : 2));
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
      if (edits.length === 0) return null;
      let out = code;
      for (const edit of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
      return { code: out, map: null };
    },
  };
}

/** A minified one-file ES library build of `entry` into `outDir/fileName`. */
export function libraryBuild(entry: string, outDir: string, fileName: string): UserConfig {
  return {
    root,
    logLevel: 'warn',
    publicDir: false,
    plugins: [minifyCssLiterals(), minifyHtmlLiterals()],
    build: {
      target: 'es2022',
      outDir,
      emptyOutDir: false,
      copyPublicDir: false,
      sourcemap: true,
      lib: { entry, formats: ['es'], fileName: () => fileName },
      rolldownOptions: {
        output: {
          // ES library output is not minified by default. The minifier shortens `#private`
          // names but not `__private` ones (our convention, after Lion): mangle those too.
          // Only our own code uses such names (Lit's build has its own short ones), and no
          // `__` property is read across two copies of the bundle or by the page.
          minify: {
            compress: true,
            mangle: true,
            codegen: { removeWhitespace: true },
            mangleProps: { include: /^__[A-Za-z]/, reserved: ['__proto__'] },
          },
          // no comments at all (Lit's fifteen copies of its licence, pure annotations); the
          // licence notices once, at the top
          comments: false,
          postBanner: '/*! mesh-presence, MIT. Includes Lit and @lit/context: Copyright Google LLC, BSD-3-Clause. */',
        },
      },
    },
  };
}

/** Entry of the script-tag file: the four elements, registered, without the client API re-exports. */
export const BUNDLE_ENTRY = path.join(root, 'components/bundle.ts');

export default defineConfig(libraryBuild(BUNDLE_ENTRY, path.join(root, 'dist'), 'mesh-presence.js'));
