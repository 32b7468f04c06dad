/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): where the server spent its
 * time, by self time and by inclusive time of our own functions.
 *
 * Standalone: `node --import tsx bench/lib/profile.ts <file.cpuprofile> [top]`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|work\/main)\//, '');
  // Lines of transpiled TypeScript do not match the source: name the file only.
  const where = !file ? '' : file.endsWith('.ts') ? ` ${file}` : ` ${file}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
}

/** Returns printable lines: top `top` frames by self time, then our `src/` frames by inclusive time. */
export function summariseProfile(path: string, top = 15): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    totalUs += delta;
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const name = frameName(byId.get(id)!);
    self.set(name, (self.get(name) ?? 0) + us);
    // Count each frame name once per stack, so recursion does not inflate it.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = frameName(byId.get(at)!);
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  const idle = self.get('(idle)') ?? 0;
  const lines = [`  sampled ${(totalUs / 1e6).toFixed(1)} s, busy ${(((totalUs - idle) / totalUs) * 100).toFixed(0)}%; top self time:`];
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${name}`);
  lines.push('  our code (src/), inclusive time:');
  for (const [name, us] of [...inclusive]
    .filter(([name]) => / src\//.test(name))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    lines.push(`    ${pct(us)}  ${name}`);
  }
  return lines;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [path, top] = process.argv.slice(2);
  if (!path) throw new Error('usage: profile.ts <file.cpuprofile> [top]');
  console.log(summariseProfile(path, top ? Number(top) : 15).join('\n'));
}
