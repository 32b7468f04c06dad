/**
 * `mesh-presence/elements`: the element classes, their events and the room context,
 * with nothing registered. Define the tags yourself (e.g. under other names), or import
 * `mesh-presence` (the package root) to register the four standard tags.
 */
export { MeshPresenceRoom, anonymousUserId } from './mesh-presence-room/mesh-presence-room.js';
export { MeshAvatars, SELF_POSITIONS, type SelfPosition } from './mesh-avatars/mesh-avatars.js';
export { MeshTyping, type MeshTypingFormatter } from './mesh-typing/mesh-typing.js';
export {
  MeshStatusPicker,
  DEFAULT_STATUSES,
  type DefaultStatus,
  type StatusOption,
} from './mesh-status-picker/mesh-status-picker.js';

export { MeshJoinEvent, type MeshJoinEventDetail } from './events/mesh-join-event.js';
export { MeshLeaveEvent, type MeshLeaveEventDetail } from './events/mesh-leave-event.js';
export { MeshStateEvent, type MeshStateEventDetail } from './events/mesh-state-event.js';
export { MeshUsersChangeEvent, type MeshUsersChangeEventDetail } from './events/mesh-users-change-event.js';
export {
  MeshConnectionChangeEvent,
  type MeshConnectionChangeEventDetail,
} from './events/mesh-connection-change-event.js';
export { MeshErrorEvent, type MeshErrorEventDetail } from './events/mesh-error-event.js';
export { MeshStatusChangeEvent, type MeshStatusChangeEventDetail } from './events/mesh-status-change-event.js';
export {
  MeshRequestCloseEvent,
  type MeshRequestCloseEventDetail,
  type MeshRequestCloseSource,
} from './events/mesh-request-close-event.js';

export {
  roomContext,
  type LocalUser,
  type PresenceUser,
  type PresenceUser as RoomUser,
  type RoomConnectionStatus,
  type RoomContextValue,
} from './context.js';
