import { MeshAvatars } from './mesh-avatars.js';

export { MeshAvatars };

if (!customElements.get('mesh-avatars')) customElements.define('mesh-avatars', MeshAvatars);

declare global {
  interface HTMLElementTagNameMap {
    'mesh-avatars': MeshAvatars;
  }
}
