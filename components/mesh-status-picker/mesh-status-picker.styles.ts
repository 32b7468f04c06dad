import { css } from 'lit';
import { statusColors, visuallyHidden } from '../shared/shared.styles.js';

export const styles = [
  visuallyHidden,
  statusColors('mesh-status-picker'),
  css`
  :host {
    display: inline-block;
  }

  :host([hidden]) {
    display: none;
  }

  .base {
    --_dot-size: var(--mesh-status-picker-dot-size, 0.625em);
    --_radius: var(--mesh-status-picker-radius, var(--mesh-radius-medium, 0.375rem));
    --_border: var(--mesh-status-picker-border-color, var(--mesh-color-border, #d1d5db));
    --_surface: var(--mesh-status-picker-background, var(--mesh-color-surface, #fff));
    --_text: var(--mesh-status-picker-color, var(--mesh-color-text, inherit));
    --_focus: var(--mesh-status-picker-focus-ring-color, var(--mesh-color-focus, #2563eb));
    --_active: var(--mesh-status-picker-option-active-background, var(--mesh-color-hover, #eff6ff));
    position: relative;
    display: inline-block;
    font: inherit;
  }

  .button {
    display: inline-flex;
    align-items: center;
    gap: 0.5em;
    padding: 0.375em 0.75em;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    background: var(--_surface);
    color: var(--_text);
    font: inherit;
    cursor: pointer;
  }

  .button:focus-visible,
  .listbox:focus-visible {
    outline: 2px solid var(--_focus);
    outline-offset: 2px;
  }

  /* A chevron pointing down: physical sides, so that it points down in right-to-left text too. */
  .caret {
    inline-size: 0.4em;
    block-size: 0.4em;
    border-right: 1.5px solid;
    border-bottom: 1.5px solid;
    transform: translateY(-25%) rotate(45deg);
    margin-inline-start: 0.25em;
  }

  .dot {
    flex: none;
    inline-size: var(--_dot-size);
    block-size: var(--_dot-size);
    border-radius: 50%;
    background: var(--_color, var(--_status));
  }

  .listbox {
    position: absolute;
    inset-block-start: calc(100% + 0.25em);
    /* Pickers mostly sit at the end of a bar; override with ::part(listbox) otherwise. */
    inset-inline-end: 0;
    z-index: var(--mesh-status-picker-z-index, 10);
    min-inline-size: 100%;
    box-sizing: border-box;
    margin: 0;
    padding: 0.25em;
    list-style: none;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    background: var(--_surface);
    color: var(--_text);
    box-shadow: var(--mesh-status-picker-shadow, 0 4px 12px rgb(0 0 0 / 0.12));
    white-space: nowrap;
  }

  .listbox[hidden] {
    display: none;
  }

  .option {
    display: flex;
    align-items: center;
    gap: 0.5em;
    padding: 0.375em 0.5em;
    border-radius: calc(var(--_radius) - 0.125em);
    cursor: pointer;
  }

  .option[data-active] {
    background: var(--_active);
  }

  .option[aria-selected='true'] {
    font-weight: 600;
  }

  @media (forced-colors: active) {
    .dot {
      border: 1px solid CanvasText;
    }
    .option[data-active] {
      outline: 2px solid Highlight;
    }
  }
`,
];
