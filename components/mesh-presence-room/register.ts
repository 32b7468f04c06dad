import { MeshPresenceRoom } from './mesh-presence-room.js';

export { MeshPresenceRoom };

if (!customElements.get('mesh-presence-room')) customElements.define('mesh-presence-room', MeshPresenceRoom);

declare global {
  interface HTMLElementTagNameMap {
    'mesh-presence-room': MeshPresenceRoom;
  }
}
