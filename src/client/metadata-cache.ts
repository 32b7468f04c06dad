import type { Metadata } from '../protocol.js';

/**
 * Connection metadata by connection id, primed from what the server sends alongside
 * `present` lists and `join` pushes, so that resolving names and avatars of a room's
 * members costs no round trip. Concurrent lookups of one id share one request.
 */
export class MetadataCache {
  private readonly __entries = new Map<string, Metadata | null>();
  private readonly __inflight = new Map<string, Promise<Metadata | null>>();

  /** The cached value: metadata, `null` (known: none), or `undefined` (not cached). */
  peek(id: string): Metadata | null | undefined {
    return this.__entries.get(id);
  }

  /** True when `id` has an entry or a lookup in flight: someone cares about it. */
  isTracked(id: string): boolean {
    return this.__entries.has(id) || this.__inflight.has(id);
  }

  /** Stores fresh metadata; a lookup still in flight for `id` no longer overwrites it. */
  set(id: string, metadata: Metadata | null): void {
    this.__entries.set(id, metadata);
    this.__inflight.delete(id);
  }

  /** Drops the entry, e.g. when the member left. An in-flight lookup is kept. */
  delete(id: string): void {
    this.__entries.delete(id);
  }

  clear(): void {
    this.__entries.clear();
    this.__inflight.clear();
  }

  /**
   * The cached value, or the result of `load()` — shared by every caller that asks
   * for `id` while it runs. `keep()` decides whether the result is cached (unless a fresher `set` came first).
   */
  get(id: string, load: () => Promise<Metadata | null>, keep: () => boolean): Promise<Metadata | null> {
    if (this.__entries.has(id)) return Promise.resolve(this.__entries.get(id) ?? null);
    const running = this.__inflight.get(id);
    if (running) return running;
    const promise = load().then(
      (metadata) => {
        // superseded (a fresher value was set meanwhile, or the cache cleared): not stored
        if (this.__inflight.get(id) === promise) {
          this.__inflight.delete(id);
          if (keep()) this.__entries.set(id, metadata);
        }
        return metadata;
      },
      (error: unknown) => {
        if (this.__inflight.get(id) === promise) this.__inflight.delete(id);
        throw error;
      },
    );
    this.__inflight.set(id, promise);
    return promise;
  }
}
