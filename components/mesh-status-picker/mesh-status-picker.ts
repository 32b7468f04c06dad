import { LitElement, html, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { consume } from '@lit/context';
import { roomContext, type RoomContextValue } from '../context.js';
import { IdleController } from '../controllers/idle-controller.js';
import { UserStatusController } from '../controllers/user-status-controller.js';
import { MeshRequestCloseEvent, type MeshRequestCloseSource } from '../events/mesh-request-close-event.js';
import { MeshStatusChangeEvent } from '../events/mesh-status-change-event.js';
import { OutsideRoomWarning, checkNumber, safeColor, warnOnce } from '../shared/element-helpers.js';
import { styles } from './mesh-status-picker.styles.js';

/** The statuses offered when the element has no `<option>` children. */
export const DEFAULT_STATUSES = ['online', 'away', 'busy', 'dnd'] as const;
export type DefaultStatus = (typeof DEFAULT_STATUSES)[number];

const DEFAULT_LABELS: Record<DefaultStatus, string> = {
  online: 'Online',
  away: 'Away',
  busy: 'Busy',
  dnd: 'Do not disturb',
};

const DEFAULT_LABEL = 'Status';

/** Chosen statuses that auto-away leaves alone: the user asked not to be disturbed (or is away already). */
const NEVER_AUTO_AWAY = new Set(['busy', 'dnd', 'do-not-disturb', 'away']);
const TYPE_AHEAD_RESET = 500;

/** One choice in the picker. */
export interface StatusOption {
  value: string;
  label: string;
  /** A CSS colour for the dot, or '' for the built-in colour of the value. */
  color: string;
  disabled: boolean;
}

let nextId = 0;

/**
 * A button that opens a listbox (arrow keys, Home/End, Enter/Space, Escape, type-ahead;
 * focus returns to the button). The choice is kept in `localStorage` per user (it wins
 * over the `value` attribute, which is only the initial default) and follows at once in
 * the user's other tabs, each of which publishes it on its own connection.
 *
 * Custom statuses: put `<option value="ready" data-color="#16a34a">Ready</option>`
 * children in the element (read from the light DOM, not rendered; `disabled` options
 * are shown but cannot be chosen). Without them it offers online / away / busy / dnd.
 *
 * With `auto-away="<ms>"` it shows and publishes `away` after that long without
 * activity in any of the user's tabs, and the chosen status again on activity. It
 * applies only when an `away` option exists, and never overrides a chosen `busy`,
 * `dnd` / `do-not-disturb` or `away`.
 *
 * Must be inside a `<mesh-presence-room>`; elsewhere it warns once, publishes nothing,
 * and neither persists nor shares its choice.
 *
 * @summary Lets the local user choose their status (online, away, busy, do not disturb, or custom ones) and publishes it to the room.
 *
 * @fires {MeshStatusChangeEvent} mesh-status-change - The user chose a status in this element.
 * @fires {MeshRequestCloseEvent} mesh-request-close - Cancelable, before the listbox closes on Escape, the button, a choice or focus leaving; `preventDefault()` keeps it open.
 *
 * @csspart base - The wrapper of button and listbox.
 * @csspart button - The button that opens the listbox.
 * @csspart status-dot - The coloured dot, in the button and in each option.
 * @csspart label - The label of the current status in the button.
 * @csspart caret - The chevron in the button (pointing down in both text directions).
 * @csspart listbox - The popup list of statuses.
 * @csspart option - One status in the list.
 * @csspart option-label - The label inside an option.
 *
 * @cssprop [--mesh-status-picker-online-color=var(--mesh-color-online, #16a34a)] - Dot colour of `online`.
 * @cssprop [--mesh-status-picker-away-color=var(--mesh-color-away, #d97706)] - Dot colour of `away`.
 * @cssprop [--mesh-status-picker-busy-color=var(--mesh-color-busy, #dc2626)] - Dot colour of `busy`.
 * @cssprop [--mesh-status-picker-dnd-color=var(--mesh-color-dnd, #991b1b)] - Dot colour of `dnd` / `do-not-disturb`.
 * @cssprop [--mesh-status-picker-neutral-color=var(--mesh-color-neutral, #6b7280)] - Dot colour of other values without `data-color`.
 * @cssprop [--mesh-status-picker-dot-size=0.625em] - Diameter of the dots.
 * @cssprop [--mesh-status-picker-background=var(--mesh-color-surface, #fff)] - Button and listbox background.
 * @cssprop [--mesh-status-picker-color=var(--mesh-color-text, inherit)] - Text colour.
 * @cssprop [--mesh-status-picker-border-color=var(--mesh-color-border, #d1d5db)] - Border colour.
 * @cssprop [--mesh-status-picker-radius=var(--mesh-radius-medium, 0.375rem)] - Corner radius.
 * @cssprop [--mesh-status-picker-focus-ring-color=var(--mesh-color-focus, #2563eb)] - Focus outline colour.
 * @cssprop [--mesh-status-picker-option-active-background=var(--mesh-color-hover, #eff6ff)] - Background of the highlighted option.
 * @cssprop [--mesh-status-picker-shadow=0 4px 12px rgb(0 0 0 / 0.12)] - Shadow of the listbox.
 * @cssprop [--mesh-status-picker-z-index=10] - Stacking level of the listbox.
 */
export class MeshStatusPicker extends LitElement {
  static override styles = styles;

  private readonly __idle = new IdleController(this, {
    timeout: () => checkNumber(this, 'auto-away', this.autoAway, 0, (n) => n >= 0),
    onChange: () => this.requestUpdate(),
  });

  /** Persistence and the user's other tabs. */
  private readonly __store = new UserStatusController(this, this.__idle, (value) => {
    // another tab of this user chose: follow without an event (it was not chosen here)
    if (!this.__isValid(value) || value === this.__choice) return;
    const previous = this.value;
    this.__choice = value;
    this.__chosen = true;
    this.requestUpdate('value', previous);
  });

  private readonly __outsideRoom = new OutsideRoomWarning(this, () => this._room);

  private readonly __idPrefix = `mesh-status-picker-${nextId++}`;
  private __initialised = false;
  private __default: string | null = null;
  /** The status chosen (by the user, code, another tab, storage or the default). */
  private __choice = '';
  /** Whether the choice came from the user, code or another tab, not from the defaults. */
  private __chosen = false;
  /** The last (room, user, joined, status) told to the room. */
  private __published = '';
  private __observer: MutationObserver | null = null;
  private __typeAhead = '';
  private __typeAheadTimer: ReturnType<typeof setTimeout> | undefined;

  @consume({ context: roomContext, subscribe: true })
  @state()
  private _room?: RoomContextValue;

  @state() private _open = false;
  /** Index of the highlighted option while the listbox is open. */
  @state() private _active = -1;
  @state() private _options: StatusOption[] = [];

  /**
   * The current status: the chosen one, or `away` while auto-away is in effect.
   * Setting it (after the element is first rendered) chooses a status like the user
   * does, minus the event: it is published, persisted and sent to the other tabs. The
   * attribute, and the property set before the first render, are only the initial
   * default, which a persisted choice overrides. Default: the first option (`online`).
   */
  @property()
  get value(): string {
    const choice = this.__choice || this.__default || this._options[0]?.value || DEFAULT_STATUSES[0];
    if (this.__idle.idle && !NEVER_AUTO_AWAY.has(choice) && this.__isValid('away')) return 'away';
    return choice;
  }
  set value(value: string) {
    if (!this.__initialised) {
      this.__default = value;
      return;
    }
    this.__choose(value, false);
  }

  /** Accessible name of the control, also read before the status on the button. Not empty. Default: "Status". */
  @property() label = DEFAULT_LABEL;

  /**
   * Ms without activity in any of the user's tabs after which `away` is shown and
   * published; 0 or absent switches it off. Default: 0.
   */
  @property({ type: Number, attribute: 'auto-away' }) autoAway = 0;

  override connectedCallback(): void {
    super.connectedCallback();
    this.__observer = new MutationObserver(() => this.__readOptions());
    this.__observer.observe(this, { childList: true, subtree: true, characterData: true, attributes: true });
    // back in the page: another tab may have chosen meanwhile
    if (this.__initialised) this.__syncUser();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.__observer?.disconnect();
    this.__observer = null;
    this._open = false;
    clearTimeout(this.__typeAheadTimer);
  }

  protected override willUpdate(changed: PropertyValues): void {
    const first = !this.__initialised;
    if (first) {
      this.__initialised = true;
      this.__readOptions();
    }
    if (first || changed.has('_room')) this.__syncUser();
    if (changed.has('autoAway')) this.__idle.update();
  }

  protected override updated(): void {
    this.__publish();
    if (this._open) {
      this.shadowRoot?.getElementById(`${this.__idPrefix}-option-${this._active}`)?.scrollIntoView?.({ block: 'nearest' });
    }
  }

  private __isValid(value: string): boolean {
    return this._options.some((o) => o.value === value && !o.disabled);
  }

  /** Set the initial choice: the persisted one, else the `value` default, else the first enabled option. */
  private __resolveInitial(): void {
    const saved = this.__store.saved;
    if (saved !== null && this.__isValid(saved)) {
      this.__choice = saved;
    } else if (this.__default !== null && this.__isValid(this.__default)) {
      this.__choice = this.__default;
    } else {
      this.__choice = this._options.find((o) => !o.disabled)?.value ?? '';
      if (this.__default) {
        const valid = this._options.map((o) => o.value).join(', ');
        warnOnce(this, 'value', `has an invalid value "${this.__default}" (options: ${valid}); using "${this.__choice}".`);
      }
    }
    this.requestUpdate('value');
  }

  /** Make `value` the choice: persist, tell the other tabs, publish. */
  private __choose(value: string, fromUser: boolean): void {
    if (!this.__isValid(value)) {
      warnOnce(this, 'choose', `cannot choose "${value}": it is not one of the options.`);
      return;
    }
    const previous = this.value;
    this.__choice = value;
    this.__chosen = true;
    this.__store.save(value);
    this.requestUpdate('value', previous);
    if (fromUser && this.value !== previous) this.dispatchEvent(new MeshStatusChangeEvent({ value: this.value, previous }));
  }

  /** Follow the room's local user: their persisted choice and their tabs. */
  private __syncUser(): void {
    this.__store.setUser(this._room?.self.id ?? '');
    const saved = this.__store.saved;
    if (saved !== null && this.__isValid(saved)) {
      const previous = this.value;
      this.__choice = saved;
      this.requestUpdate('value', previous);
    } else if (!this.__chosen) {
      this.__resolveInitial();
    }
  }

  /** Tell the room, once per distinct (room, user, joined, status). */
  private __publish(): void {
    const room = this._room;
    const status = this.value;
    if (!room || !status) return;
    const key = JSON.stringify([room.room, room.self.id, room.joined, status]);
    if (key === this.__published) return;
    this.__published = key;
    room.setStatus(status);
  }

  private __readOptions(): void {
    const children = [...this.children].filter((c): c is HTMLOptionElement => c instanceof HTMLOptionElement);
    const options: StatusOption[] = children.length
      ? children.map((o) => ({
          value: o.value,
          label: o.label || o.value,
          color: safeColor(o.dataset.color),
          disabled: o.disabled,
        }))
      : DEFAULT_STATUSES.map((value) => ({ value, label: DEFAULT_LABELS[value], color: '', disabled: false }));
    if (JSON.stringify(options) === JSON.stringify(this._options)) return;
    this._options = options;
    if (!this.__initialised) return;
    if (!this.__chosen || !this.__isValid(this.__choice)) {
      this.__chosen = this.__chosen && this.__isValid(this.__choice);
      this.__resolveInitial();
    }
    if (this._active >= options.length) this._active = options.length - 1;
  }

  /** The label, or "Status" (with a warning) when it is empty: the control needs a name. */
  private __label(): string {
    if (this.label?.trim()) return this.label;
    warnOnce(this, 'label', `has an empty label; using "${DEFAULT_LABEL}".`);
    return DEFAULT_LABEL;
  }

  private __dot(option: Pick<StatusOption, 'value' | 'color'>) {
    return html`<span
      part="status-dot"
      class="dot"
      data-status=${option.value}
      style=${option.color ? `--_color:${option.color}` : nothing}
    ></span>`;
  }

  /** Index of the next enabled option from `from` in direction `dir` (stays put at the ends). */
  private __step(from: number, dir: 1 | -1): number {
    for (let i = from + dir; i >= 0 && i < this._options.length; i += dir) {
      if (!this._options[i]!.disabled) return i;
    }
    return from >= 0 && from < this._options.length ? from : -1;
  }

  /** Closes on a user's action, unless a `mesh-request-close` listener says no. */
  private __requestClose(source: MeshRequestCloseSource, returnFocus = true): void {
    if (this._open && this.dispatchEvent(new MeshRequestCloseEvent({ source }))) this.hide(returnFocus);
  }

  private __onButtonClick = (): void => {
    if (this._open) this.__requestClose('toggle');
    else this.show();
  };

  private __onButtonKeydown = (event: KeyboardEvent): void => {
    if (this._open && event.key === 'Escape') {
      event.preventDefault();
      this.__requestClose('escape');
      return;
    }
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    if (this._open) {
      // open with focus here (a prevented close by toggle): the arrows lead back into the list
      this.renderRoot.querySelector<HTMLElement>('[part~="listbox"]')?.focus();
      return;
    }
    this.show();
    const selected = this._options.findIndex((o) => o.value === this.value);
    if (selected < 0) this._active = event.key === 'ArrowDown' ? this.__step(-1, 1) : this.__step(this._options.length, -1);
  };

  private __onListKeydown = (event: KeyboardEvent): void => {
    switch (event.key) {
      case 'ArrowDown':
        this._active = this.__step(this._active, 1);
        break;
      case 'ArrowUp':
        this._active = this.__step(this._active, -1);
        break;
      case 'Home':
        this._active = this.__step(-1, 1);
        break;
      case 'End':
        this._active = this.__step(this._options.length, -1);
        break;
      case ' ':
      case 'Enter':
        // a space inside a type-ahead word is part of the word
        if (event.key === ' ' && this.__typeAhead) this.__onTypeAhead(' ');
        else this.__pick(this._active);
        break;
      case 'Escape':
        this.__requestClose('escape');
        break;
      case 'Tab':
        this.__requestClose('focusout', false);
        return; // let focus move on
      default:
        if (event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) return;
        this.__onTypeAhead(event.key);
    }
    event.preventDefault();
    event.stopPropagation();
  };

  private __onTypeAhead(char: string): void {
    clearTimeout(this.__typeAheadTimer);
    this.__typeAhead += char.toLowerCase();
    this.__typeAheadTimer = setTimeout(() => (this.__typeAhead = ''), TYPE_AHEAD_RESET);
    const n = this._options.length;
    // A single letter cycles through matches; a longer string refines the current one.
    const start = this.__typeAhead.length === 1 ? this._active + 1 : Math.max(this._active, 0);
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const option = this._options[i]!;
      if (!option.disabled && option.label.toLowerCase().startsWith(this.__typeAhead)) {
        this._active = i;
        return;
      }
    }
  }

  private __pick(index: number): void {
    const option = this._options[index];
    if (!option || option.disabled) return;
    this.__requestClose('select');
    this.__choose(option.value, true);
  }

  private __onOptionClick = (event: MouseEvent): void => {
    const li = (event.target as Element).closest<HTMLElement>('[role="option"]');
    if (li) this.__pick(Number(li.dataset.index));
  };

  private __onOptionHover = (event: PointerEvent): void => {
    const li = (event.target as Element).closest<HTMLElement>('[role="option"]');
    const index = Number(li?.dataset.index);
    if (li && !this._options[index]?.disabled) this._active = index;
  };

  private __onFocusOut = (event: FocusEvent): void => {
    // Focus left the whole control (a click elsewhere, Tab): close without stealing focus.
    const next = event.relatedTarget;
    if (!(next instanceof Node) || !this.shadowRoot?.contains(next)) this.__requestClose('focusout', false);
  };

  /** The options offered, from `<option>` children or the defaults. */
  get options(): readonly StatusOption[] {
    return this._options;
  }

  /** Open the listbox and move focus into it. */
  show(): void {
    if (this._open) return;
    const selected = this._options.findIndex((o) => o.value === this.value);
    this._active = selected >= 0 ? selected : this.__step(-1, 1);
    this._open = true;
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('[part~="listbox"]')?.focus());
  }

  /** Close the listbox (no `mesh-request-close`: code decides); `returnFocus` puts focus back on the button. */
  hide(returnFocus = true): void {
    if (!this._open) return;
    this._open = false;
    if (returnFocus) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('[part~="button"]')?.focus());
  }

  protected override render() {
    const value = this.value;
    const current = this._options.find((o) => o.value === value) ?? { value, label: value, color: '' };
    const id = this.__idPrefix;
    const open = this._open;
    const label = this.__label();
    return html`
      <div part="base" class="base" @focusout=${this.__onFocusOut}>
        <button
          part="button"
          class="button"
          type="button"
          aria-haspopup="listbox"
          aria-expanded=${open ? 'true' : 'false'}
          aria-controls="${id}-listbox"
          @click=${this.__onButtonClick}
          @keydown=${this.__onButtonKeydown}
        >
          ${this.__dot(current)}<span class="visually-hidden">${label}: </span
          ><span part="label">${current.label}</span><span part="caret" class="caret" aria-hidden="true"></span>
        </button>
        <ul
          part="listbox"
          class="listbox"
          id="${id}-listbox"
          role="listbox"
          tabindex="-1"
          aria-label=${label}
          aria-activedescendant=${open && this._active >= 0 ? `${id}-option-${this._active}` : nothing}
          ?hidden=${!open}
          @keydown=${this.__onListKeydown}
          @click=${this.__onOptionClick}
          @pointermove=${this.__onOptionHover}
        >
          ${this._options.map(
            (option, i) => html`<li
              part="option"
              class="option"
              id="${id}-option-${i}"
              role="option"
              data-index=${i}
              data-value=${option.value}
              ?data-active=${i === this._active}
              aria-selected=${option.value === value ? 'true' : 'false'}
              aria-disabled=${option.disabled ? 'true' : nothing}
            >
              ${this.__dot(option)}<span part="option-label">${option.label}</span>
            </li>`,
          )}
        </ul>
      </div>
    `;
  }
}
