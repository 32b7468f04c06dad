/**
 * The transport seam: the browser's `WebSocket` or any constructor with the same
 * shape (the `ws` package in Node, a fake in tests). This module imports nothing from
 * Node, so the browser build stays free of `ws`.
 */

/** The subset of the WebSocket API the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket`, `ws`'s `WebSocket`, or a fake. */
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const OPEN = 1;

let defaultCtor: WebSocketCtor | undefined;

/**
 * Sets the WebSocket constructor used when a client is given none and the global
 * `WebSocket` is missing. `mesh-presence/client` in Node calls it with `ws`.
 */
export function setDefaultWebSocket(ctor: WebSocketCtor | undefined): void {
  defaultCtor = ctor;
}

/** The constructor to use: the one given, else the global one, else the default. */
export function resolveWebSocket(given?: WebSocketCtor): WebSocketCtor | undefined {
  if (given) return given;
  const global = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof global === 'function') return global as unknown as WebSocketCtor;
  return defaultCtor;
}

/** `url` with `token` set as a query parameter (browsers cannot set upgrade headers). */
export function withToken(url: string, token: string | undefined): string {
  if (token === undefined || token === '') return url;
  const parsed = new URL(url);
  parsed.searchParams.set('token', token);
  return parsed.toString();
}

/** Text of a message event's data: a string, or bytes decoded as UTF-8. */
export function messageText(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null;
}

/** Backoff delay for attempt `n` (0-based): `min(2^n·minDelay, maxDelay)`, jittered to 50–100 %. */
export function backoffDelay(attempt: number, minDelay: number, maxDelay: number, random = Math.random): number {
  const base = Math.min(2 ** Math.min(attempt, 30) * minDelay, maxDelay);
  return Math.round(base * (0.5 + random() * 0.5));
}
