/**
 * Spreads heartbeats over the interval: connections are dealt into `slices` groups and
 * one timer visits one group every `interval / slices` ms, so each connection is still
 * visited once per interval, but the pings (and the answers they bring back) of N
 * connections never leave in one burst. A burst of 2 × N writes followed by N replies
 * within a few milliseconds is what delayed presence events at ping time.
 */

/** Shortest time between two slices, ms: finer slicing buys nothing but timer wake-ups. */
const MIN_SLICE_MS = 10;
/** At most this many slices per interval (100 ms apart at the default 5 s interval). */
const MAX_SLICES = 50;

/** What the scheduler needs to remember about a member: the slice it was dealt into. */
export interface HeartbeatMember {
  heartbeatSlice: number;
}

export class HeartbeatScheduler<T extends HeartbeatMember> {
  readonly #slices: Array<Set<T>>;
  readonly #period: number;
  readonly #visit: (member: T) => void;
  /** Index of the slice the next tick visits. */
  #next = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `interval`: how often each member is visited, ms (> 0). `visit` runs once per member
   * and interval; it may remove members (e.g. close them).
   */
  constructor(interval: number, visit: (member: T) => void) {
    const count = Math.max(1, Math.min(MAX_SLICES, Math.floor(interval / MIN_SLICE_MS)));
    this.#slices = Array.from({ length: count }, () => new Set<T>());
    this.#period = interval / count;
    this.#visit = visit;
  }

  /** Number of slices the interval is divided into. */
  get sliceCount(): number {
    return this.#slices.length;
  }

  /** Adds a member to the smallest slice, so slices stay even as members come and go. */
  add(member: T): void {
    let smallest = 0;
    for (let i = 1; i < this.#slices.length; i++) {
      if (this.#slices[i]!.size < this.#slices[smallest]!.size) smallest = i;
    }
    member.heartbeatSlice = smallest;
    this.#slices[smallest]!.add(member);
  }

  delete(member: T): void {
    this.#slices[member.heartbeatSlice]?.delete(member);
  }

  /** Starts the timer (unref'd: it never keeps the process alive). Idempotent. */
  start(): void {
    if (this.#timer) return;
    // setInterval, not a self-correcting chain: after a stalled event loop it does not
    // catch up by visiting slices back to back, which could visit one member twice
    // without giving it time to answer.
    this.#timer = setInterval(() => this.#tick(), this.#period);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const slice = this.#slices[this.#next]!;
    this.#next = (this.#next + 1) % this.#slices.length;
    // A visit may delete the member it visits: deleting while iterating a Set is safe.
    for (const member of slice) this.#visit(member);
  }
}
