/**
 * The Mesh presence wire protocol, shared by our server and our client.
 *
 * See `../shared/PROTOCOL.md` for the protocol itself. This module imports nothing of
 * ours (it sits at the bottom of the import graph) and holds only types, constants and
 * pure validation helpers that both sides need.
 */

/** Command names as they travel on the wire. */
export const Command = {
  // connection life
  assignId: 'mesh/assign-id',
  ping: 'ping',
  pong: 'pong',
  latencyRequest: 'latency:request',
  latencyResponse: 'latency:response',
  latency: 'latency',
  noop: 'mesh/noop',
  // rooms and presence
  joinRoom: 'mesh/join-room',
  leaveRoom: 'mesh/leave-room',
  subscribePresence: 'mesh/subscribe-presence',
  unsubscribePresence: 'mesh/unsubscribe-presence',
  publishPresenceState: 'mesh/publish-presence-state',
  clearPresenceState: 'mesh/clear-presence-state',
  getPresenceState: 'mesh/get-presence-state',
  refreshPresence: 'mesh/refresh-presence',
  // metadata
  getConnectionMetadata: 'mesh/get-connection-metadata',
  getMyConnectionMetadata: 'mesh/get-my-connection-metadata',
  setMyConnectionMetadata: 'mesh/set-my-connection-metadata',
  getRoomMetadata: 'mesh/get-room-metadata',
  // pushes
  presenceUpdate: 'mesh/presence-update',
  /** Extension: a member's connection metadata changed (see `MetadataUpdate`). */
  metadataUpdate: 'mesh/metadata-update',
  error: 'mesh/error',
} as const;

export type CommandName = (typeof Command)[keyof typeof Command];

/** Every WebSocket message is one JSON text frame of this shape. */
export interface Frame<P = unknown> {
  /** Present on requests and their replies; absent on pushes. */
  id?: number;
  command: string;
  payload?: P;
}

/**
 * Stable error codes. `ENOTFOUND` and `ESERVER` are Mesh's own; the others are ours
 * (a plain Mesh peer never sends them, but our client treats any code alike).
 */
export const ErrorCode = {
  /** Unknown command (Mesh). */
  notFound: 'ENOTFOUND',
  /** A handler threw (Mesh). */
  server: 'ESERVER',
  /** The frame is not valid JSON. */
  badJson: 'EBADJSON',
  /** The frame is JSON but not a `{command, payload, id?}` object. */
  badFrame: 'EBADFRAME',
  /** A binary frame; only UTF-8 JSON text frames are accepted. */
  binary: 'EBINARY',
  /** A field is missing or has the wrong type or range. */
  invalid: 'EINVALID',
  /** A state or metadata is too large or too deeply nested. */
  tooLarge: 'ETOOLARGE',
  /** A per-connection limit (rooms joined, subscriptions) was reached. */
  limit: 'ELIMIT',
  /** The connection sent more messages than its rate allows; the message was dropped. */
  rateLimited: 'ERATELIMIT',
  /** A presence guard refused the connection for this room, or the room is not tracked. */
  forbidden: 'EFORBIDDEN',
  /** The client tried to change metadata keys that the server authenticated. */
  readOnly: 'EREADONLY',
  /** The connection must join the room first. */
  notJoined: 'ENOTJOINED',
  /** Client side: no reply arrived in time. */
  timeout: 'ETIMEOUT',
  /** Client side: the connection closed before the reply arrived. */
  closed: 'ECLOSED',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The payload of a failed reply, and of a `mesh/error` push. */
export interface ErrorPayload {
  /** A sentence for a person: what happened and what to do. */
  error: string;
  code: string;
  name: string;
}

/** WebSocket close codes the server uses. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  /** Policy violation, e.g. a flood that does not stop after `ERATELIMIT` replies. */
  policyViolation: 1008,
  /** A frame above the frame size limit (as `ws` does). */
  messageTooBig: 1009,
  /** Server restart: clients reconnect at once, without backoff. */
  serviceRestart: 1012,
  tryAgainLater: 1013,
} as const;

