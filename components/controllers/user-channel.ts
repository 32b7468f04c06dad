/**
 * A message bus between the tabs of one user in one browser. The status picker uses it
 * to make a choice follow across tabs at once, and the idle controller to share
 * activity, so that a hidden tab does not count the user as away while another of
 * their tabs is in use. States are per connection, so every tab republishes its own.
 *
 * BroadcastChannel where there is one, else `storage` events (which, like
 * BroadcastChannel, reach the other tabs and not the sender).
 */

/** What the tabs of one user tell each other. */
export type UserChannelMessage =
  | { type: 'status'; value: string }
  | { type: 'activity'; at: number };

type Listener = (message: UserChannelMessage) => void;

const PREFIX = 'mesh-presence/user/';

function isMessage(value: unknown): value is UserChannelMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return (m.type === 'status' && typeof m.value === 'string') ||
    (m.type === 'activity' && typeof m.at === 'number' && Number.isFinite(m.at));
}

export class UserChannel {
  /** The user this channel belongs to. */
  readonly userId: string;
  private __listeners = new Set<Listener>();
  private __channel: BroadcastChannel | null = null;
  private __storageKey: string;
  private __closed = false;

  constructor(userId: string) {
    this.userId = userId;
    this.__storageKey = `${PREFIX}${userId}/message`;
    if (typeof BroadcastChannel === 'function') {
      this.__channel = new BroadcastChannel(PREFIX + userId);
      this.__channel.addEventListener('message', this.__onMessage);
    } else if (typeof window !== 'undefined') {
      window.addEventListener('storage', this.__onStorage);
    }
  }

  /** Send to the user's other tabs (and other channels of the same user in this tab). */
  post(message: UserChannelMessage): void {
    if (this.__closed) return;
    if (this.__channel) {
      this.__channel.postMessage(message);
      return;
    }
    try {
      // The nonce makes a repeated message still a change, so a storage event fires.
      localStorage.setItem(this.__storageKey, JSON.stringify({ ...message, nonce: Math.random() }));
    } catch {
      // Storage can be unavailable (private mode, sandboxed frames): tabs then stay unsynchronised.
    }
  }

  /** Listen to the other tabs; returns the function that stops listening. */
  subscribe(listener: Listener): () => void {
    this.__listeners.add(listener);
    return () => this.__listeners.delete(listener);
  }

  close(): void {
    this.__closed = true;
    this.__listeners.clear();
    if (this.__channel) {
      this.__channel.removeEventListener('message', this.__onMessage);
      this.__channel.close();
      this.__channel = null;
    } else if (typeof window !== 'undefined') {
      window.removeEventListener('storage', this.__onStorage);
    }
  }

  private __dispatch(data: unknown): void {
    if (!isMessage(data)) return;
    for (const listener of [...this.__listeners]) listener(data);
  }

  private __onMessage = (event: MessageEvent): void => {
    this.__dispatch(event.data);
  };

  private __onStorage = (event: StorageEvent): void => {
    if (event.key !== this.__storageKey || !event.newValue) return;
    try {
      this.__dispatch(JSON.parse(event.newValue));
    } catch {
      // Not ours or corrupt: ignore, the next message will do.
    }
  };
}
