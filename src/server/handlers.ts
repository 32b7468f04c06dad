/**
 * One handler per request command.
 *
 * How failures are answered — one rule, by the shape of the command's normal reply:
 *
 * - Commands that answer an object with `success` (join-room, leave-room,
 *   subscribe-presence, get-presence-state, set-my-connection-metadata) always keep that
 *   shape: any refusal or error answers `{success:false, …empty fields, error:{error,
 *   code, name}}`, e.g. `{success:false, present:[], error:{code:'EFORBIDDEN',…}}`.
 * - Commands that answer `true`/`false` (publish-presence-state, clear-presence-state,
 *   unsubscribe-presence, refresh-presence):
 *     - a refusal a well-behaved Mesh client can meet — not joined (`ENOTJOINED`), room
 *       not tracked or guard says no (`EFORBIDDEN`) — answers plain `false`, as Mesh does;
 *       the stock Mesh client resolves whatever payload comes, and an error object would be
 *       truthy, i.e. read as success;
 *     - malformed input and broken limits (`EINVALID`, `ETOOLARGE`, `ELIMIT`) and thrown
 *       errors (`ESERVER`) answer the Mesh error payload `{error, code, name}`, so a client
 *       can surface the code. Only a misbehaving client gets these.
 * - Commands that answer a value (`{metadata}`, noop) answer the error payload on any
 *   failure (get-room-metadata answers `EFORBIDDEN` for an untracked room or a guard's no).
 *
 * Reading rules: get-presence-state and get-room-metadata need a tracked room whose guard
 * admits the caller; get-presence-state includes the `metadata` map only for a caller
 * joined to or subscribed to the room (others get `{success, present, states}`).
 * - Frame-level failures found before a handler runs (unknown command `ENOTFOUND`, rate
 *   limit `ERATELIMIT`) answer the error payload by id; frames that cannot be answered by
 *   id get a `mesh/error` push (see server.ts).
 */
import {
  Command,
  ErrorCode,
  METADATA_STRATEGIES,
  applyMetadata,
  errorPayload,
  expireAfterProblem,
  isPlainObject,
  jsonEqual,
  jsonShapeProblem,
  roomNameProblem,
  type Metadata,
  type MetadataStrategy,
  type PresenceState,
} from '../protocol.js';
import type { Connection } from './connection.js';
import type { PresenceLimits, TrackPresenceOptions } from './options.js';
import type { PresenceStore, RoomSnapshot } from './store.js';

/** The shape of a command's normal reply, which decides how its failures look. */
export type ReplyKind = 'snapshot' | 'success' | 'boolean' | 'value';

/** A failure with a stable code, thrown by validation and access checks. */
export class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A reply followed by work that must happen after it was written (e.g. buffered events). */
export class ReplyThen {
  constructor(
    readonly payload: unknown,
    readonly after: () => void,
  ) {}
}

/** A reply payload that is already JSON, spliced into the reply frame as is. */
export class EncodedPayload {
  constructor(readonly json: string) {}
}

/** What the handlers need from the server. */
export interface ServerCore {
  readonly store: PresenceStore;
  readonly limits: PresenceLimits;
  /**
   * Resolves the room's tracking options when the room is tracked and its guard (if any)
   * admits the connection; throws `Refusal(EFORBIDDEN)` otherwise.
   */
  checkAccess(conn: Connection, roomName: string): Promise<TrackPresenceOptions>;
  /** Registers a local presence subscription; `flush` sends events that raced with the snapshot. */
  subscribe(conn: Connection, roomName: string): Promise<{ snapshot: RoomSnapshot; flush: () => void }>;
  /** Removes a local presence subscription; false when there was none. */
  unsubscribe(conn: Connection, roomName: string): boolean;
  /**
   * Pushes `mesh/metadata-update` with `owner`'s current metadata to the connections that
   * may read it (see server.ts).
   */
  pushMetadataUpdate(owner: Connection): void;
  /** Whether `conn` may read the metadata of connection `targetId`. */
  canSee(conn: Connection, targetId: string): Promise<boolean>;
  /**
   * The success reply for a snapshot of `roomName`: `{success, present, metadata}`, or with
   * `states` (`{success, present, states, metadata}`), serialised (see snapshot-encoder.ts).
   */
  snapshotPayload(roomName: string, snapshot: RoomSnapshot, withStates: boolean): EncodedPayload;
}

export interface CommandSpec {
  kind: ReplyKind;
  run(conn: Connection, payload: unknown, core: ServerCore): unknown;
}

