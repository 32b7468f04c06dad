import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { repeat } from 'lit/directives/repeat.js';
import { consume } from '@lit/context';
import { roomContext, type PresenceUser, type RoomContextValue } from '../context.js';
import { MeshRequestCloseEvent, type MeshRequestCloseSource } from '../events/mesh-request-close-event.js';
import { OutsideRoomWarning, checkNumber, checkUnion, safeColor } from '../shared/element-helpers.js';
import { colorFor, initialsOf, statusLabel, statusToken } from './avatar-utils.js';
import { styles } from './mesh-avatars.styles.js';

/** Where the local user appears in the stack. */
export const SELF_POSITIONS = ['first', 'last', 'hidden'] as const;
export type SelfPosition = (typeof SELF_POSITIONS)[number];

const DEFAULT_MAX = 5;
let nextInstance = 0;

/** One avatar of the stack: a present user, or one who left and is still animating out. */
interface StackEntry {
  user: PresenceUser;
  leaving: boolean;
}

/**
 * An avatar stack of the people in the enclosing `<mesh-presence-room>`: an image when a
 * user has one, else initials on a colour derived from their id, a status dot, the name
 * in a tooltip. Beyond `max` people a `+N` disclosure button opens a list of the rest.
 * Users who arrive or leave animate (not with `prefers-reduced-motion`); while the room's
 * connection is down the last known people are shown greyed out and the list says so.
 *
 * Keyboard: the stack is one tab stop. Left / Right (mirrored in right-to-left text),
 * Home and End move between the people, and the focused person's name shows as with
 * the mouse; Escape hides it. (The WAI-ARIA practice for a group of items that are not
 * controls: one tab stop with a roving `tabindex`, so that a long stack does not cost a
 * Tab press per person. Screen readers get every name from the list items anyway.)
 *
 * The initials are black or white, whichever contrasts more (at least 4.5:1) with the
 * avatar's colour, whatever colour a user brings.
 *
 * @summary Avatars of the people in a presence room.
 *
 * @slot empty - Shown when nobody (else) is in the room. Empty by default.
 *
 * @fires {MeshRequestCloseEvent} mesh-request-close - Cancelable, before the overflow list closes on Escape, the `+N` button or a click outside; `preventDefault()` keeps it open.
 *
 * @csspart base - The wrapper around the stack, the overflow button and the list.
 * @csspart stack - The `role="list"` row of avatars.
 * @csspart item - One entry of the stack (`data-state="entering"` / `"leaving"` while it animates).
 * @csspart avatar - One person's circle (also inside the overflow list).
 * @csspart self - Added to the local user's avatar.
 * @csspart image - The avatar image.
 * @csspart initials - The initials shown when there is no image.
 * @csspart status-dot - The status dot; it also has `status-<value>`, e.g. `status-busy`.
 * @csspart badge - The tab-count badge (with `show-tab-count`).
 * @csspart tooltip - The name shown on hover and keyboard focus.
 * @csspart overflow - The `+N` button.
 * @csspart list - The list of the people beyond `max`.
 * @csspart list-item - One entry of that list.
 *
 * @cssstate stale - The connection is down: the people shown are the last known ones.
 *
 * @cssprop [--mesh-avatars-size=2rem] - Diameter of an avatar.
 * @cssprop [--mesh-avatars-overlap=0.5rem] - How far each avatar overlaps the previous one.
 * @cssprop [--mesh-avatars-ring-color=var(--mesh-color-surface, #fff)] - Ring around avatars and status dots.
 * @cssprop [--mesh-avatars-ring-width=2px] - Width of that ring.
 * @cssprop [--mesh-avatars-self-ring-color=var(--mesh-avatars-ring-color)] - Ring of the local user's avatar.
 * @cssprop [--mesh-avatars-initials-color=black or white, by contrast] - Colour of the initials.
 * @cssprop [--mesh-avatars-status-neutral-color=var(--mesh-color-neutral, #6b7280)] - Dot of a status without its own colour.
 * @cssprop [--mesh-avatars-status-online-color=var(--mesh-color-online, #16a34a)] - Dot for `online`.
 * @cssprop [--mesh-avatars-status-away-color=var(--mesh-color-away, #d97706)] - Dot for `away`.
 * @cssprop [--mesh-avatars-status-busy-color=var(--mesh-color-busy, #dc2626)] - Dot for `busy`.
 * @cssprop [--mesh-avatars-status-dnd-color=var(--mesh-color-dnd, #991b1b)] - Dot for `dnd` / `do-not-disturb`.
 * @cssprop [--mesh-avatars-badge-background=#1f2937] - Tab-count badge background.
 * @cssprop [--mesh-avatars-badge-color=#fff] - Tab-count badge text.
 * @cssprop [--mesh-avatars-tooltip-background=#111827] - Name tooltip background.
 * @cssprop [--mesh-avatars-tooltip-color=#fff] - Name tooltip text.
 * @cssprop [--mesh-avatars-overflow-background=#e5e7eb] - `+N` button background.
 * @cssprop [--mesh-avatars-overflow-color=#111827] - `+N` button text.
 * @cssprop [--mesh-avatars-focus-ring-color=var(--mesh-color-focus, #2563eb)] - Focus outline of the avatars and the `+N` button.
 * @cssprop [--mesh-avatars-list-background=var(--mesh-color-surface, #fff)] - Overflow list background.
 * @cssprop [--mesh-avatars-list-color=#111827] - Overflow list text.
 * @cssprop [--mesh-avatars-list-border-color=#d1d5db] - Overflow list border.
 * @cssprop [--mesh-avatars-list-secondary-color=#4b5563] - Status text in the overflow list.
 * @cssprop [--mesh-avatars-list-size=1.5rem] - Avatar size inside the overflow list.
 * @cssprop [--mesh-avatars-animation-duration=200ms] - Enter and leave animation length.
 */
