/**
 * Small helpers the four elements share: dev warnings that fire once per element
 * instance and key, attribute checks that warn and fall back, the "not inside a room"
 * check, and the guard for colours that go into a `style` attribute.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

const warned = new WeakMap<object, Set<string>>();

/**
 * `console.warn('<tag> message')` unless `key` was already warned about for `element`:
 * a bad attribute value warns once per element instance and key, not on every render.
 */
export function warnOnce(element: Element, key: string, message: string): void {
  let keys = warned.get(element);
  if (!keys) warned.set(element, (keys = new Set()));
  if (keys.has(key)) return;
  keys.add(key);
  console.warn(`<${element.localName}> ${message}`);
}

/** The value as the page wrote it, for warnings: the attribute when there is one. */
const written = (element: Element, attribute: string, value: unknown): string =>
  element.getAttribute(attribute) ?? String(value);

/**
 * A union-typed attribute: `value` when it is one of `allowed`, else a warning (once per
 * element and attribute) and `fallback`.
 */
export function checkUnion<T extends string>(
  element: Element,
  attribute: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  warnOnce(
    element,
    attribute,
    `invalid ${attribute}="${written(element, attribute, value)}"; expected one of ${allowed.join(', ')}. Using "${fallback}".`,
  );
  return fallback;
}

/**
 * A numeric attribute: `value` when it is a finite number that passes `valid`, else a
 * warning (once per element and attribute) and `fallback`.
 */
export function checkNumber(
  element: Element,
  attribute: string,
  value: unknown,
  fallback: number,
  valid: (n: number) => boolean,
): number {
  if (typeof value === 'number' && Number.isFinite(value) && valid(value)) return value;
  warnOnce(element, attribute, `invalid ${attribute}="${written(element, attribute, value)}". Using ${fallback}.`);
  return fallback;
}

/**
 * `color` when it is a valid CSS colour, else ''. Colours come from other users' states
 * and are written into `style="--_color: …"`: anything but a colour (`red; background:
 * url(…)`) must not get there.
 */
export function safeColor(color: unknown): string {
  return typeof color === 'string' && color !== '' && CSS.supports('color', color) ? color : '';
}

/**
 * Warns once when `host` is connected outside any `<mesh-presence-room>`, i.e. when no
 * room answered its context request. The check runs after the host's first update and a
 * task, so a room that provides synchronously on connect (the normal case), or one
 * defined later in the same task, never triggers it. The host then shows its empty state.
 *
 * ```ts
 * private readonly __outsideRoom = new OutsideRoomWarning(this, () => this._room);
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
        if (this.__host.isConnected && this.__getRoom() === undefined) {
          warnOnce(this.__host, 'outside-room', 'is not inside a <mesh-presence-room>: it has no room and stays empty.');
        }
      });
    });
  }

  hostDisconnected(): void {
    clearTimeout(this.__timer);
  }
}
