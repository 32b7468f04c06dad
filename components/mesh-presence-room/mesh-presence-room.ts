import { LitElement, css, html, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { ContextProvider } from '@lit/context';
import {
  roomContext,
  type LocalUser,
  type PresenceUser,
  type RoomConnectionStatus,
  type RoomContextValue,
} from '../context.js';
import { PresenceController } from '../controllers/presence-controller.js';
import { MeshConnectionChangeEvent } from '../events/mesh-connection-change-event.js';
import { MeshErrorEvent } from '../events/mesh-error-event.js';
import { MeshJoinEvent } from '../events/mesh-join-event.js';
import { MeshLeaveEvent } from '../events/mesh-leave-event.js';
import { MeshStateEvent } from '../events/mesh-state-event.js';
import { MeshUsersChangeEvent } from '../events/mesh-users-change-event.js';
import { DEFAULT_TYPING_TIMEOUT, diffUsers, type ComposedState } from './merge-users.js';
import { checkNumber, warnOnce } from '../shared/element-helpers.js';
import { visuallyHidden } from '../shared/shared.styles.js';

const DEFAULT_LEAVE_GRACE = 3_000;
const ANONYMOUS_ID_KEY = 'mesh-presence:anonymous-id';
let memoryAnonymousId: string | undefined;

/**
 * A stable id for a visitor without `user-id`: kept in `localStorage`, so it is the same
 * in every tab and after a reload (per page only when storage is unavailable).
 */
export function anonymousUserId(): string {
  try {
    const stored = localStorage.getItem(ANONYMOUS_ID_KEY);
    if (stored) return stored;
    const id = randomId();
    localStorage.setItem(ANONYMOUS_ID_KEY, id);
    return id;
  } catch {
    return (memoryAnonymousId ??= randomId());
  }
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return `anon-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Joins a presence room and shares it with the elements inside: `<mesh-avatars>`,
 * `<mesh-typing>` and `<mesh-status-picker>` read the room's users from it and report
 * the local user's typing and status back to it. It uses the page-wide shared client
 * (one connection per `url`, however many rooms), groups the room's connections per
 * user with `createPresence` (one entry per person, `tabCount`, a leave grace so that a
 * reload does not flicker) and publishes one composed state for the local user:
 * `{userId, name, avatar, color, status, typing, typingAt?, state}`.
 *
 * It does not affect layout (`display: contents`), so it can wrap a whole page region.
 * While the connection is down the last known users stay, marked `stale`, and a polite
 * live region says so.
 *
 * @summary Joins a presence room and provides it to the elements inside.
 *
 * @slot - The page region that shows the room (avatars, typing line, status picker, anything).
 *
 * @fires {MeshJoinEvent} mesh-join - A user appeared (first tab joined).
 * @fires {MeshLeaveEvent} mesh-leave - A user's last tab left and the leave grace passed.
 * @fires {MeshStateEvent} mesh-state - A present user's entry changed (status, typing, name, state, tabs…).
 * @fires {MeshUsersChangeEvent} mesh-users-change - The user list changed; detail `{room, users}`.
 * @fires {MeshConnectionChangeEvent} mesh-connection-change - The connection status changed.
 * @fires {MeshErrorEvent} mesh-error - Joining, following or publishing failed, or the connection failed.
 */
export class MeshPresenceRoom extends LitElement {
  static override styles = [
    visuallyHidden,
    css`
      :host {
        display: contents;
      }
      :host([hidden]) {
        display: none;
      }
    `,
  ];

  private readonly __presence = new PresenceController(this, {
    onChange: () => this.__provide(),
    onUsers: (previous, next, room) => this.__fireUserEvents(previous, next, room),
    onStatus: (status, stale, room) => this.__onStatus(status, stale, room),
    onError: (code, message, room) => this.dispatchEvent(new MeshErrorEvent({ room, code, message })),
    localState: () => this.__composed(),
    selfId: () => this.__selfId(),
  });

  // the value is set in connectedCallback, once the properties are initialised
  private readonly __provider = new ContextProvider(this, { context: roomContext });

  /** The local user's status and page fields, composed with the identity at each publish. */
  private __status = 'online';
  private __typing = false;
  private __typingAt = 0;
  private __pageState: Record<string, unknown> = {};
  private __anonymousId: string | undefined;
  /** Whether the last status reported was stale, to announce only the transitions. */
  private __wasStale = false;

  /** What the live region says: set when the connection drops or comes back. */
  @state() private _announcement = '';

  /** `ws://` / `wss://` URL of the presence server. Required. */
  @property() url = '';

  /** Name of the room to join. Required. */
  @property() room = '';

  /**
   * A token for servers that authenticate; sent as the `token` query parameter. Read on
   * every (re)connection of the shared client, which is created by the first room of a
   * `url` on the page (later rooms of that url share it as it is).
   */
  @property() token = '';

  /**
   * Called on every (re)connection for a fresh token; wins over `token`. Property only.
   * Like `token`, it applies to the shared client the first room of a `url` creates.
   */
  @property({ attribute: false }) getToken?: () => string | Promise<string>;

  /** The local user's id. Default: a stable anonymous id kept in `localStorage`. */
  @property({ attribute: 'user-id' }) userId = '';

  /** The local user's display name. Default ''. */
  @property() name = '';

  /** URL of the local user's picture. Default '' (initials are shown). */
  @property() avatar = '';

  /** A CSS colour for the local user. Default '' (one is derived from the id). */
  @property() color = '';

  /** Show the room without joining it: nobody sees the local user. Default false. */
  @property({ type: Boolean, attribute: 'watch-only', reflect: true }) watchOnly = false;

  /**
   * How long a user whose last tab left stays listed, in ms, so that a reload does not
   * flicker. Default 3000. Applies when the room (re)starts.
   */
  @property({ type: Number, attribute: 'leave-grace' }) leaveGrace = DEFAULT_LEAVE_GRACE;

  /**
   * How long another user's typing flag counts without a refresh, in ms (typists
   * refresh it about every 2 s). Greater than 0. Default 8000.
   */
  @property({ type: Number, attribute: 'typing-timeout' }) typingTimeout = DEFAULT_TYPING_TIMEOUT;

  override connectedCallback(): void {
    super.connectedCallback();
    // before the children connect and ask for the room
    this.__provide();
  }

  protected override updated(changed: PropertyValues<this>): void {
    const keys: Array<keyof MeshPresenceRoom> = ['url', 'room', 'watchOnly', 'leaveGrace', 'typingTimeout', 'token', 'getToken'];
    if (keys.some((key) => changed.has(key))) this.__configure();
    const identity: Array<keyof MeshPresenceRoom> = ['userId', 'name', 'avatar', 'color'];
    if (identity.some((key) => changed.has(key))) {
      this.__provide();
      this.__presence.publish();
    }
  }

  private __configure(): void {
    if (!this.url || !this.room) {
      if (this.isConnected && (this.url || this.room)) {
        warnOnce(this, 'missing', 'needs both url and room; it stays empty until both are set.');
      }
      this.__presence.configure(null);
      return;
    }
    this.__presence.configure({
      url: this.url,
      room: this.room,
      watchOnly: this.watchOnly,
      leaveGrace: checkNumber(this, 'leave-grace', this.leaveGrace, DEFAULT_LEAVE_GRACE, (n) => n >= 0),
      // 0 would make every typing flag stale at once
      typingTimeout: checkNumber(this, 'typing-timeout', this.typingTimeout, DEFAULT_TYPING_TIMEOUT, (n) => n > 0),
      hasToken: Boolean(this.token || this.getToken),
      token: () => (this.getToken ? this.getToken() : this.token || undefined),
    });
  }

  private __selfId(): string {
    if (this.userId) return this.userId;
    return (this.__anonymousId ??= anonymousUserId());
  }

  private __self(): LocalUser {
    return { id: this.__selfId(), name: this.name, avatar: this.avatar, color: this.color };
  }

  private __composed(): ComposedState {
    const composed: ComposedState = {
      userId: this.__selfId(),
      name: this.name,
      avatar: this.avatar,
      color: this.color,
      status: this.__status,
      typing: this.__typing,
      state: { ...this.__pageState },
    };
    if (this.__typing) composed.typingAt = this.__typingAt;
    return composed;
  }

  private __contextValue(): RoomContextValue {
    const presence = this.__presence;
    return {
      room: presence.room,
      status: presence.status,
      stale: presence.stale,
      users: presence.users,
      self: this.__self(),
      joined: presence.joined,
      setStatus: (status) => this.__setStatus(status),
      setTyping: (typing) => this.__setTyping(typing),
      setState: (patch) => this.setState(patch),
    };
  }

  private __provide(): void {
    this.__provider.setValue(this.__contextValue());
  }

  private __setStatus(status: string): void {
    if (typeof status !== 'string' || status === '' || status === this.__status) return;
    this.__status = status;
    this.__presence.publish();
  }

  private __setTyping(typing: boolean): void {
    // typing:true always republishes: it is the typist's refresh of the receivers' timeout
    if (!typing && !this.__typing) return;
    this.__typing = typing;
    if (typing) this.__typingAt = Date.now();
    this.__presence.publish();
  }

  private __onStatus(status: RoomConnectionStatus, stale: boolean, room: string): void {
    // whoever types while the connection is down is not seen typing: the flag must not
    // come back on reconnect (the client restores the latest state published)
    if (status !== 'online' && this.__typing) this.__setTyping(false);
    const wasStale = this.__wasStale;
    this.__wasStale = stale;
    if (stale && !wasStale) this._announcement = 'Connection lost. The people shown may be out of date.';
    else if (!stale && wasStale) this._announcement = 'Connection restored.';
    this.dispatchEvent(new MeshConnectionChangeEvent({ room, status, stale }));
  }

  private __fireUserEvents(previous: readonly PresenceUser[], next: readonly PresenceUser[], room: string): void {
    const diff = diffUsers(previous, next);
    for (const user of diff.joined) this.dispatchEvent(new MeshJoinEvent({ room, user }));
    for (const user of diff.left) this.dispatchEvent(new MeshLeaveEvent({ room, user }));
    for (const { user, previous: before } of diff.changed) {
      this.dispatchEvent(new MeshStateEvent({ room, user, previous: before }));
    }
    if (diff.joined.length || diff.left.length || diff.changed.length) {
      this.dispatchEvent(new MeshUsersChangeEvent({ room, users: next }));
    }
  }

  /** The users now in the room (all tabs of a person merged into one entry). Read-only. */
  get users(): readonly PresenceUser[] {
    return this.__presence.users;
  }

  /** The connection status: `connecting`, `online`, `reconnecting` or `offline`. Read-only. */
  get status(): RoomConnectionStatus {
    return this.__presence.status;
  }

  /** True while the connection is down and `users` is the last known list. Read-only. */
  get stale(): boolean {
    return this.__presence.stale;
  }

  /**
   * Merges `patch` into the local user's page fields (shown to everyone as
   * `users[].state`) and publishes; identity, status and typing are kept. A key set to
   * `undefined` is removed.
   */
  setState(patch: Record<string, unknown>): void {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new TypeError('setState(patch): patch must be an object');
    }
    const next = { ...this.__pageState, ...patch };
    for (const [key, value] of Object.entries(patch)) if (value === undefined) delete next[key];
    this.__pageState = next;
    this.__presence.publish();
  }

  protected override render() {
    return html`<slot></slot><span class="visually-hidden" role="status">${this._announcement}</span>`;
  }
}
