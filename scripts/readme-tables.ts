/**
 * Writes each element's reference tables (attributes, properties, methods, events, slots,
 * parts, custom properties, custom states) into README.md from custom-elements.json,
 * between `<!-- elements:<tag>:start -->` and `<!-- elements:<tag>:end -->`. The prose
 * around them is hand-written; the tables cannot drift because test/node/manifest.test.ts
 * renders them again and compares.
 *
 *     node --import tsx scripts/readme-tables.ts           rewrite README.md
 *     node --import tsx scripts/readme-tables.ts --check   exit 1 if it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of the Custom Elements Manifest schema read here. */
interface Manifest {
  modules: Array<{ path: string; declarations?: Declaration[] }>;
}
interface Declaration {
  kind: string;
  name: string;
  tagName?: string;
  customElement?: boolean;
  attributes?: Array<{ name: string; fieldName?: string; type?: TypeText; default?: string; description?: string }>;
  members?: Array<{
    kind: 'field' | 'method';
    name: string;
    static?: boolean;
    readonly?: boolean;
    attribute?: string;
    type?: TypeText;
    default?: string;
    description?: string;
    parameters?: Array<{ name: string; type?: TypeText; default?: string; optional?: boolean }>;
    return?: { type?: TypeText };
  }>;
  events?: Array<{ name: string; type?: TypeText; description?: string }>;
  slots?: Named[];
  cssParts?: Named[];
  cssProperties?: Array<Named & { default?: string }>;
  cssStates?: Named[];
}
interface TypeText {
  text: string;
}
interface Named {
  name: string;
  description?: string;
}

const root = new URL('../', import.meta.url);
export const README = fileURLToPath(new URL('README.md', root));
export const MANIFEST = fileURLToPath(new URL('custom-elements.json', root));

export function customElements(manifest: Manifest): Declaration[] {
  return manifest.modules.flatMap((m) => m.declarations ?? []).filter((d) => d.customElement && d.tagName);
}

/** One line for a table cell: no line breaks, no unescaped pipes. */
function cell(text: string | undefined): string {
  if (!text) return '';
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|').trim();
}

function code(text: string | undefined): string {
  if (!text) return '';
  const inner = cell(text);
  // a backtick inside needs a longer fence, with spaces so that it does not touch the fence
  return inner.includes('`') ? `\`\` ${inner} \`\`` : `\`${inner}\``;
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The Markdown tables of one element. */
export function renderElement(element: Declaration): string {
  const out: string[] = [];
  const attributes = element.attributes ?? [];
  const members = (element.members ?? []).filter((m) => !m.static);
  if (attributes.length) {
    out.push(
      table(
        ['attribute', 'property', 'type', 'default', 'description'],
        attributes.map((a) => [code(a.name), code(a.fieldName), code(a.type?.text), code(a.default), cell(a.description)]),
      ),
    );
  }
  const withAttribute = new Set(attributes.map((a) => a.fieldName).filter(Boolean));
  const properties = members.filter((m) => m.kind === 'field' && !withAttribute.has(m.name));
  if (properties.length) {
    out.push(
      table(
        ['property', 'type', 'description'],
        properties.map((p) => [code(p.name) + (p.readonly ? ' (read-only)' : ''), code(p.type?.text), cell(p.description)]),
      ),
    );
  }
  const methods = members.filter((m) => m.kind === 'method');
  if (methods.length) {
    out.push(
      table(
        ['method', 'description'],
        methods.map((m) => {
          const params = (m.parameters ?? [])
            .map((p) => `${p.name}${p.optional || p.default ? '?' : ''}${p.type ? `: ${p.type.text}` : ''}`)
            .join(', ');
          return [code(`${m.name}(${params})`), cell(m.description)];
        }),
      ),
    );
  }
  if (element.events?.length) {
    out.push(
      table(
        ['event', 'class', 'description'],
        element.events.map((e) => [code(e.name), code(e.type?.text), cell(e.description)]),
      ),
    );
  }
  if (element.slots?.length) {
    out.push(table(['slot', 'description'], element.slots.map((s) => [s.name ? code(s.name) : '(default)', cell(s.description)])));
  }
  if (element.cssParts?.length) {
    out.push(table(['part', 'description'], element.cssParts.map((p) => [code(p.name), cell(p.description)])));
  }
  if (element.cssProperties?.length) {
    out.push(
      table(
        ['custom property', 'default', 'description'],
        element.cssProperties.map((p) => [code(p.name), code(p.default), cell(p.description)]),
      ),
    );
  }
  if (element.cssStates?.length) {
    out.push(table(['custom state', 'description'], element.cssStates.map((s) => [code(`:state(${s.name})`), cell(s.description)])));
  }
  return out.join('\n\n');
}

const marker = (tag: string, end: 'start' | 'end') => `<!-- elements:${tag}:${end} -->`;

/** README with every element's region rewritten; throws when a region is missing or unknown. */
export function renderReadme(readme: string, manifest: Manifest): string {
  const elements = customElements(manifest);
  let next = readme;
  for (const element of elements) {
    const tag = element.tagName!;
    const start = next.indexOf(marker(tag, 'start'));
    const end = next.indexOf(marker(tag, 'end'));
    if (start < 0 || end < start) {
      throw new Error(`README.md has no ${marker(tag, 'start')} … ${marker(tag, 'end')} region for <${tag}>`);
    }
    const generated = `${marker(tag, 'start')}\n<!-- generated from custom-elements.json by \`npm run manifest\`; edit the JSDoc, not this -->\n\n${renderElement(element)}\n\n`;
    next = next.slice(0, start) + generated + next.slice(end);
  }
  const known = new Set(elements.map((e) => e.tagName));
  for (const [, tag] of next.matchAll(/<!-- elements:([\w-]+):start -->/g)) {
    if (!known.has(tag)) throw new Error(`README.md has a region for <${tag}>, which the manifest does not list`);
  }
  return next;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
  const readme = readFileSync(README, 'utf8');
  const next = renderReadme(readme, manifest);
  if (process.argv.includes('--check')) {
    if (next !== readme) {
      console.error('README.md element tables are out of date: run `npm run manifest`');
      process.exit(1);
    }
  } else if (next !== readme) {
    writeFileSync(README, next);
    console.log('README.md: element tables updated');
  }
}