/** The failure reply for a command of `kind`. */
export function failureReply(kind: ReplyKind, code: string, message: string): unknown {
  const error = errorPayload(code, message);
  switch (kind) {
    case 'snapshot':
      return { success: false, present: [], states: {}, error };
    case 'success':
      return { success: false, error };
    case 'boolean':
      return code === ErrorCode.notJoined || code === ErrorCode.forbidden ? false : error;
    case 'value':
      return error;
  }
}

// ---- validation ------------------------------------------------------------------

function objectPayload(payload: unknown): Record<string, unknown> {
  if (!isPlainObject(payload)) throw new Refusal(ErrorCode.invalid, 'payload must be a JSON object');
  return payload;
}

function roomOf(payload: unknown, limits: PresenceLimits): string {
  const { roomName } = objectPayload(payload);
  const problem = roomNameProblem(roomName, limits.maxRoomNameLength);
  if (problem) throw new Refusal(ErrorCode.invalid, problem);
  return roomName as string;
}

/** Checks a state or metadata object against the shape and size limits; returns its JSON. */
function checkJsonObject(value: unknown, what: string, maxBytes: number, limits: PresenceLimits): string {
  if (!isPlainObject(value)) throw new Refusal(ErrorCode.invalid, `${what} must be a JSON object`);
  const shape = jsonShapeProblem(value, { maxDepth: limits.maxStateDepth, maxNodes: limits.maxStateNodes });
  if (shape) throw new Refusal(shape.code, `${what}: ${shape.message}`);
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new Refusal(ErrorCode.tooLarge, `${what} is ${bytes} bytes, at most ${maxBytes} allowed`);
  return json;
}


// ---- handlers --------------------------------------------------------------------

async function joinRoom(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  // A connection's commands run one after another, so the count is exact here.
  if (!conn.rooms?.has(roomName) && (conn.rooms?.size ?? 0) >= core.limits.maxRoomsPerConnection) {
    throw new Refusal(ErrorCode.limit, `a connection may join at most ${core.limits.maxRoomsPerConnection} rooms`);
  }
  const tracking = await core.checkAccess(conn, roomName);
  if (conn.closed) throw new Refusal(ErrorCode.closed, 'the connection closed');
  await core.store.join(roomName, conn.id, { ttl: tracking.ttl });
  // conn.rooms is kept by the connection's own commands (and ttl expiries), not by events
  (conn.rooms ??= new Set()).add(roomName);
  return core.snapshotPayload(roomName, await core.store.snapshot(roomName), false);
}

async function leaveRoom(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  // Leaving a room one is not in reaches the wanted end state: success, as Mesh answers.
  try {
    await core.store.leave(roomName, conn.id);
  } finally {
    // Out in any case: a store that could not be reached removes it when it is back.
    conn.rooms?.delete(roomName);
  }
  return { success: true };
}

async function subscribePresence(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  if (!conn.subscriptions?.has(roomName) && (conn.subscriptions?.size ?? 0) >= core.limits.maxRoomsPerConnection) {
    throw new Refusal(ErrorCode.limit, `a connection may subscribe to at most ${core.limits.maxRoomsPerConnection} rooms`);
  }
  await core.checkAccess(conn, roomName);
  if (conn.closed) throw new Refusal(ErrorCode.closed, 'the connection closed');
  const { snapshot, flush } = await core.subscribe(conn, roomName);
  return new ReplyThen(core.snapshotPayload(roomName, snapshot, true), flush);
}

async function unsubscribePresence(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  return core.unsubscribe(conn, roomOf(payload, core.limits));
}

async function publishPresenceState(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  const { state, expireAfter, silent } = payload as Record<string, unknown>;
  const json = checkJsonObject(state, 'state', core.limits.maxStateBytes, core.limits);
  const expireProblem = expireAfterProblem(expireAfter);
  if (expireProblem) throw new Refusal(ErrorCode.invalid, expireProblem);
  if (silent !== undefined && typeof silent !== 'boolean') {
    throw new Refusal(ErrorCode.invalid, 'silent must be a boolean');
  }
  if (!conn.rooms?.has(roomName)) throw new Refusal(ErrorCode.notJoined, 'join the room first');
  await core.checkAccess(conn, roomName);
  return core.store.setState(roomName, conn.id, state as PresenceState, {
    expireAfter: expireAfter as number | undefined,
    silent: silent as boolean | undefined,
    json,
  });
}

async function clearPresenceState(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  if (!conn.rooms?.has(roomName)) throw new Refusal(ErrorCode.notJoined, 'join the room first');
  return core.store.clearState(roomName, conn.id);
}

