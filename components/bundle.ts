/**
 * The entry of the script-tag bundle, `dist/mesh-presence.js`: registers
 * `<mesh-presence-room>`, `<mesh-avatars>`, `<mesh-typing>` and `<mesh-status-picker>`
 * (each only if its tag is not defined yet, so loading the file twice is harmless) and
 * exports the element classes. Unlike `components/index.ts` (the package's `.` export)
 * it does not re-export the client API, so that the bundle carries only the parts of the
 * client the elements use.
 */
// the room first: when the page is already parsed, rooms must be upgraded (and provide
// their context) before the elements inside them ask for it
export { MeshPresenceRoom } from './mesh-presence-room/register.js';
export { MeshAvatars } from './mesh-avatars/register.js';
export { MeshTyping } from './mesh-typing/register.js';
export { MeshStatusPicker } from './mesh-status-picker/register.js';
