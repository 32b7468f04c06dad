/**
 * The local user's chosen status beyond one element: kept in `localStorage` per user
 * (so it survives a reload) and sent to the user's other tabs over their
 * {@link UserChannel} (so it follows there at once; each tab then publishes it on its
 * own connection). It also lends that channel to the {@link IdleController}, which shares
 * activity over it. Used by `<mesh-status-picker>`.
 *
 * Without a user (an element outside any room) nothing is read, written or opened.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { IdleController } from './idle-controller.js';
import { UserChannel, type UserChannelMessage } from './user-channel.js';

/** localStorage key of a user's persisted choice. */
export const statusKey = (userId: string): string => `mesh-presence/user/${userId}/status`;

export class UserStatusController implements ReactiveController {
  private __userId = '';
  private __channel: UserChannel | null = null;

  /**
   * @param __onRemote Another tab of the user chose `value`.
   */
  constructor(
    host: ReactiveControllerHost,
    private readonly __idle: IdleController,
    private readonly __onRemote: (value: string) => void,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.__open();
  }

  hostDisconnected(): void {
    this.__close();
  }

  /** Follow `userId` ('' = no user). Returns true when it is another user than before. */
  setUser(userId: string): boolean {
    if (userId === this.__userId) return false;
    this.__close();
    this.__userId = userId;
    this.__open();
    return true;
  }

  /** The user's persisted choice, or null (none, no user, or no storage). */
  get saved(): string | null {
    try {
      return this.__userId ? localStorage.getItem(statusKey(this.__userId)) : null;
    } catch {
      return null; // storage unavailable (private mode, sandboxed frame)
    }
  }

  /** Persist `value` as the user's choice and tell their other tabs. */
  save(value: string): void {
    if (!this.__userId) return;
    try {
      localStorage.setItem(statusKey(this.__userId), value);
    } catch {
      // storage unavailable: the choice lasts for this page only
    }
    this.__channel?.post({ type: 'status', value });
  }

  private __open(): void {
    if (!this.__userId || this.__channel) return;
    this.__channel = new UserChannel(this.__userId);
    this.__channel.subscribe(this.__onMessage);
    this.__idle.setChannel(this.__channel);
  }

  private __close(): void {
    this.__idle.setChannel(null);
    this.__channel?.close();
    this.__channel = null;
  }

  private __onMessage = (message: UserChannelMessage): void => {
    if (message.type === 'status') this.__onRemote(message.value);
  };
}
