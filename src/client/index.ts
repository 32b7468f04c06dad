/**
 * `mesh-presence/client`: the presence client for browsers (and any runtime with a
 * global `WebSocket`). Imports nothing from Node; in Node, `./node.ts` adds `ws`.
 */
export { MeshClient } from './mesh-client.js';
export type {
  ClientStatus,
  JoinRoomResult,
  LeaveRoomResult,
  MeshClientEvents,
  MeshClientOptions,
  PresenceCallback,
  PresenceResult,
  PublishOptions,
  ReconnectOptions,
} from './mesh-client.js';
export { createPresence } from './create-presence.js';
export type { CreatePresenceOptions, PresenceHandle, PresenceUser } from './create-presence.js';
export { getClient, resetClients, roomRefsFor, RoomRefs } from './shared-client.js';
export type { PresenceListener, PresenceWatch, RoomLease, SharedClient, SharedClientMethods } from './shared-client.js';
export { ClientErrorCode, MeshError } from './errors.js';
export type { MeshErrorEvent, ResultError } from './errors.js';
export { setDefaultWebSocket } from './transport.js';
export type { WebSocketCtor, WebSocketLike } from './transport.js';
export { Emitter } from './emitter.js';
export type { Listener } from './emitter.js';
export { CloseCode, Command, ErrorCode } from '../protocol.js';
export type { Metadata, MetadataStrategy, PresenceState, PresenceUpdate } from '../protocol.js';
