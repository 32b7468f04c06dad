import type { Metadata } from '../protocol.js';

/**
 * Connection metadata by connection id, primed from what the server sends alongside
 * `present` lists and `join` pushes, so that resolving names and avatars of a room's
 * members costs no round trip. Concurrent lookups of one id share one request.
 */
export class MetadataCache {
  private readonly entries = new Map<string, Metadata | null>();
  private readonly inflight = new Map<string, Promise<Metadata | null>>();

  /** True when `id` has an entry (which may be `null`: known to have no metadata). */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The cached value: metadata, `null` (known: none), or `undefined` (not cached). */
  peek(id: string): Metadata | null | undefined {
    return this.entries.get(id);
  }

  /** True when `id` has an entry or a lookup in flight: someone cares about it. */
  isTracked(id: string): boolean {
    return this.entries.has(id) || this.inflight.has(id);
  }

  /** Stores fresh metadata; a lookup still in flight for `id` no longer overwrites it. */
  set(id: string, metadata: Metadata | null): void {
    this.entries.set(id, metadata);
    this.inflight.delete(id);
  }

  /** Drops the entry, e.g. when the member left. An in-flight lookup is kept. */
  delete(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
    this.inflight.clear();
  }

  /**
   * The cached value, or the result of `load()` — shared by every caller that asks
   * for `id` while it runs. `keep()` decides whether the result is cached (unless a fresher `set` came first).
   */
  get(id: string, load: () => Promise<Metadata | null>, keep: () => boolean): Promise<Metadata | null> {
    if (this.entries.has(id)) return Promise.resolve(this.entries.get(id) ?? null);
    const running = this.inflight.get(id);
    if (running) return running;
    const promise = load().then(
      (metadata) => {
        // superseded (a fresher value was set meanwhile, or the cache cleared): not stored
        if (this.inflight.get(id) === promise) {
          this.inflight.delete(id);
          if (keep()) this.entries.set(id, metadata);
        }
        return metadata;
      },
      (error: unknown) => {
        if (this.inflight.get(id) === promise) this.inflight.delete(id);
        throw error;
      },
    );
    this.inflight.set(id, promise);
    return promise;
  }
}
