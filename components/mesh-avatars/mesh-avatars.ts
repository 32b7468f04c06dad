import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { repeat } from 'lit/directives/repeat.js';
import { styleMap } from 'lit/directives/style-map.js';
import { consume } from '@lit/context';
import { roomContext, type PresenceUser, type RoomContextValue } from '../context.js';
import { OutsideRoomWarning, checkUnion, warnOnce } from '../mesh-presence-room/room-helpers.js';
import { colorFor, initialsOf, statusLabel, statusToken } from './avatar-utils.js';
import { styles } from './mesh-avatars.styles.js';

/** Where the local user appears in the stack. */
export const SELF_POSITIONS = ['first', 'last', 'hidden'] as const;
export type SelfPosition = (typeof SELF_POSITIONS)[number];

const DEFAULT_MAX = 5;
let nextInstance = 0;

/**
 * An avatar stack of the people in the enclosing `<mesh-presence-room>`: an image when a
 * user has one, else initials on a colour derived from their id, a status dot, the name
 * on hover. Beyond `max` people a `+N` disclosure button opens a list of the rest. Users
 * who arrive or leave animate (not with `prefers-reduced-motion`); while the room's
 * connection is down the last known people are shown greyed out and the list says so.
 *
 * @summary Avatars of the people in a presence room.
 *
 * @slot empty - Shown when nobody (else) is in the room. Empty by default.
 *
 * @csspart base - The wrapper around the stack, the overflow button and the list.
 * @csspart stack - The `role="list"` row of avatars.
 * @csspart avatar - One person's circle (also inside the overflow list).
 * @csspart self - Added to the local user's avatar.
 * @csspart image - The avatar image.
 * @csspart initials - The initials shown when there is no image.
 * @csspart status - The status dot (also `status-dot`, and `status-<value>`, e.g. `status-busy`).
 * @csspart status-dot - Alias of `status`.
 * @csspart badge - The tab-count badge (with `show-tab-count`).
 * @csspart tooltip - The name shown on hover.
 * @csspart overflow - The `+N` button.
 * @csspart list - The list of the people beyond `max`.
 * @csspart list-item - One entry of that list.
 *
 * @cssprop [--mesh-avatars-size=2rem] - Diameter of an avatar.
 * @cssprop [--mesh-avatars-overlap=0.5rem] - How far each avatar overlaps the previous one.
 * @cssprop [--mesh-avatars-ring-color=var(--mesh-color-surface, #fff)] - Ring around avatars and status dots.
 * @cssprop [--mesh-avatars-ring-width=2px] - Width of that ring.
 * @cssprop [--mesh-avatars-self-ring-color=var(--mesh-avatars-ring-color)] - Ring of the local user's avatar.
 * @cssprop [--mesh-avatars-initials-color=#fff] - Colour of the initials.
 * @cssprop [--mesh-avatars-status-color=#6b7280] - Dot of a status without its own colour.
 * @cssprop [--mesh-avatars-status-online-color=#16a34a] - Dot for `online`.
 * @cssprop [--mesh-avatars-status-away-color=#d97706] - Dot for `away`.
 * @cssprop [--mesh-avatars-status-busy-color=#dc2626] - Dot for `busy`.
 * @cssprop [--mesh-avatars-status-dnd-color=#991b1b] - Dot for `dnd` / `do-not-disturb`.
 * @cssprop [--mesh-avatars-badge-background=#1f2937] - Tab-count badge background.
 * @cssprop [--mesh-avatars-badge-color=#fff] - Tab-count badge text.
 * @cssprop [--mesh-avatars-tooltip-background=#111827] - Name tooltip background.
 * @cssprop [--mesh-avatars-tooltip-color=#fff] - Name tooltip text.
 * @cssprop [--mesh-avatars-overflow-background=#e5e7eb] - `+N` button background.
 * @cssprop [--mesh-avatars-overflow-color=#111827] - `+N` button text.
 * @cssprop [--mesh-avatars-list-background=#fff] - Overflow list background.
 * @cssprop [--mesh-avatars-list-color=#111827] - Overflow list text.
 * @cssprop [--mesh-avatars-list-size=1.5rem] - Avatar size inside the overflow list.
 * @cssprop [--mesh-avatars-animation-duration=200ms] - Enter and leave animation length.
 */
export class MeshAvatars extends LitElement {
  static override styles = styles;

