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
  private inFlight = 0;
  private window: number;
  private pausedUntil = 0;
  /** Consecutive pauses without an answer in between; doubles the next pause. */
  private strikes = 0;
  private waiters: Array<() => void> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param limit most requests in flight at once.
   * @param firstPause first pause after `ERATELIMIT`, ms; doubles while refusals go on.
   * @param maxPause longest pause, ms.
   */
  constructor(
    private readonly limit: number,
    private readonly firstPause: number,
    private readonly maxPause: number,
  ) {
    this.window = limit;
  }

  /** Resolves once a slot is free and no pause runs; pair it with `release()`. */
  acquire(): Promise<void> {
    if (this.waiters.length === 0 && this.canGo()) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiters.push(() => {
        this.inFlight++;
        resolve();
      });
      this.wake();
    });
  }

  /** Gives a slot back; `answered`: the request got an answer other than `ERATELIMIT`. */
  release(answered: boolean): void {
    if (this.inFlight > 0) this.inFlight--;
    if (answered && Date.now() >= this.pausedUntil) {
      this.strikes = 0;
      this.window = Math.min(this.limit, this.window + 1);
    }
    this.wake();
  }

  /** The server refused for the rate: hold every request back (one pause per wave of refusals). */
  pause(): void {
    const now = Date.now();
    if (now < this.pausedUntil) return;
    const ms = Math.min(this.firstPause * 2 ** Math.min(this.strikes, 16), this.maxPause);
    this.strikes++;
    this.window = 1;
    this.pausedUntil = now + ms;
    this.wake();
  }

  /**
   * Ends this pacer (its connection is gone): clears the timer and lets every waiter go
   * at once; they see their connection gone and stop. A new connection gets a new pacer.
   */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pausedUntil = 0;
    this.window = Infinity;
    const waiters = this.waiters;
    this.waiters = [];
    for (const go of waiters) go();
  }

  private canGo(): boolean {
    return this.inFlight < this.window && Date.now() >= this.pausedUntil;
  }

  private wake(): void {
    const now = Date.now();
    if (now < this.pausedUntil) {
      if (this.timer === undefined) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.wake();
        }, this.pausedUntil - now);
      }
      return;
    }
    while (this.waiters.length > 0 && this.inFlight < this.window) this.waiters.shift()!();
  }
}
