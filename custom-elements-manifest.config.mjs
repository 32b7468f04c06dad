/**
 * Custom Elements Manifest for the four elements: `npm run manifest` writes
 * `custom-elements.json` (and the README's element tables from it); test/node/manifest.test.ts
 * fails when either is out of date.
 *
 * The analyzer reads the JSDoc on each element class (`@summary`, `@slot`, `@csspart`,
 * `@cssprop`, `@cssstate`, `@fires`) and Lit's `@property` decorators (`litelement`). The
 * plugins below turn that into what a package user needs: public API only, defaults and
 * types spelled out, events named once, and paths that exist in the published package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path/posix';
import ts from 'typescript';

export default {
  // the public modules only: controllers and helpers are internal
  globs: [
    'components/index.ts',
    'components/elements.ts',
    'components/context.ts',
    'components/events/*.ts',
    'components/mesh-*/mesh-*.ts',
    'components/mesh-*/register.ts',
  ],
  exclude: ['components/**/*.styles.ts'],
  outdir: '.',
  litelement: true,
  // package.json already has "customElements"; the analyzer must not rewrite the file
  packagejson: false,
  plugins: [publicApiOnly(), resolveConstantDefaults(), nameEvents(), publishedPaths(), stableOrder()],
};

/** Drops private and protected members (`_x`, `__x`): they are not part of the API. */
function publicApiOnly() {
  return {
    name: 'mesh-public-api-only',
    packageLinkPhase({ customElementsManifest }) {
      for (const declaration of declarationsOf(customElementsManifest)) {
        if (!declaration.members) continue;
        declaration.members = declaration.members.filter(
          (member) => !member.privacy && !member.name.startsWith('_') && !member.name.startsWith('#'),
        );
      }
    },
  };
}

/**
 * Replaces defaults written as module constants (`max = DEFAULT_MAX`) with their literal
 * value, looked up in the element's module or the module it imports the constant from,
 * and fills in a missing type from that value.
 */
function resolveConstantDefaults() {
  const cache = new Map();
  /** `const NAME = <literal>` and named imports of a source file. */
  const scan = (path) => {
    if (cache.has(path)) return cache.get(path);
    const result = { constants: new Map(), imports: new Map() };
    cache.set(path, result);
    if (!existsSync(path)) return result;
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
    for (const statement of source.statements) {
      if (ts.isVariableStatement(statement) && statement.declarationList.flags & ts.NodeFlags.Const) {
        for (const declaration of statement.declarationList.declarations) {
          const value = literal(declaration.initializer);
          if (ts.isIdentifier(declaration.name) && value) result.constants.set(declaration.name.text, value);
        }
      }
      if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
        const bindings = statement.importClause?.namedBindings;
        if (!bindings || !ts.isNamedImports(bindings)) continue;
        const from = normalize(join(dirname(path), statement.moduleSpecifier.text.replace(/\.js$/, '.ts')));
        for (const element of bindings.elements) {
          result.imports.set(element.name.text, { from, name: (element.propertyName ?? element.name).text });
        }
      }
    }
    return result;
  };
  const resolve = (path, name, depth = 0) => {
    const { constants, imports } = scan(path);
    if (constants.has(name)) return constants.get(name);
    const imported = imports.get(name);
    return imported && depth < 5 ? resolve(imported.from, imported.name, depth + 1) : undefined;
  };
  return {
    name: 'mesh-resolve-constant-defaults',
    packageLinkPhase({ customElementsManifest }) {
      for (const module of customElementsManifest.modules) {
        for (const declaration of module.declarations ?? []) {
          for (const item of [...(declaration.members ?? []), ...(declaration.attributes ?? [])]) {
            if (!item.default) continue;
            // `3_000` reads as 3000 in documentation
            if (/^\d[\d_]*(\.\d+)?$/.test(item.default)) item.default = item.default.replaceAll('_', '');
            if (!/^[A-Z_$][\w$]*$/.test(item.default)) continue;
            const value = resolve(module.path, item.default);
            if (!value) continue;
            item.default = value.text;
            item.type ??= { text: value.type };
          }
        }
      }
    },
  };
}

/** `{text, type}` of a literal initializer (`5`, `3_000`, `'Status'`, `true`), else undefined. */
function literal(node) {
  if (!node) return undefined;
  if (ts.isNumericLiteral(node)) return { text: String(Number(node.text)), type: 'number' };
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
    return { text: `'${node.text}'`, type: 'string' };
  }
  if (node.kind === ts.SyntaxKind.TrueKeyword || node.kind === ts.SyntaxKind.FalseKeyword) {
    return { text: node.getText(), type: 'boolean' };
  }
  return undefined;
}

/**
 * `this.dispatchEvent(new MeshErrorEvent(…))` gives the analyzer an event without a name;
 * the name is the event class's static `eventName`. An event documented with `@fires` as
 * well is listed once, with its description.
 */
function nameEvents() {
  return {
    name: 'mesh-name-events',
    packageLinkPhase({ customElementsManifest }) {
      const eventNames = new Map();
      for (const declaration of declarationsOf(customElementsManifest)) {
        const field = declaration.members?.find((m) => m.static && m.name === 'eventName');
        const name = /^'([^']+)'/.exec(field?.default ?? '')?.[1];
        if (name) eventNames.set(declaration.name, name);
      }
      for (const declaration of declarationsOf(customElementsManifest)) {
        if (!declaration.events) continue;
        const byName = new Map();
        // the documented ones first, in the order of their `@fires` tags
        const documented = declaration.events.filter((e) => e.name && e.description);
        for (const event of [...documented, ...declaration.events.filter((e) => !documented.includes(e))]) {
          event.name ??= eventNames.get(event.type?.text);
          if (!event.name) throw new Error(`${declaration.name}: an event of type ${event.type?.text} has no name`);
          const known = byName.get(event.name);
          if (!known) byName.set(event.name, event);
          else for (const [key, value] of Object.entries(event)) known[key] ??= value;
        }
        declaration.events = [...byName.values()];
      }
    },
  };
}

/**
 * Module paths as they exist in the published package (`dist/components/….js`): the
 * analyzer reads the TypeScript sources, which are not published, and mixes
 * module-relative, root-relative and `/`-prefixed references.
 */
function publishedPaths() {
  const published = (path, from) => {
    let p = path;
    if (p.startsWith('./') || p.startsWith('../')) p = normalize(join(dirname(from), p));
    p = p.replace(/^\/+/, '');
    if (!/^(components|src)\//.test(p)) return path;
    return `dist/${p.replace(/\.ts$/, '.js')}`;
  };
  const visit = (value, from) => {
    if (Array.isArray(value)) return value.forEach((item) => visit(item, from));
    if (!value || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if ((key === 'module' || key === 'path') && typeof child === 'string' && !value.package) value[key] = published(child, from);
      else visit(child, from);
    }
  };
  return {
    name: 'mesh-published-paths',
    packageLinkPhase({ customElementsManifest }) {
      for (const module of customElementsManifest.modules) {
        const from = module.path;
        module.path = published(module.path, from);
        visit(module.declarations, from);
        visit(module.exports, from);
      }
    },
  };
}

/** Modules sorted by path, so the file does not change with the file system's order. */
function stableOrder() {
  return {
    name: 'mesh-stable-order',
    packageLinkPhase({ customElementsManifest }) {
      customElementsManifest.modules.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
  };
}

function* declarationsOf(manifest) {
  for (const module of manifest.modules) yield* module.declarations ?? [];
}
