/**
 * `mesh-presence`: registers `<mesh-presence-room>`, `<mesh-avatars>`, `<mesh-typing>`
 * and `<mesh-status-picker>` (each only if its tag is not defined yet, so loading this
 * twice is harmless), and re-exports the element classes and the client API. (The
 * script-tag file `dist/mesh-presence.js` is built from `bundle.ts`, which registers the
 * same four without the client re-exports.)
 *
 * Two names exist on both sides: `PresenceUser` here is the client's (`createPresence`'s)
 * type, the elements' user entry is `RoomUser`; `MeshErrorEvent` is the DOM event class of
 * `<mesh-presence-room>`, the client's `error` event payload is `MeshClientErrorEvent`.
 */
// the room first: when the page is already parsed, rooms must be upgraded (and provide
// their context) before the elements inside them ask for it
import './mesh-presence-room/register.js';
import './mesh-avatars/register.js';
import './mesh-typing/register.js';
import './mesh-status-picker/register.js';

export * from '../src/client/index.js';
export * from './elements.js';
export type { PresenceUser, MeshErrorEvent as MeshClientErrorEvent } from '../src/client/index.js';
export { MeshErrorEvent } from './elements.js';
