import { MeshTyping } from './mesh-typing.js';

export { MeshTyping };

// Defined only once, even when two copies of the bundle load on one page.
if (!customElements.get('mesh-typing')) customElements.define('mesh-typing', MeshTyping);

declare global {
  interface HTMLElementTagNameMap {
    'mesh-typing': MeshTyping;
  }
}
