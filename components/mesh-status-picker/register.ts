import { MeshStatusPicker } from './mesh-status-picker.js';

export { MeshStatusPicker };

// Defined only once, even when two copies of the bundle load on one page.
if (!customElements.get('mesh-status-picker')) customElements.define('mesh-status-picker', MeshStatusPicker);

declare global {
  interface HTMLElementTagNameMap {
    'mesh-status-picker': MeshStatusPicker;
  }
}
