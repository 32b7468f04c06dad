/**
 * Small helpers shared by the room and the elements that live in it: dev warnings that
 * fire once per element instance, and the "not inside a room" check.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

const warned = new WeakMap<object, Set<string>>();

/**
 * `console.warn(message)` unless `key` was already warned about for `element`: a bad
 * attribute value warns once per element instance and attribute, not on every render.
 */
export function warnOnce(element: object, key: string, message: string): void {
  let keys = warned.get(element);
  if (!keys) warned.set(element, (keys = new Set()));
  if (keys.has(key)) return;
  keys.add(key);
  console.warn(message);
}

/**
 * Validates a union-typed attribute value: returns it when it is one of `allowed`, else
 * warns once (per element and attribute) and returns `fallback`.
 */
export function checkUnion<T extends string>(
  element: HTMLElement,
  attribute: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  warnOnce(
    element,
    attribute,
    `<${element.localName}>: invalid ${attribute}="${String(value)}"; expected one of ${allowed.join(', ')}. Using "${fallback}".`,
  );
  return fallback;
}

/**
 * Warns once when `host` is connected outside any `<mesh-presence-room>`, i.e. when no
 * room answered its context request. The check runs after the host's first update and a
 * task, so a room that provides synchronously on connect (the normal case) never
 * triggers it. The host then shows its empty state.
 *
 * ```ts
 * private _outsideRoom = new OutsideRoomWarning(this, () => this._room);
 * ```
 */
export class OutsideRoomWarning implements ReactiveController {
  private __timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly __host: ReactiveControllerHost & HTMLElement,
    private readonly __getRoom: () => unknown,
  ) {
    __host.addController(this);
  }

  hostConnected(): void {
    void this.__host.updateComplete.then(() => {
      clearTimeout(this.__timer);
      this.__timer = setTimeout(() => {
        if (!this.__host.isConnected || this.__getRoom() !== undefined) return;
        warnOnce(
          this.__host,
          'outside-room',
          `<${this.__host.localName}> is not inside a <mesh-presence-room>: it has no room to show and stays empty.`,
        );
      });
    });
  }

  hostDisconnected(): void {
    clearTimeout(this.__timer);
  }
}
