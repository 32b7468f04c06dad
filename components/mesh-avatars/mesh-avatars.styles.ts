import { css } from 'lit';
import { statusColors, visuallyHidden } from '../shared/shared.styles.js';

export const styles = [
  visuallyHidden,
  statusColors('mesh-avatars-status'),
  css`
  :host {
    display: inline-block;
  }

  :host([hidden]) {
    display: none;
  }

  .base {
    --_size: var(--mesh-avatars-size, 2rem);
    --_overlap: var(--mesh-avatars-overlap, 0.5rem);
    --_ring-color: var(--mesh-avatars-ring-color, var(--mesh-color-surface, #fff));
    --_ring-width: var(--mesh-avatars-ring-width, 2px);
    --_duration: var(--mesh-avatars-animation-duration, 200ms);
    --_focus: var(--mesh-avatars-focus-ring-color, var(--mesh-color-focus, #2563eb));
    position: relative;
    display: inline-flex;
    align-items: center;
    font-family: inherit;
    line-height: 1;
  }

  .stack {
    display: flex;
    align-items: center;
  }

  .avatar,
  .overflow {
    box-sizing: border-box;
    inline-size: var(--_size);
    block-size: var(--_size);
    border-radius: 50%;
    border: var(--_ring-width) solid var(--_ring-color);
    flex: none;
  }

  .avatar {
    position: relative;
    display: inline-flex;
    align-items: center;
    justify-content: center;
    background: var(--_color);
    color: var(--mesh-avatars-initials-color, #fff);
  }
  /*
   * Initials in black or white, whichever contrasts more with the avatar colour: y is the
   * colour's relative luminance; at 0.1791 both give 4.58:1. --_t: 1 = white, 0 = black.
   */
  @supports (color: color(from red xyz-d65 x y z)) {
    .avatar {
      --_t: clamp(0, (0.1791 - y) * 1e6, 1);
      color: var(
        --mesh-avatars-initials-color,
        color(from var(--_color) xyz-d65 calc(0.9505 * var(--_t)) var(--_t) calc(1.089 * var(--_t)))
      );
    }
  }

  .item {
    position: relative;
    display: inline-flex;
    border-radius: 50%;
  }
  .item:focus-visible {
    outline: 2px solid var(--_focus);
    outline-offset: 2px;
  }

  .stack > .item + .item,
  .stack + .overflow {
    margin-inline-start: calc(-1 * var(--_overlap));
  }

  [part~='self'] {
    border-color: var(--mesh-avatars-self-ring-color, var(--_ring-color));
  }

  .face {
    display: flex;
    align-items: center;
    justify-content: center;
    inline-size: 100%;
    block-size: 100%;
    /* follows the avatar's shape, so that themed square avatars clip pictures square too */
    border-radius: inherit;
    overflow: hidden;
  }

  .image {
    inline-size: 100%;
    block-size: 100%;
    object-fit: cover;
  }

  .initials {
    font-size: calc(var(--_size) * 0.4);
    font-weight: 600;
    letter-spacing: 0.02em;
    user-select: none;
  }

  .status {
    position: absolute;
    inset-block-end: calc(-1 * var(--_ring-width));
    inset-inline-end: calc(-1 * var(--_ring-width));
    box-sizing: border-box;
    inline-size: calc(var(--_size) * 0.34);
    block-size: calc(var(--_size) * 0.34);
    border-radius: 50%;
    border: var(--_ring-width) solid var(--_ring-color);
    background: var(--_status);
  }

  .badge {
    position: absolute;
    inset-block-start: calc(-1 * var(--_ring-width) - 0.15rem);
    inset-inline-end: calc(-1 * var(--_ring-width) - 0.15rem);
    min-inline-size: 1rem;
    padding: 0.1rem 0.2rem;
    box-sizing: border-box;
    border-radius: 999px;
    font-size: 0.625rem;
    font-weight: 600;
    text-align: center;
    background: var(--mesh-avatars-badge-background, #1f2937);
    color: var(--mesh-avatars-badge-color, #fff);
  }

  .tooltip {
    position: absolute;
    inset-block-start: calc(100% + 0.35rem);
    inset-inline-start: 50%;
    translate: -50% 0;
    z-index: 2;
    padding: 0.25rem 0.5rem;
    border-radius: var(--mesh-radius-small, 0.25rem);
    white-space: nowrap;
    font-size: 0.75rem;
    background: var(--mesh-avatars-tooltip-background, #111827);
    color: var(--mesh-avatars-tooltip-color, #fff);
    pointer-events: none;
    opacity: 0;
    visibility: hidden;
    transition: opacity 120ms;
  }
  :host(:dir(rtl)) .tooltip {
    translate: 50% 0;
  }
  .item:hover,
  .item:focus-visible {
    z-index: 1;
  }
  .item:hover .tooltip,
  .item:focus-visible .tooltip {
    opacity: 1;
    visibility: visible;
  }
  [data-tooltips-hidden] .item .tooltip {
    visibility: hidden;
  }

  .overflow {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    padding: 0;
    font: inherit;
    font-size: calc(var(--_size) * 0.36);
    font-weight: 600;
    cursor: pointer;
    background: var(--mesh-avatars-overflow-background, #e5e7eb);
    color: var(--mesh-avatars-overflow-color, #111827);
  }
  .overflow:focus-visible {
    outline: 2px solid var(--_focus);
    outline-offset: 2px;
  }

  .list {
    position: absolute;
    inset-block-start: calc(100% + 0.35rem);
    inset-inline-start: 0;
    z-index: 3;
    min-inline-size: 12rem;
    max-block-size: 18rem;
    overflow: auto;
    margin: 0;
    padding: 0.25rem;
    list-style: none;
    border-radius: var(--mesh-radius-medium, 0.5rem);
    border: 1px solid var(--mesh-avatars-list-border-color, #d1d5db);
    background: var(--mesh-avatars-list-background, var(--mesh-color-surface, #fff));
    color: var(--mesh-avatars-list-color, #111827);
    box-shadow: 0 4px 16px rgb(0 0 0 / 0.12);
  }
  .list[hidden] {
    display: none;
  }

  .list-item {
    display: flex;
    align-items: center;
    gap: 0.5rem;
    padding: 0.25rem 0.375rem;
    font-size: 0.875rem;
  }
  .list-item .avatar {
    --_size: var(--mesh-avatars-list-size, 1.5rem);
  }
  .list-item .who {
    display: flex;
    flex-direction: column;
    gap: 0.125rem;
  }
  .list-item .status-text {
    font-size: 0.75rem;
    color: var(--mesh-avatars-list-secondary-color, #4b5563);
  }

  /* Last known users while the connection is down. */
  :host(:state(stale)) .avatar {
    filter: grayscale(1);
    border-style: dashed;
  }

  [data-state='entering'] {
    animation: mesh-avatars-enter var(--_duration) ease-out;
  }
  [data-state='leaving'] {
    animation: mesh-avatars-leave var(--_duration) ease-in forwards;
    pointer-events: none;
  }
  @keyframes mesh-avatars-enter {
    from {
      opacity: 0;
      scale: 0.4;
    }
  }
  @keyframes mesh-avatars-leave {
    to {
      opacity: 0;
      scale: 0.4;
    }
  }

  @media (prefers-reduced-motion: reduce) {
    [data-state] {
      animation: none;
    }
    .tooltip {
      transition: none;
    }
  }

  @media (forced-colors: active) {
    .avatar,
    .overflow,
    .status {
      border-color: CanvasText;
    }
  }
`,
];