export type PresenceState = Record<string, unknown>;
export type Metadata = Record<string, unknown>;

/** Payload of a `mesh/presence-update` push. */
export interface PresenceUpdate {
  type: 'join' | 'leave' | 'state';
  connectionId: string;
  roomName: string;
  /** Only for `state`; `null` when the state was cleared or expired. */
  state?: PresenceState | null;
  timestamp: number;
  /** Extension: the joiner's metadata on `join`. */
  metadata?: Metadata | null;
}

/**
 * Extension push `mesh/metadata-update`: a connection's metadata changed. Sent to the
 * connections that may read it (those sharing a room with it, joined or subscribed), so
 * that their metadata caches stay true. A plain Mesh peer never sends it.
 */
export interface MetadataUpdate {
  connectionId: string;
  metadata: Metadata | null;
}

// ---- request payloads -------------------------------------------------------------

export interface RoomPayload {
  roomName: string;
}

export interface PublishPresenceStatePayload extends RoomPayload {
  state: PresenceState;
  /** Milliseconds after which the server drops the state, at most `MAX_EXPIRE_AFTER_MS`. */
  expireAfter?: number;
  /** Store without notifying subscribers. */
  silent?: boolean;
}

export type MetadataStrategy = 'replace' | 'merge' | 'deepMerge';
export const METADATA_STRATEGIES: ReadonlySet<string> = new Set<MetadataStrategy>(['replace', 'merge', 'deepMerge']);

export interface SetConnectionMetadataPayload {
  metadata: Metadata;
  options?: { strategy?: MetadataStrategy };
}

export interface GetConnectionMetadataPayload {
  connectionId: string;
}

// ---- reply payloads ---------------------------------------------------------------

/**
 * Answer to join-room, subscribe-presence and get-presence-state. `present` holds
 * connection ids (our server, the seed); a Mesh server may send `[{id, metadata}]`,
 * see `PresentEntry`.
 */
export interface PresenceSnapshot {
  success: boolean;
  present: string[];
  states?: Record<string, PresenceState>;
  /** Extension: metadata of each present connection, by id. */
  metadata?: Record<string, Metadata | null>;
  /** Ours: set when `success` is false. */
  error?: ErrorPayload;
}

/** The shape a plain Mesh server uses for `present` in join and subscribe replies. */
export type PresentEntry = string | { id: string; metadata?: Metadata | null };

// ---- limits -----------------------------------------------------------------------

/** Largest accepted `expireAfter`: one day. Larger values are refused, not clamped. */
export const MAX_EXPIRE_AFTER_MS = 24 * 60 * 60 * 1000;

/** Longest accepted room name, in UTF-16 code units. */
export const MAX_ROOM_NAME_LENGTH = 256;

