import { isPlainObject, type Metadata, type PresenceState } from '../protocol.js';

/** A presence snapshot in the one shape the client hands its users. */
export interface NormalizedSnapshot {
  present: string[];
  states: Record<string, PresenceState>;
  /** Metadata that came along (Mesh's `[{id, metadata}]`, or our `metadata` map). */
  metadata: Map<string, Metadata | null>;
}

/**
 * Reads a join/subscribe/get-presence-state reply. Accepts `present` as ids (the seed,
 * our server) or as `[{id, metadata}]` (a plain Mesh server), and our `metadata` map.
 * Entries that are neither are skipped rather than trusted.
 */
export function normalizeSnapshot(value: unknown): NormalizedSnapshot {
  const present: string[] = [];
  const states: Record<string, PresenceState> = {};
  const metadata = new Map<string, Metadata | null>();
  if (!isPlainObject(value)) return { present, states, metadata };

  const seen = new Set<string>();
  if (Array.isArray(value.present)) {
    for (const entry of value.present as unknown[]) {
      let id: string | undefined;
      if (typeof entry === 'string') id = entry;
      else if (isPlainObject(entry) && typeof entry.id === 'string') {
        id = entry.id;
        if ('metadata' in entry) metadata.set(id, toMetadata(entry.metadata));
      }
      if (id === undefined || seen.has(id)) continue;
      seen.add(id);
      present.push(id);
    }
  }
  if (isPlainObject(value.metadata)) {
    for (const [id, md] of Object.entries(value.metadata)) metadata.set(id, toMetadata(md));
  }
  if (isPlainObject(value.states)) {
    for (const [id, state] of Object.entries(value.states)) {
      if (isPlainObject(state)) states[id] = state;
    }
  }
  return { present, states, metadata };
}

/** Metadata as the client stores it: a plain object or `null`. */
export function toMetadata(value: unknown): Metadata | null {
  return isPlainObject(value) ? value : null;
}
