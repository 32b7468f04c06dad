/**
 * A stand-in room for pure rendering tests: it provides `roomContext` with whatever
 * value a test gives it, and records the intents children report. Behaviour tests
 * use the real `<mesh-presence-room>` against the real server instead.
 */
import { LitElement, html } from 'lit';
import { ContextProvider } from '@lit/context';
import { roomContext, type PresenceUser, type RoomContextValue } from '../../../components/context.js';

export interface RecordedIntents {
  status: string[];
  typing: boolean[];
  state: Array<Record<string, unknown>>;
}

export class MeshTestRoom extends LitElement {
  readonly intents: RecordedIntents = { status: [], typing: [], state: [] };

  private _provider = new ContextProvider(this, {
    context: roomContext,
    initialValue: makeRoomValue({}, this.intents),
  });

  /** Replace parts of the provided value; children re-render. */
  setRoom(patch: Partial<RoomContextValue>): void {
    this._provider.setValue({ ...this._provider.value, ...patch });
  }

  get value(): RoomContextValue {
    return this._provider.value;
  }

  protected override render() {
    return html`<slot></slot>`;
  }
}

if (!customElements.get('mesh-test-room')) customElements.define('mesh-test-room', MeshTestRoom);

export function makeUser(partial: Partial<PresenceUser> & { id: string }): PresenceUser {
  return {
    self: false,
    tabCount: 1,
    name: partial.id,
    avatar: '',
    color: '',
    status: 'online',
    typing: false,
    state: {},
    metadata: null,
    ...partial,
  };
}

export function makeRoomValue(patch: Partial<RoomContextValue>, intents?: RecordedIntents): RoomContextValue {
  return {
    room: 'test-room',
    status: 'online',
    stale: false,
    users: [],
    self: { id: 'me', name: 'Me', avatar: '', color: '' },
    joined: true,
    setStatus: (status) => intents?.status.push(status),
    setTyping: (typing) => intents?.typing.push(typing),
    setState: (state) => intents?.state.push(state),
    ...patch,
  };
}