export class MeshAvatars extends LitElement {
  static override styles = styles;

  private readonly __outsideRoom = new OutsideRoomWarning(this, () => this._room);

  private readonly __internals = this.attachInternals();
  private readonly __listId = `mesh-avatars-list-${nextInstance++}`;
  /** The users of the stack as last rendered, to tell who arrived and who left. */
  private __lastVisible: PresenceUser[] = [];
  private readonly __timers = new Set<ReturnType<typeof setTimeout>>();

  /** The enclosing room, provided through context. */
  @consume({ context: roomContext, subscribe: true })
  @state()
  protected _room?: RoomContextValue;

  @state() private _open = false;
  /** Users who just left, kept on screen while their leave animation runs. */
  @state() private _leaving = new Map<string, { user: PresenceUser; index: number }>();
  /** Ids that appeared after the first render (they animate in). */
  @state() private _entering = new Set<string>();
  /** Avatar URLs that failed to load: initials are shown instead. */
  @state() private _brokenImages = new Set<string>();
  /** The person who has the stack's one tab stop ('' = the first). */
  @state() private _focusId = '';
  /** Escape hides the tooltips until the pointer or focus moves on (WCAG 1.4.13). */
  @state() private _tooltipsHidden = false;

  /** Most avatars shown; the rest are behind the `+N` button. A positive integer; default 5. */
  @property({ type: Number }) max = DEFAULT_MAX;

  /** Where the local user appears: `first` (default), `last`, or `hidden` (not shown at all). */
  @property({ attribute: 'self-position' }) selfPosition: SelfPosition = 'first';

