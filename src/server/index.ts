/**
 * `mesh-presence/server`: a Mesh-compatible presence server.
 *
 * ```ts
 * import { createPresenceServer } from 'mesh-presence/server';
 * const presence = createPresenceServer({ allowedOrigins: ['https://app.example.com'] });
 * const url = await presence.listen(8080, '0.0.0.0');
 * ```
 */
export {
  createPresenceServer,
  type JoinEvent,
  type LeaveEvent,
  type PresenceServer,
  type PresenceServerStats,
  type RoomPresence,
} from './server.js';
export {
  DEFAULT_LIMITS,
  type Authenticate,
  type AuthenticateInfo,
  type ConnectionInfo,
  type Logger,
  type PresenceGuard,
  type PresenceLimits,
  type PresenceServerOptions,
  type TrackPresenceOptions,
} from './options.js';
export type {
  JoinOptions,
  PresenceStore,
  RoomSnapshot,
  SetStateOptions,
  StoreEvent,
  StoreEventHandler,
} from './store.js';
export { MemoryStore } from './memory-store.js';
export { RedisStore, StoreUnavailableError, type RedisStoreOptions } from './redis-store.js';
