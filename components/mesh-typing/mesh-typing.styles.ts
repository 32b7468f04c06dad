import { css } from 'lit';
import { visuallyHidden } from '../shared/shared.styles.js';

export const styles = [
  visuallyHidden,
  css`
  :host {
    display: block;
  }

  :host([hidden]) {
    display: none;
  }

  [part~='base'] {
    display: flex;
    align-items: center;
    gap: var(--mesh-typing-gap, 0.5em);
    min-height: 1.5em;
    color: var(--mesh-typing-color, inherit);
    font-size: var(--mesh-typing-font-size, 0.875em);
  }

  [part~='dots'] {
    display: inline-flex;
    align-items: center;
    gap: calc(var(--mesh-typing-dot-size, 0.375em) / 2);
    flex: none;
  }

  .dot {
    width: var(--mesh-typing-dot-size, 0.375em);
    height: var(--mesh-typing-dot-size, 0.375em);
    border-radius: 50%;
    background: var(--mesh-typing-dot-color, currentColor);
    animation: bounce 1.2s infinite ease-in-out;
  }

  .dot:nth-child(2) {
    animation-delay: 0.15s;
  }

  .dot:nth-child(3) {
    animation-delay: 0.3s;
  }

  @keyframes bounce {
    0%,
    60%,
    100% {
      opacity: 0.35;
      transform: translateY(0);
    }
    30% {
      opacity: 1;
      transform: translateY(-0.25em);
    }
  }

  @media (prefers-reduced-motion: reduce) {
    .dot {
      animation: none;
      opacity: 0.6;
    }
  }

  @media (forced-colors: active) {
    .dot {
      background: CanvasText;
    }
  }
`,
];
