import { LitElement, html, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { consume } from '@lit/context';
import { roomContext, type PresenceUser, type RoomContextValue } from '../context.js';
import { TypingController, isTypingTarget } from '../controllers/typing-controller.js';
import { OutsideRoomWarning, checkNumber, warnOnce } from '../shared/element-helpers.js';
import { styles } from './mesh-typing.styles.js';

/** Formats the line for the users who are typing (never empty when called). */
export type MeshTypingFormatter = (users: readonly PresenceUser[], lang: string) => string;

const DEFAULT_MAX = 2;
const DEFAULT_THROTTLE = 2_000;
const DEFAULT_STOP_DELAY = 3_000;
/** A name once shown stays at least this long, so the line does not flicker. */
const MIN_SHOWN = 1_000;
/** Screen readers hear the line only once it has been stable this long. */
const ANNOUNCE_DELAY = 1_000;

interface Shown {
  user: PresenceUser;
  since: number;
  typing: boolean;
}

/**
 * Attach it with `for="<id>"` to an `<input>`, `<textarea>` or contenteditable element
 * in the same root (or the document). While the local user types there, it sets the
 * room's typing flag (throttled), and clears it on pause, blur, submit or an emptied
 * field. It lists the other users whose flag is set, never the local user, with
 * `Intl.ListFormat` in the language of the closest `lang` (its own, an ancestor's, else
 * the document's, else `en`):
 * "Ada is typing…", "Ada and Bo are typing…", "Ada, Bo, and 3 others are typing…".
 * Screen readers hear changes through a polite live region, debounced.
 *
 * Must be inside a `<mesh-presence-room>`; elsewhere it warns once and shows nothing.
 *
 * @summary Shows who else in the room is typing, and reports the local user's typing in the field it is attached to.
 *
 * @attr lang - Language of the line (BCP 47, e.g. `fr`); without it the closest ancestor's `lang`, else the document's, else `en`.
 *
 * @csspart base - The wrapper of the line.
 * @csspart dots - The animated dots shown while someone types (still under reduced motion).
 * @csspart text - The text naming who is typing.
 *
 * @cssprop [--mesh-typing-color=inherit] - Text colour.
 * @cssprop [--mesh-typing-font-size=0.875em] - Text size.
 * @cssprop [--mesh-typing-gap=0.5em] - Space between dots and text.
 * @cssprop [--mesh-typing-dot-color=currentColor] - Colour of the dots.
 * @cssprop [--mesh-typing-dot-size=0.375em] - Diameter of a dot.
 */
export class MeshTyping extends LitElement {
  static override styles = styles;

  static override get observedAttributes(): string[] {
    // `lang` is a native property; watch its attribute to re-render in the new language.
    return [...super.observedAttributes, 'lang'];
  }

  private readonly __typing = new TypingController(this, {
    targetId: () => this.for,
    throttle: () => this.__throttle(),
    stopDelay: () => this.__stopDelay(),
    publish: (typing) => this._room?.setTyping(typing),
  });

  private readonly __outsideRoom = new OutsideRoomWarning(this, () => this._room);

  private readonly __shown = new Map<string, Shown>();
  private __holdTimer: ReturnType<typeof setTimeout> | undefined;
  private __announceTimer: ReturnType<typeof setTimeout> | undefined;
  private __text = '';

  @consume({ context: roomContext, subscribe: true })
  @state()
  private _room?: RoomContextValue;

  /** What the live region says; trails the visible line by `ANNOUNCE_DELAY`. */
  @state() private _announcement = '';

  /** Id of the `<input>`, `<textarea>` or contenteditable element to watch. Default: none. */
  @property() for = '';

  /**
   * Most names listed before the rest are summarised as "N others" (the summary is only
   * used for two or more). A positive integer. Default: 2.
   */
  @property({ type: Number }) max = DEFAULT_MAX;

  /** Minimum ms between two typing messages during continuous typing. Default: 2000. */
  @property({ type: Number }) throttle = DEFAULT_THROTTLE;

  /** Ms without input after which the local user stops counting as typing. Default: 3000. */
  @property({ type: Number, attribute: 'stop-delay' }) stopDelay = DEFAULT_STOP_DELAY;

  /** Text for one person; `{names}` is replaced by the name. Default: "{names} is typing…". */
  @property({ attribute: 'text-one' }) textOne = '{names} is typing…';

  /** Text for several; `{names}` is replaced by the formatted list. Default: "{names} are typing…". */
  @property({ attribute: 'text-many' }) textMany = '{names} are typing…';

  /** The summary that ends a long list; `{count}` is the number left out. Default: "{count} others". */
  @property({ attribute: 'text-others' }) textOthers = '{count} others';

  /**
   * Replaces the built-in wording entirely: gets the users shown (at least one) and the
   * resolved language, returns the line. Property only. Default: undefined.
   */
  @property({ attribute: false }) formatter?: MeshTypingFormatter;

  override attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    super.attributeChangedCallback(name, old, value);
    if (name === 'lang') this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.__holdTimer);
    clearTimeout(this.__announceTimer);
    this.__holdTimer = this.__announceTimer = undefined;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('for')) {
      // A new target: what was typed in the old one no longer counts.
      this.__typing.stop();
      this.__checkTarget();
    }
    if (changed.has('max')) this.__maxNames();
    if (changed.has('throttle')) this.__throttle();
    if (changed.has('stopDelay')) this.__stopDelay();
    this.__refreshShown();
    const text = this.__format();
    if (text !== this.__text) {
      this.__text = text;
      this.__scheduleAnnouncement();
    }
  }

  private __refreshShown(): void {
    const room = this._room;
    // A stale list is the last known one: its typing flags mean nothing any more.
    const typing = room && !room.stale ? room.users.filter((u) => u.typing && !u.self) : [];
    const now = Date.now();
    const current = new Set<string>();
    for (const user of typing) {
      current.add(user.id);
      const entry = this.__shown.get(user.id);
      if (entry) Object.assign(entry, { user, typing: true });
      else this.__shown.set(user.id, { user, since: now, typing: true });
    }
    let nextExpiry = Infinity;
    for (const [id, entry] of this.__shown) {
      if (current.has(id)) continue;
      entry.typing = false;
      const until = entry.since + MIN_SHOWN;
      if (until <= now) this.__shown.delete(id);
      else nextExpiry = Math.min(nextExpiry, until);
    }
    clearTimeout(this.__holdTimer);
    this.__holdTimer = nextExpiry === Infinity ? undefined : setTimeout(() => this.requestUpdate(), nextExpiry - now);
  }

  /** The language of the closest `lang` attribute (as `:lang()` does), else the document's, else `en`. */
  private __lang(): string {
    const lang = this.closest('[lang]')?.getAttribute('lang') || document.documentElement.lang || 'en';
    try {
      Intl.getCanonicalLocales(lang);
      return lang;
    } catch {
      warnOnce(this, 'lang', `has an invalid lang "${lang}"; using "en".`);
      return 'en';
    }
  }

  private __format(): string {
    const users = this.typingUsers;
    if (users.length === 0) return '';
    const lang = this.__lang();
    if (this.formatter) return this.formatter(users, lang);
    const names = users.map((u) => u.name || u.id);
    const max = this.__maxNames();
    // "and 1 other" is no shorter than the name itself: summarise two or more only.
    const listed = names.length > max + 1
      ? [...names.slice(0, max), this.textOthers.replaceAll('{count}', String(names.length - max))]
      : names;
    const list = new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' }).format(listed);
    return (names.length === 1 ? this.textOne : this.textMany).replaceAll('{names}', list);
  }

  private __scheduleAnnouncement(): void {
    clearTimeout(this.__announceTimer);
    if (!this.__text) {
      // Nothing to say: empty the region at once so a later identical line is news again.
      this.__announceTimer = undefined;
      this._announcement = '';
      return;
    }
    this.__announceTimer = setTimeout(() => {
      this._announcement = this.__text;
    }, ANNOUNCE_DELAY);
  }

  private __checkTarget(): void {
    const target = this.__typing.resolveTarget();
    // A missing target may appear later; a wrong kind of element will not start working.
    if (target && !isTypingTarget(target)) {
      warnOnce(this, 'for', `for="${this.for}" names a <${target.localName}>, not an input, textarea or contenteditable element.`);
    }
  }

  private __maxNames(): number {
    return checkNumber(this, 'max', this.max, DEFAULT_MAX, (n) => Number.isInteger(n) && n >= 1);
  }

  private __throttle(): number {
    return checkNumber(this, 'throttle', this.throttle, DEFAULT_THROTTLE, (n) => n > 0);
  }

  private __stopDelay(): number {
    return checkNumber(this, 'stop-delay', this.stopDelay, DEFAULT_STOP_DELAY, (n) => n > 0);
  }

  /** The users currently listed: others typing, plus those who just stopped, kept about a second so the line does not flicker. */
  get typingUsers(): readonly PresenceUser[] {
    return [...this.__shown.values()].map((s) => s.user);
  }

  protected override render() {
    const text = this.__text;
    return html`
      <div part="base">
        ${text
          ? html`<span part="dots" aria-hidden="true"><span class="dot"></span><span class="dot"></span><span class="dot"></span></span
              ><span part="text" aria-hidden="true">${text}</span>`
          : nothing}
        <span class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">${this._announcement}</span>
      </div>
    `;
  }
}
