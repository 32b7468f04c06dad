/**
 * Paces the client's background traffic (restore after a reconnect, presence refresh):
 * a bounded number of requests in flight, and a shared pause when the server says
 * `ERATELIMIT`. The server's rate is per connection, so one refusal means all of them
 * should wait; after a pause the window starts at one request and grows by one per
 * answer (as TCP's slow start does), so that few requests are refused twice. A restore
 * of many rooms then trickles in at the server's pace instead of losing the rooms
 * whose requests were dropped, and stays far from the server's flood limit.
 */
export class Pacer {
  private __inFlight = 0;
  private __window: number;
  private __pausedUntil = 0;
  /** Consecutive pauses without an answer in between; doubles the next pause. */
  private __strikes = 0;
  private __waiters: Array<() => void> = [];
  private __timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param __limit most requests in flight at once.
   * @param __firstPause first pause after `ERATELIMIT`, ms; doubles while refusals go on.
   * @param __maxPause longest pause, ms.
   */
  constructor(
    private readonly __limit: number,
    private readonly __firstPause: number,
    private readonly __maxPause: number,
  ) {
    this.__window = __limit;
  }

  /** Resolves once a slot is free and no pause runs; pair it with `release()`. */
  acquire(): Promise<void> {
    if (this.__waiters.length === 0 && this.__canGo()) {
      this.__inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.__waiters.push(() => {
        this.__inFlight++;
        resolve();
      });
      this.__wake();
    });
  }

  /** Gives a slot back; `answered`: the request got an answer other than `ERATELIMIT`. */
  release(answered: boolean): void {
    if (this.__inFlight > 0) this.__inFlight--;
    if (answered && Date.now() >= this.__pausedUntil) {
      this.__strikes = 0;
      this.__window = Math.min(this.__limit, this.__window + 1);
    }
    this.__wake();
  }

  /** The server refused for the rate: hold every request back (one pause per wave of refusals). */
  pause(): void {
    const now = Date.now();
    if (now < this.__pausedUntil) return;
    const ms = Math.min(this.__firstPause * 2 ** Math.min(this.__strikes, 16), this.__maxPause);
    this.__strikes++;
    this.__window = 1;
    this.__pausedUntil = now + ms;
    this.__wake();
  }

  /**
   * Ends this pacer (its connection is gone): clears the timer and lets every waiter go
   * at once; they see their connection gone and stop. A new connection gets a new pacer.
   */
  dispose(): void {
    clearTimeout(this.__timer);
    this.__timer = undefined;
    this.__pausedUntil = 0;
    this.__window = Infinity;
    const waiters = this.__waiters;
    this.__waiters = [];
    for (const go of waiters) go();
  }

  private __canGo(): boolean {
    return this.__inFlight < this.__window && Date.now() >= this.__pausedUntil;
  }

  private __wake(): void {
    const now = Date.now();
    if (now < this.__pausedUntil) {
      if (this.__timer === undefined) {
        this.__timer = setTimeout(() => {
          this.__timer = undefined;
          this.__wake();
        }, this.__pausedUntil - now);
      }
      return;
    }
    while (this.__waiters.length > 0 && this.__inFlight < this.__window) this.__waiters.shift()!();
  }
}