  /** Show a badge with the number of tabs of users who have more than one. Default false. */
  @property({ type: Boolean, attribute: 'show-tab-count', reflect: true }) showTabCount = false;

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('click', this.__onDocumentClick, true);
    for (const timer of this.__timers) clearTimeout(timer);
    this.__timers.clear();
    this._leaving = new Map();
    this._entering = new Set();
    // like the picker: a list left open would come back open, without its outside-click listener
    this._open = false;
  }

  protected override willUpdate(changed: PropertyValues): void {
    // what is visible depends on max and self-position as much as on the users
    if (changed.has('_room') || changed.has('max') || changed.has('selfPosition')) this.__trackArrivalsAndDepartures();
    if (changed.has('_room')) {
      try {
        this.__internals.states[this._room?.stale ? 'add' : 'delete']('stale');
      } catch {
        // browsers before CustomStateSet took plain names: no styling hook there
      }
    }
    if (this._open && this.__ordered().length <= this.__max()) this._open = false;
    if (changed.has('_open')) {
      if (this._open) document.addEventListener('click', this.__onDocumentClick, true);
      else document.removeEventListener('click', this.__onDocumentClick, true);
    }
  }

  /** The effective `max`: a bad value warns once and falls back to 5. */
  private __max(): number {
    return checkNumber(this, 'max', this.max, DEFAULT_MAX, (n) => Number.isInteger(n) && n >= 1);
  }

  /** Users in display order: the local user first / last / not at all, others as the room orders them. */
  private __ordered(): PresenceUser[] {
    const users = this._room?.users ?? [];
    const others = users.filter((u) => !u.self);
    const self = users.filter((u) => u.self);
    const position = checkUnion(this, 'self-position', this.selfPosition, SELF_POSITIONS, 'first');
    return position === 'first' ? [...self, ...others] : position === 'last' ? [...others, ...self] : others;
  }

  private __later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.__timers.delete(timer);
      fn();
    }, ms);
    this.__timers.add(timer);
  }

  /** Animation length as CSS says it, so the leaving avatar goes when its animation ends. */
  private __duration(): number {
    const value = getComputedStyle(this.renderRoot.querySelector('[part~="base"]') ?? this)
      .getPropertyValue('--_duration')
      .trim();
    const ms = parseFloat(value) * (value.endsWith('ms') ? 1 : 1000);
    return Number.isFinite(ms) ? ms : 200;
  }

  private __trackArrivalsAndDepartures(): void {
    const visible = this.__ordered().slice(0, this.__max());
    const ids = visible.map((u) => u.id);
    const animate = this.hasUpdated && this.isConnected && !matchMedia('(prefers-reduced-motion: reduce)').matches;
    if (animate) {
      const now = new Set(ids);
      const previous = new Map(this.__lastVisible.map((u, index) => [u.id, { user: u, index }]));
      const entering = ids.filter((id) => !previous.has(id) && !this._leaving.has(id));
      const leaving = [...previous.keys()].filter((id) => !now.has(id));
      // someone who left and came back before the animation ended just stays
      const back = ids.filter((id) => this._leaving.has(id));
      if (entering.length || leaving.length || back.length) {
        const nextLeaving = new Map(this._leaving);
        for (const id of back) nextLeaving.delete(id);
        // users still present but pushed into the overflow list (or hidden) do not "leave"
        const stillHere = new Set((this._room?.users ?? []).map((u) => u.id));
        for (const id of leaving) {
          const entry = previous.get(id);
          if (entry && !stillHere.has(id)) nextLeaving.set(id, entry);
        }
        this._leaving = nextLeaving;
        this._entering = new Set([...this._entering, ...entering]);
        this.__later(this.__duration() + 50, () => {
          const l = new Map(this._leaving);
          for (const id of leaving) l.delete(id);
          this._leaving = l;
          const e = new Set(this._entering);
          for (const id of entering) e.delete(id);
          this._entering = e;
        });
      }
    } else if (this._leaving.size || this._entering.size) {
      this._leaving = new Map();
      this._entering = new Set();
    }
    this.__lastVisible = visible;
  }

  /** Closes the overflow list on a user's action, unless a `mesh-request-close` listener says no. */
  private __requestClose(source: MeshRequestCloseSource): boolean {
    if (!this.dispatchEvent(new MeshRequestCloseEvent({ source }))) return false;
    this._open = false;
    return true;
  }

  private __onToggle = (): void => {
    if (!this._open) this._open = true;
    else this.__requestClose('toggle');
  };

  private __onKeydown = (event: KeyboardEvent): void => {
    if (event.key !== 'Escape') return;
    if (this._open) {
      event.stopPropagation();
      if (this.__requestClose('escape')) this.renderRoot.querySelector<HTMLElement>('[part~="overflow"]')?.focus();
    } else {
      this._tooltipsHidden = true;
    }
  };

  /** Roving focus over the people of the stack. */
  private __onStackKeydown = (event: KeyboardEvent): void => {
    const items = [...this.renderRoot.querySelectorAll<HTMLElement>('[part~="item"][data-user-id]:not([data-state="leaving"])')];
    const current = items.indexOf(event.target as HTMLElement);
    if (current < 0) return;
    const forward = getComputedStyle(this).direction === 'rtl' ? 'ArrowLeft' : 'ArrowRight';
    const backward = forward === 'ArrowLeft' ? 'ArrowRight' : 'ArrowLeft';
    const last = items.length - 1;
    const next =
      event.key === forward ? Math.min(current + 1, last)
      : event.key === backward ? Math.max(current - 1, 0)
      : event.key === 'Home' ? 0
      : event.key === 'End' ? last
      : -1;
    if (next < 0) return;
    event.preventDefault();
    const item = items[next]!;
    this._focusId = item.dataset.userId!;
    this._tooltipsHidden = false;
    item.tabIndex = 0; // before the re-render, so that focus() takes
    item.focus();
  };

  private __onMove = (): void => {
    if (this._tooltipsHidden) this._tooltipsHidden = false;
  };

  private __onDocumentClick = (event: MouseEvent): void => {
    if (!event.composedPath().includes(this)) this.__requestClose('click-outside');
  };

  /** What a screen reader says for one person, e.g. "Ada Lovelace (you), busy, 2 tabs". */
  private __label(user: PresenceUser): string {
    const parts = [`${user.name || user.id}${user.self ? ' (you)' : ''}`];
    if (user.status) parts.push(statusLabel(user.status));
    if (this.showTabCount && user.tabCount > 1) parts.push(`${user.tabCount} tabs`);
    return parts.join(', ');
  }

  private __renderCircle(user: PresenceUser, inStack: boolean): TemplateResult {
    const name = user.name || user.id;
    const image = user.avatar && !this._brokenImages.has(user.avatar) ? user.avatar : '';
    const token = statusToken(user.status);
    return html`
      <span
        part="avatar${user.self ? ' self' : ''}"
        class="avatar"
        style="--_color:${safeColor(user.color) || colorFor(user.id)}"
        data-user-id=${user.id}
      >
        <span class="face" aria-hidden="true">
          ${image
            ? html`<img part="image" class="image" src=${image} alt="" @error=${() => {
                this._brokenImages = new Set(this._brokenImages).add(image);
              }} />`
            : html`<span part="initials" class="initials">${initialsOf(user.name, user.id)}</span>`}
        </span>
        ${user.status
          ? html`<span part="status-dot status-${token}" class="status" data-status=${token} aria-hidden="true"></span>`
          : nothing}
        ${this.showTabCount && user.tabCount > 1
          ? html`<span part="badge" class="badge" aria-hidden="true">${user.tabCount}</span>`
          : nothing}
        ${inStack
          ? html`<span part="tooltip" class="tooltip" aria-hidden="true">${name}${user.self ? ' (you)' : ''}</span>`
          : nothing}
      </span>
    `;
  }

  /** Current visible users with the leaving ones put back where they were. */
  private __stackEntries(visible: PresenceUser[]): StackEntry[] {
    const entries: StackEntry[] = visible.map((user) => ({ user, leaving: false }));
    const leaving = [...this._leaving.values()].sort((a, b) => a.index - b.index);
    for (const { user, index } of leaving) {
      if (!visible.some((u) => u.id === user.id)) entries.splice(Math.min(index, entries.length), 0, { user, leaving: true });
    }
    return entries;
  }

  protected override render() {
    const stale = this._room?.stale ?? false;
    const ordered = this.__ordered();
    const max = this.__max();
    const visible = ordered.slice(0, max);
    const rest = ordered.slice(max);
    const entries = this.__stackEntries(visible);
    const focusId = visible.some((u) => u.id === this._focusId) ? this._focusId : visible[0]?.id;

    if (entries.length === 0) {
      return html`<div part="base" class="base"><slot name="empty"></slot></div>`;
    }
    return html`
      <div
        part="base"
        class="base"
        ?data-tooltips-hidden=${this._tooltipsHidden}
        @keydown=${this.__onKeydown}
        @pointerover=${this.__onMove}
        @focusin=${this.__onMove}
      >
        <div
          part="stack"
          class="stack"
          role="list"
          aria-label=${stale ? 'People in the room (connection lost, last known)' : 'People in the room'}
          @keydown=${this.__onStackKeydown}
        >
          ${repeat(
            entries,
            (entry) => entry.user.id,
            ({ user, leaving }) => html`
              <span
                part="item"
                class="item"
                role="listitem"
                data-user-id=${user.id}
                data-state=${leaving ? 'leaving' : this._entering.has(user.id) ? 'entering' : nothing}
                tabindex=${leaving ? nothing : user.id === focusId ? '0' : '-1'}
                aria-hidden=${leaving ? 'true' : nothing}
              >
                ${this.__renderCircle(user, true)}
                <span class="visually-hidden">${this.__label(user)}</span>
              </span>
            `,
          )}
        </div>
        ${rest.length > 0
          ? html`
              <button
                part="overflow"
                class="overflow"
                type="button"
                aria-expanded=${this._open ? 'true' : 'false'}
                aria-controls=${this.__listId}
                @click=${this.__onToggle}
              >
                +${rest.length}<span class="visually-hidden"> more ${rest.length === 1 ? 'person' : 'people'}</span>
              </button>
              <ul part="list" class="list" id=${this.__listId} aria-label="More people" ?hidden=${!this._open}>
                ${rest.map(
                  (user) => html`
                    <li part="list-item" class="list-item">
                      ${this.__renderCircle(user, false)}
                      <span class="who">
                        <span>${user.name || user.id}${user.self ? ' (you)' : ''}</span>
                        ${user.status ? html`<span class="status-text">${statusLabel(user.status)}</span>` : nothing}
                      </span>
                      ${this.showTabCount && user.tabCount > 1
                        ? html`<span class="visually-hidden">, ${user.tabCount} tabs</span>`
                        : nothing}
                    </li>
                  `,
                )}
              </ul>
            `
          : nothing}
      </div>
    `;
  }
}
