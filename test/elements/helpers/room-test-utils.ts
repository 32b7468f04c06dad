/**
 * Helpers for behaviour tests of the real `<mesh-presence-room>` against the real server.
 */
import { ContextEvent } from '@lit/context';
import { roomContext, type RoomContextValue } from '../../../components/context.js';

let roomSeq = 0;

/** A room name no other test uses. */
export function uniqueRoom(prefix = 'room'): string {
  return `${prefix}-${Date.now().toString(36)}-${++roomSeq}-${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * The URL a simulated user connects with. The shared client keeps one connection per
 * URL on a page, so two users in one test page need two URLs: user 1 gets `url` itself,
 * user n > 1 gets `url?u=n` (the server ignores the query).
 */
export function userUrl(url: string, user: number): string {
  if (user === 1) return url;
  const parsed = new URL(url);
  parsed.searchParams.set('u', String(user));
  return parsed.toString();
}

/** The room context as a descendant of `room` receives it. */
export function contextOf(room: HTMLElement): RoomContextValue {
  let value: RoomContextValue | undefined;
  const probe = document.createElement('span');
  room.append(probe);
  probe.dispatchEvent(new ContextEvent(roomContext, probe, (v) => (value = v), false));
  probe.remove();
  if (!value) throw new Error('no room context answered');
  return value;
}

/**
 * Resolves once `predicate()` holds: checked now and after each `type` event on
 * `target`. Rejects after `timeout` ms with `what` in the message.
 */
export function until(
  target: EventTarget,
  type: string | string[],
  predicate: () => boolean,
  what = 'condition',
  timeout = 5_000,
): Promise<void> {
  if (predicate()) return Promise.resolve();
  const types = Array.isArray(type) ? type : [type];
  return new Promise((resolve, reject) => {
    const check = (): void => {
      let ok = false;
      try {
        ok = predicate();
      } catch (error) {
        done();
        reject(error);
        return;
      }
      if (ok) {
        done();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
    }, timeout);
    const done = (): void => {
      clearTimeout(timer);
      for (const t of types) target.removeEventListener(t, check);
    };
    for (const t of types) target.addEventListener(t, check);
  });
}

/** Records the events of the given types fired on `target` until `stop()`. */
export function record<E extends Event = CustomEvent>(target: EventTarget, types: string[]): { events: E[]; stop(): void } {
  const events: E[] = [];
  const listener = (event: Event): void => void events.push(event as E);
  for (const type of types) target.addEventListener(type, listener);
  return {
    events,
    stop: () => {
      for (const type of types) target.removeEventListener(type, listener);
    },
  };
}

/** A bounded wait for "nothing happens" checks only. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Captures `console.warn` calls (each as one string) until `restore()`, which a test calls
 * in `finally` so that a failing test does not leave the console silenced.
 */
export function captureWarnings(): { calls: string[]; restore: () => void } {
  const original = console.warn;
  const calls: string[] = [];
  console.warn = (...args: unknown[]) => calls.push(args.map(String).join(' '));
  return { calls, restore: () => (console.warn = original) };
}