/** Keys refused anywhere inside a state or metadata object (prototype pollution). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

// ---- validation helpers -----------------------------------------------------------

/** A plain JSON object: not null, not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Why a room name is unacceptable, or `null` when it is fine. */
export function roomNameProblem(roomName: unknown, maxLength = MAX_ROOM_NAME_LENGTH): string | null {
  if (typeof roomName !== 'string') return 'roomName must be a string';
  if (roomName.length === 0) return 'roomName must not be empty';
  if (roomName.length > maxLength) return `roomName must be at most ${maxLength} characters`;
  // A lone surrogate is not text: stores that encode names as UTF-8 (Redis) would turn
  // different names into one.
  if (LONE_SURROGATE.test(roomName)) return 'roomName must be well-formed Unicode (it has a lone surrogate)';
  return null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why an `expireAfter` value is unacceptable, or `null` when it is fine (or absent). */
export function expireAfterProblem(expireAfter: unknown): string | null {
  if (expireAfter === undefined) return null;
  if (typeof expireAfter !== 'number' || !Number.isFinite(expireAfter)) {
    return 'expireAfter must be a finite number of milliseconds';
  }
  if (expireAfter <= 0) return 'expireAfter must be greater than 0';
  if (expireAfter > MAX_EXPIRE_AFTER_MS) {
    return `expireAfter must be at most ${MAX_EXPIRE_AFTER_MS} ms (one day)`;
  }
  return null;
}

export interface ShapeLimits {
  /** Deepest nesting of objects and arrays; the top-level object is depth 1. */
  maxDepth: number;
  /** Largest number of keys and array items counted over the whole value. */
  maxNodes: number;
}

/**
 * Why a JSON value (already parsed) breaks the shape rules, or `null`. Checks nesting
 * depth, total size in nodes, and forbidden keys at every level. Iterative, so a deeply
 * nested value cannot overflow the stack.
 */
export function jsonShapeProblem(
  value: unknown,
  limits: ShapeLimits,
): { code: 'EINVALID' | 'ETOOLARGE'; message: string } | null {
  const stack: Array<[unknown, number]> = [[value, 1]];
  let nodes = 0;
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > limits.maxDepth) {
      return { code: 'ETOOLARGE', message: `nested deeper than ${limits.maxDepth} levels` };
    }
    if (Array.isArray(current)) {
      nodes += current.length;
      for (const item of current) stack.push([item, depth + 1]);
    } else {
      for (const key of Object.keys(current)) {
        if (FORBIDDEN_KEYS.has(key)) {
          return { code: 'EINVALID', message: `the key "${key}" is not allowed` };
        }
        nodes++;
        stack.push([(current as Record<string, unknown>)[key], depth + 1]);
      }
    }
    if (nodes > limits.maxNodes) {
      return { code: 'ETOOLARGE', message: `more than ${limits.maxNodes} keys and items` };
    }
  }
  return null;
}

/** Builds the payload of a failed reply or `mesh/error` push. */
export function errorPayload(code: string, message: string): ErrorPayload {
  return { error: message, code, name: 'MeshError' };
}

/** True when a reply payload is Mesh's error shape. */
export function isErrorPayload(payload: unknown): payload is ErrorPayload {
  return (
    isPlainObject(payload) &&
    typeof payload.error === 'string' &&
    typeof payload.code === 'string' &&
    // a `{success:false, error:{…}}` snapshot is not the error shape
    !('success' in payload)
  );
}

// ---- metadata merge strategies and JSON equality (server applies them, the client
// folds its replay log with them), safe against prototype pollution ----

/**
 * Recursively merges plain objects: `patch` wins, nested plain objects merge, anything
 * else (arrays included) replaces. Forbidden keys are refused before this runs; they are
 * skipped here as well so that this function alone can never pollute a prototype.
 */
export function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(base)) {
    if (!FORBIDDEN_KEYS.has(key)) out[key] = base[key];
  }
  for (const key of Object.keys(patch)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    const next = patch[key];
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(next) ? deepMerge(prev, next) : next;
  }
  return out;
}

/** The metadata that results from applying `patch` to `current` with `strategy`. */
export function applyMetadata(current: Metadata | null, patch: Metadata, strategy: MetadataStrategy): Metadata {
  if (strategy === 'replace' || current === null) return deepMerge({}, patch);
  if (strategy === 'merge') {
    const out: Metadata = {};
    for (const key of Object.keys(current)) if (!FORBIDDEN_KEYS.has(key)) out[key] = current[key];
    for (const key of Object.keys(patch)) if (!FORBIDDEN_KEYS.has(key)) out[key] = patch[key];
    return out;
  }
  return deepMerge(current, patch);
}

/** Structural equality of two JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  return ak.every((key) => Object.prototype.hasOwnProperty.call(bo, key) && jsonEqual(ao[key], bo[key]));
}
