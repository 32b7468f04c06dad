/** CSS shared by the elements. */
import { css, unsafeCSS, type CSSResult } from 'lit';

/** Text for assistive technology only. */
export const visuallyHidden = css`
  .visually-hidden {
    position: absolute;
    inline-size: 1px;
    block-size: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
`;

/** Built-in status colours; `do-not-disturb` is a synonym of `dnd`. */
const STATUS_COLORS: ReadonlyArray<[status: string, color: string]> = [
  ['online', '#16a34a'],
  ['away', '#d97706'],
  ['busy', '#dc2626'],
  ['dnd', '#991b1b'],
];

/**
 * Sets `--_status` on every `[data-status]` node: `--<prefix>-<status>-color`, else the
 * global `--mesh-color-<status>`, else the built-in colour; other values get
 * `--<prefix>-neutral-color`, else `--mesh-color-neutral`. The dots keep their colour in
 * forced-colours mode (a status is information, not decoration). Generated, so that
 * avatars and picker share one definition and each keeps its own custom properties.
 */
export function statusColors(prefix: string): CSSResult {
  const rule = (selector: string, name: string, color: string) =>
    `${selector}{--_status:var(--${prefix}-${name}-color,var(--mesh-color-${name},${color}))}`;
  return unsafeCSS(
    rule('[data-status]', 'neutral', '#6b7280') +
      STATUS_COLORS.map(([status, color]) =>
        rule(`[data-status=${status}]${status === 'dnd' ? ',[data-status=do-not-disturb]' : ''}`, status, color),
      ).join('') +
      '[data-status]{forced-color-adjust:none}',
  );
}