  private readonly __outsideRoom = new OutsideRoomWarning(this, () => this._room);

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

  /** Most avatars shown; the rest are behind the `+N` button. A positive integer; default 5. */
  @property({ type: Number }) max = DEFAULT_MAX;

  /** Where the local user appears: `first` (default), `last`, or `hidden` (not shown at all). */
  @property({ attribute: 'self-position' }) selfPosition: SelfPosition = 'first';

  /** Show a badge with the number of tabs of users who have more than one. Default false. */
  @property({ type: Boolean, attribute: 'show-tab-count', reflect: true }) showTabCount = false;

  private readonly __listId = `mesh-avatars-list-${nextInstance++}`;
  /** Ids and users of the stack as last rendered, to tell who arrived and who left. */
  private __shownIds: string[] = [];
  private __lastVisible: PresenceUser[] = [];
  private __rendered = false;
  private __timers = new Set<ReturnType<typeof setTimeout>>();

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('click', this.__onDocumentClick, true);
    for (const timer of this.__timers) clearTimeout(timer);
    this.__timers.clear();
    this._leaving = new Map();
    this._entering = new Set();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('_room' as keyof MeshAvatars)) this.__trackArrivalsAndDepartures();
    if (changed.has('_open' as keyof MeshAvatars)) {
      if (this._open) document.addEventListener('click', this.__onDocumentClick, true);
      else document.removeEventListener('click', this.__onDocumentClick, true);
    }
    if (this._open && this.__ordered().length <= this.__max()) this._open = false;
  }

  protected override updated(): void {
    this.__rendered = true;
  }

  /** The effective `max`: a bad value warns once and falls back to 5. */
  private __max(): number {
    const max = this.max;
    if (Number.isInteger(max) && max >= 1) return max;
    warnOnce(this, 'max', `<mesh-avatars>: invalid max="${String(max)}"; expected a positive integer. Using ${DEFAULT_MAX}.`);
    return DEFAULT_MAX;
  }

  private __selfPosition(): SelfPosition {
    return checkUnion(this, 'self-position', this.selfPosition, SELF_POSITIONS, 'first');
  }

  /** Users in display order: the local user first / last / not at all, others as the room orders them. */
  private __ordered(): PresenceUser[] {
    const users = this._room?.users ?? [];
    const others = users.filter((u) => !u.self);
    const self = users.filter((u) => u.self);
    switch (this.__selfPosition()) {
      case 'first':
        return [...self, ...others];
      case 'last':
        return [...others, ...self];
      case 'hidden':
        return others;
    }
  }

  private __reducedMotion(): boolean {
    return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
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
    const value = getComputedStyle(this.renderRoot.querySelector('.base') ?? this)
      .getPropertyValue('--_duration')
      .trim();
    const ms = value.endsWith('ms') ? parseFloat(value) : value.endsWith('s') ? parseFloat(value) * 1000 : NaN;
    return Number.isFinite(ms) ? ms : 200;
  }

  private __trackArrivalsAndDepartures(): void {
    const visible = this.__ordered().slice(0, this.__max());
    const ids = visible.map((u) => u.id);
    const animate = this.__rendered && !this.__reducedMotion() && this.isConnected;
    if (animate) {
      const now = new Set(ids);
      const before = new Set(this.__shownIds);
      const previous = new Map(this.__lastVisible.map((u, index) => [u.id, { user: u, index }]));
      const entering = ids.filter((id) => !before.has(id) && !this._leaving.has(id));
      const leaving = this.__shownIds.filter((id) => !now.has(id));
      // someone who left and came back before the animation ended just stays
      const back = ids.filter((id) => this._leaving.has(id));
      if (entering.length || leaving.length || back.length) {
        const nextLeaving = new Map(this._leaving);
        for (const id of back) nextLeaving.delete(id);
        // users still present but pushed into the overflow list do not "leave"
        const stillHere = new Set(this.__ordered().map((u) => u.id));
        for (const id of leaving) {
          const entry = previous.get(id);
          if (entry && !stillHere.has(id)) nextLeaving.set(id, entry);
        }
        this._leaving = nextLeaving;
        const nextEntering = new Set(this._entering);
        for (const id of entering) nextEntering.add(id);
        this._entering = nextEntering;
        const duration = this.__duration();
        this.__later(duration + 50, () => {
          const l = new Map(this._leaving);
          for (const id of leaving) if (!now.has(id)) l.delete(id);
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
    this.__shownIds = ids;
    this.__lastVisible = visible;
  }

  private __onToggle = (): void => {
    this._open = !this._open;
  };

  private __onKeydown = (event: KeyboardEvent): void => {
    if (event.key !== 'Escape' || !this._open) return;
    event.stopPropagation();
    this._open = false;
    this.renderRoot.querySelector<HTMLButtonElement>('[part~="overflow"]')?.focus();
  };

  private __onDocumentClick = (event: MouseEvent): void => {
    if (!event.composedPath().includes(this)) this._open = false;
  };

  private __onImageError(url: string): void {
    this._brokenImages = new Set(this._brokenImages).add(url);
  }

  /** What a screen reader says for one person, e.g. "Ada Lovelace (you), busy, 2 tabs". */
  private __label(user: PresenceUser): string {
    const parts = [`${user.name || user.id}${user.self ? ' (you)' : ''}`];
    if (user.status) parts.push(statusLabel(user.status));
    if (this.showTabCount && user.tabCount > 1) parts.push(`${user.tabCount} tabs`);
    return parts.join(', ');
  }

  private __renderCircle(user: PresenceUser, extraClass: string): TemplateResult {
    const name = user.name || user.id;
    const image = user.avatar && !this._brokenImages.has(user.avatar) ? user.avatar : '';
    const token = statusToken(user.status || 'unknown');
    return html`
      <span
        part="avatar${user.self ? ' self' : ''}"
        class="avatar ${user.self ? 'self' : ''} ${extraClass}"
        style=${styleMap({ '--_color': user.color || colorFor(user.id) })}
        data-user-id=${user.id}
      >
        <span class="face" aria-hidden="true">
          ${image
            ? html`<img part="image" class="image" src=${image} alt="" @error=${() => this.__onImageError(image)} />`
            : html`<span part="initials" class="initials">${initialsOf(user.name, user.id)}</span>`}
        </span>
        ${user.status
          ? html`<span part="status status-dot status-${token}" class="status" data-status=${token} aria-hidden="true"></span>`
          : nothing}
        ${this.showTabCount && user.tabCount > 1
          ? html`<span part="badge" class="badge" aria-hidden="true">${user.tabCount}</span>`
          : nothing}
        ${extraClass.includes('in-stack')
          ? html`<span part="tooltip" class="tooltip" aria-hidden="true">${name}${user.self ? ' (you)' : ''}</span>`
          : nothing}
      </span>
    `;
  }

  /** Current visible users with the leaving ones put back where they were. */
  private __stackEntries(visible: PresenceUser[]): Array<{ user: PresenceUser; leaving: boolean }> {
    const entries = visible.map((user) => ({ user, leaving: false }));
    const leaving = [...this._leaving.values()].sort((a, b) => a.index - b.index);
    for (const { user, index } of leaving) {
      if (visible.some((u) => u.id === user.id)) continue;
      entries.splice(Math.min(index, entries.length), 0, { user, leaving: true });
    }
    return entries;
  }

  protected override render() {
    const room = this._room;
    const stale = room?.stale ?? false;
    const ordered = this.__ordered();
    const max = this.__max();
    const visible = ordered.slice(0, max);
    const rest = ordered.slice(max);
    const entries = this.__stackEntries(visible);
    const label = stale ? 'People in the room (connection lost, last known)' : 'People in the room';

    if (entries.length === 0) {
      return html`<div part="base" class="base"><slot name="empty"></slot></div>`;
    }
    return html`
      <div part="base" class="base ${stale ? 'stale' : ''}" @keydown=${this.__onKeydown}>
        <div part="stack" class="stack" role="list" aria-label=${label}>
          ${repeat(
            entries,
            (entry) => entry.user.id,
            ({ user, leaving }) => html`
              <span
                role="listitem"
                class="item ${leaving ? 'leaving' : ''} ${this._entering.has(user.id) ? 'entering' : ''}"
                aria-hidden=${leaving ? 'true' : nothing}
              >
                ${this.__renderCircle(user, 'in-stack')}
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
                ${repeat(
                  rest,
                  (user) => user.id,
                  (user) => html`
                    <li part="list-item" class="list-item">
                      ${this.__renderCircle(user, '')}
                      <span class="who">
                        <span class="name">${user.name || user.id}${user.self ? ' (you)' : ''}</span>
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
