/**
 * Detects that the user has been inactive for `timeout` ms, counting activity in all
 * of their tabs: pointer, keyboard, wheel and touch input and a tab becoming visible
 * count as activity here, and the tabs share their latest activity time over the
 * user's {@link UserChannel}. So a hidden tab alone never makes the user idle while
 * another of their tabs is in use; when all of them have been quiet for `timeout`, each
 * tab turns idle by itself, and any activity anywhere brings all of them back.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { UserChannel, UserChannelMessage } from './user-channel.js';

export interface IdleControllerOptions {
  /** Inactivity in ms before the user counts as idle; 0 switches detection off. */
  timeout(): number;
  /** Called when `idle` changes. */
  onChange(idle: boolean): void;
}

const ACTIVITY_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart', 'focus'] as const;
/** Upper bound between two activity broadcasts while the user is active. */
const MAX_BROADCAST_INTERVAL = 5_000;

export class IdleController implements ReactiveController {
  /** Whether the user has been inactive in all of their tabs for `timeout` ms. */
  idle = false;

  private __options: IdleControllerOptions;
  private __connected = false;
  private __listening = false;
  private __lastActivity = Date.now();
  private __lastBroadcast = 0;
  private __timer: ReturnType<typeof setTimeout> | undefined;
  private __channel: UserChannel | null = null;
  private __unsubscribe: (() => void) | null = null;

  constructor(host: ReactiveControllerHost, options: IdleControllerOptions) {
    this.__options = options;
    host.addController(this);
  }

  hostConnected(): void {
    this.__connected = true;
    this.update();
  }

  hostDisconnected(): void {
    this.__connected = false;
    this.update();
  }

  /** Share activity with the user's other tabs over `channel` (null: this tab only). */
  setChannel(channel: UserChannel | null): void {
    if (channel === this.__channel) return;
    this.__unsubscribe?.();
    this.__unsubscribe = null;
    this.__channel = channel;
    if (channel) this.__unsubscribe = channel.subscribe(this.__onMessage);
  }

  /** Re-read `timeout()` and start or stop watching accordingly. */
  update(): void {
    const enabled = this.__connected && this.__timeout() > 0;
    if (enabled && !this.__listening) {
      this.__listening = true;
      // Turning detection on (or a page load) counts as activity.
      this.__lastActivity = Date.now();
      for (const type of ACTIVITY_EVENTS) window.addEventListener(type, this.__onActivity, { capture: true, passive: true });
      document.addEventListener('visibilitychange', this.__onVisibility);
    } else if (!enabled && this.__listening) {
      this.__listening = false;
      for (const type of ACTIVITY_EVENTS) window.removeEventListener(type, this.__onActivity, { capture: true });
      document.removeEventListener('visibilitychange', this.__onVisibility);
    }
    if (!enabled) {
      clearTimeout(this.__timer);
      this.__timer = undefined;
      this.__set(false);
      return;
    }
    this.__check();
  }

  private __timeout(): number {
    const t = this.__options.timeout();
    return Number.isFinite(t) && t > 0 ? t : 0;
  }

  private __onActivity = (): void => {
    const now = Date.now();
    this.__lastActivity = now;
    const interval = Math.min(this.__timeout() / 4, MAX_BROADCAST_INTERVAL);
    // Broadcast at once when coming back, so the other tabs come back too.
    if (this.idle || now - this.__lastBroadcast >= interval) {
      this.__lastBroadcast = now;
      this.__channel?.post({ type: 'activity', at: now });
    }
    if (this.idle) this.__check();
  };

  private __onVisibility = (): void => {
    if (document.visibilityState === 'visible') this.__onActivity();
  };

  private __onMessage = (message: UserChannelMessage): void => {
    if (message.type !== 'activity' || !this.__listening) return;
    // Clocks of tabs in one browser agree; never move into the future.
    const at = Math.min(message.at, Date.now());
    if (at > this.__lastActivity) {
      this.__lastActivity = at;
      if (this.idle) this.__check();
    }
  };

  /** Set `idle` from the last activity, and plan the next check. */
  private __check = (): void => {
    clearTimeout(this.__timer);
    this.__timer = undefined;
    if (!this.__listening) return;
    const timeout = this.__timeout();
    const quiet = Date.now() - this.__lastActivity;
    this.__set(quiet >= timeout);
    // While idle, activity (local or broadcast) calls __check; no timer needed.
    if (!this.idle) this.__timer = setTimeout(this.__check, timeout - quiet);
  };

  private __set(idle: boolean): void {
    if (idle === this.idle) return;
    this.idle = idle;
    this.__options.onChange(idle);
  }
}