async function getPresenceState(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  await core.checkAccess(conn, roomName);
  const snapshot = await core.store.snapshot(roomName);
  // Metadata goes only to those who may read it anyway (see get-connection-metadata): a
  // caller that is neither joined nor subscribed gets ids and states only.
  if (conn.rooms?.has(roomName) || conn.subscriptions?.has(roomName)) {
    return core.snapshotPayload(roomName, snapshot, true);
  }
  return { success: true, present: snapshot.present, states: snapshot.states };
}

async function refreshPresence(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  if (!conn.rooms?.has(roomName)) return false;
  return core.store.refresh(roomName, conn.id);
}

async function getConnectionMetadata(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const { connectionId } = objectPayload(payload);
  if (typeof connectionId !== 'string' || connectionId.length === 0 || connectionId.length > 128) {
    throw new Refusal(ErrorCode.invalid, 'connectionId must be a non-empty string of at most 128 characters');
  }
  if (connectionId === conn.id) return { metadata: conn.metadata };
  // Unknown and invisible answer alike, so that ids cannot be probed.
  if (!(await core.canSee(conn, connectionId))) return { metadata: null };
  return { metadata: await core.store.getConnectionMetadata(connectionId) };
}

async function getMyConnectionMetadata(conn: Connection): Promise<unknown> {
  return { metadata: conn.metadata };
}

async function setMyConnectionMetadata(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const { metadata, options } = objectPayload(payload);
  checkJsonObject(metadata, 'metadata', core.limits.maxMetadataBytes, core.limits);
  let strategy: MetadataStrategy = 'replace';
  if (options !== undefined) {
    if (!isPlainObject(options)) throw new Refusal(ErrorCode.invalid, 'options must be an object');
    if (options.strategy !== undefined) {
      if (typeof options.strategy !== 'string' || !METADATA_STRATEGIES.has(options.strategy)) {
        throw new Refusal(ErrorCode.invalid, 'options.strategy must be "replace", "merge" or "deepMerge"');
      }
      strategy = options.strategy as MetadataStrategy;
    }
  }
  const next = applyMetadata(conn.metadata, metadata as Metadata, strategy);
  const trusted = conn.authenticated;
  if (trusted) {
    for (const key of Object.keys(trusted)) {
      if (!Object.prototype.hasOwnProperty.call(next, key) || !jsonEqual(next[key], trusted[key])) {
        throw new Refusal(
          ErrorCode.readOnly,
          `"${key}" was set by the server's authentication and cannot be changed or removed`,
        );
      }
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(next));
  if (bytes > core.limits.maxMetadataBytes) {
    throw new Refusal(ErrorCode.tooLarge, `metadata would be ${bytes} bytes, at most ${core.limits.maxMetadataBytes} allowed`);
  }
  await core.store.setConnectionMetadata(conn.id, next);
  conn.metadata = next;
  core.pushMetadataUpdate(conn);
  return { success: true };
}

/** Room metadata is readable under the same rule as get-presence-state: tracked room, guard admits. */
async function getRoomMetadata(conn: Connection, payload: unknown, core: ServerCore): Promise<unknown> {
  const roomName = roomOf(payload, core.limits);
  await core.checkAccess(conn, roomName);
  return { metadata: await core.store.getRoomMetadata(roomName) };
}

/**
 * The command table. A `Map`, so that inherited names (`constructor`, `__proto__`,
 * `toString`) are simply unknown.
 */
export function createCommandTable(): Map<string, CommandSpec> {
  return new Map<string, CommandSpec>([
    [Command.noop, { kind: 'value', run: () => true }],
    [Command.joinRoom, { kind: 'snapshot', run: joinRoom }],
    [Command.leaveRoom, { kind: 'success', run: leaveRoom }],
    [Command.subscribePresence, { kind: 'snapshot', run: subscribePresence }],
    [Command.unsubscribePresence, { kind: 'boolean', run: unsubscribePresence }],
    [Command.publishPresenceState, { kind: 'boolean', run: publishPresenceState }],
    [Command.clearPresenceState, { kind: 'boolean', run: clearPresenceState }],
    [Command.getPresenceState, { kind: 'snapshot', run: getPresenceState }],
    [Command.refreshPresence, { kind: 'boolean', run: refreshPresence }],
    [Command.getConnectionMetadata, { kind: 'value', run: getConnectionMetadata }],
    [Command.getMyConnectionMetadata, { kind: 'value', run: getMyConnectionMetadata }],
    [Command.setMyConnectionMetadata, { kind: 'success', run: setMyConnectionMetadata }],
    [Command.getRoomMetadata, { kind: 'value', run: getRoomMetadata }],
  ]);
}
