/** Small statistics and formatting helpers for the benchmark tables. */

/**
 * The wall clock with sub-millisecond resolution. Every process on the machine reads
 * the same system clock, so a time taken in one process can be subtracted from one
 * taken in another (skew measured here: well under 0.1 ms).
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Nearest-rank percentile of an ascending sorted array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Concatenates and sorts sample arrays (ascending). */
export function mergeSorted(parts: Float64Array[]): Float64Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const all = new Float64Array(length);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all.sort();
}

/** A growable list of float samples that becomes a `Float64Array` without copying twice. */
export class Samples {
  #data = new Float64Array(1024);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#length++] = value;
  }

  get length(): number {
    return this.#length;
  }

  toArray(): Float64Array {
    return this.#data.slice(0, this.#length);
  }
}

/** Splits `total` items over `parts` shares as evenly as possible. */
export function split(total: number, parts: number): Array<{ offset: number; count: number }> {
  const shares: Array<{ offset: number; count: number }> = [];
  let offset = 0;
  for (let i = 0; i < parts; i++) {
    const count = Math.floor(total / parts) + (i < total % parts ? 1 : 0);
    shares.push({ offset, count });
    offset += count;
  }
  return shares;
}

/** Formats a number for a table cell: fixed decimals, or `—` when missing. */
export function fmt(value: number | undefined, decimals = 1): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

/**
 * A table row. `bare` is the baseline column and `ours` the measured one: bare `ws` vs our
 * server by default, our server on the memory store vs on Redis with `--stores` (the
 * column headers say which, see `renderTable`).
 */
export interface Row {
  label: string;
  bare?: number;
  ours?: number;
  decimals?: number;
  /** No ratio column (the ratio means nothing, e.g. for counts that depend on timing). */
  noRatio?: boolean;
  /** A ratio target (ours/bare ≤ maxRatio, lower is better) or an exact value for both. */
  target?: { maxRatio: number } | { equals: number };
}

/** Renders one scenario table; returns the verdicts so the summary can count them. */
export function renderTable(
  title: string,
  rows: Row[],
  short = title,
  columns: { bare: string; ours: string } = { bare: 'bare', ours: 'ours' },
): { text: string; verdicts: Array<{ label: string; pass: boolean }> } {
  const verdicts: Array<{ label: string; pass: boolean }> = [];
  const header = ['', columns.bare, columns.ours, `${columns.ours}/${columns.bare}`, 'target', ''];
  const lines: string[][] = [header];
  for (const row of rows) {
    const decimals = row.decimals ?? 1;
    const ratio =
      !row.noRatio && row.bare !== undefined && row.ours !== undefined && row.bare !== 0 ? row.ours / row.bare : undefined;
    let targetText = '';
    let verdict = '';
    if (row.target && 'maxRatio' in row.target) {
      targetText = `≤ ${row.target.maxRatio}×`;
      // A missing figure of ours (NaN: the run did not complete) misses the target.
      if (ratio !== undefined && (!Number.isNaN(ratio) || Number.isNaN(row.ours!))) {
        const pass = ratio <= row.target.maxRatio;
        verdict = pass ? 'PASS' : 'MISS';
        verdicts.push({ label: `${short}: ${row.label}`, pass });
      }
    } else if (row.target && 'equals' in row.target) {
      targetText = `= ${row.target.equals}`;
      for (const [side, value] of [['bare', row.bare], ['ours', row.ours]] as const) {
        if (value === undefined) continue;
        const pass = value === row.target.equals;
        if (side === 'ours' || !pass) {
          verdict = [verdict, `${side === 'bare' ? `${columns.bare} ` : ''}${pass ? 'PASS' : 'MISS'}`].filter(Boolean).join(', ');
        }
        if (side === 'ours') verdicts.push({ label: `${short}: ${row.label}`, pass });
      }
    }
    lines.push([
      row.label,
      fmt(row.bare, decimals),
      fmt(row.ours, decimals),
      ratio === undefined ? '—' : `${fmt(ratio, 2)}`,
      targetText,
      verdict,
    ]);
  }
  const widths = header.map((_, col) => Math.max(...lines.map((line) => line[col]!.length)));
  const text = [
    title,
    ...lines.map((line) =>
      line
        .map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!)))
        .join('  ')
        .trimEnd(),
    ),
  ].join('\n');
  return { text, verdicts };
}
