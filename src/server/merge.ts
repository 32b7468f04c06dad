/** Metadata merge strategies and JSON equality, safe against prototype pollution. */
import { FORBIDDEN_KEYS, isPlainObject, type Metadata, type MetadataStrategy } from '../protocol.js';

/**
 * Recursively merges plain objects: `patch` wins, nested plain objects merge, anything
 * else (arrays included) replaces. Forbidden keys are refused before this runs; they are
 * skipped here as well so that this function alone can never pollute a prototype.
 */
export function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(base)) {
    if (!FORBIDDEN_KEYS.has(key)) out[key] = base[key];
  }
  for (const key of Object.keys(patch)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    const next = patch[key];
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(next) ? deepMerge(prev, next) : next;
  }
  return out;
}

/** The metadata that results from applying `patch` to `current` with `strategy`. */
export function applyMetadata(current: Metadata | null, patch: Metadata, strategy: MetadataStrategy): Metadata {
  if (strategy === 'replace' || current === null) return deepMerge({}, patch);
  if (strategy === 'merge') {
    const out: Metadata = {};
    for (const key of Object.keys(current)) if (!FORBIDDEN_KEYS.has(key)) out[key] = current[key];
    for (const key of Object.keys(patch)) if (!FORBIDDEN_KEYS.has(key)) out[key] = patch[key];
    return out;
  }
  return deepMerge(current, patch);
}

/** Structural equality of two JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  return ak.every((key) => Object.prototype.hasOwnProperty.call(bo, key) && jsonEqual(ao[key], bo[key]));
}
