/**
 * The README promises that all events bubble and are composed, so that a listener on
 * `document` hears an event fired inside a shadow root. Each event class is built and fired
 * from inside a shadow root; only `mesh-request-close` (which has a default action) is
 * cancelable.
 */
import { expect } from '@open-wc/testing';
import type { PresenceUser } from '../../components/context.js';
import { MeshConnectionChangeEvent } from '../../components/events/mesh-connection-change-event.js';
import { MeshErrorEvent } from '../../components/events/mesh-error-event.js';
import { MeshJoinEvent } from '../../components/events/mesh-join-event.js';
import { MeshLeaveEvent } from '../../components/events/mesh-leave-event.js';
import { MeshRequestCloseEvent } from '../../components/events/mesh-request-close-event.js';
import { MeshStateEvent } from '../../components/events/mesh-state-event.js';
import { MeshStatusChangeEvent } from '../../components/events/mesh-status-change-event.js';
import { MeshUsersChangeEvent } from '../../components/events/mesh-users-change-event.js';
import { makeUser } from './helpers/fake-room.js';

const user: PresenceUser = makeUser({ id: 'u-ada', name: 'Ada' });

/** One instance of each of the 8 classes in components/events/, and whether it is cancelable. */
const events: Array<{ name: string; make: () => CustomEvent; cancelable: boolean }> = [
  { name: 'mesh-connection-change', make: () => new MeshConnectionChangeEvent({ room: 'r', status: 'online', stale: false }), cancelable: false },
  { name: 'mesh-error', make: () => new MeshErrorEvent({ room: 'r', code: 'ECONNECT', message: 'no' }), cancelable: false },
  { name: 'mesh-join', make: () => new MeshJoinEvent({ room: 'r', user }), cancelable: false },
  { name: 'mesh-leave', make: () => new MeshLeaveEvent({ room: 'r', user }), cancelable: false },
  { name: 'mesh-request-close', make: () => new MeshRequestCloseEvent({ source: 'escape' }), cancelable: true },
  { name: 'mesh-state', make: () => new MeshStateEvent({ room: 'r', user, previous: user }), cancelable: false },
  { name: 'mesh-status-change', make: () => new MeshStatusChangeEvent({ value: 'busy', previous: 'online' }), cancelable: false },
  { name: 'mesh-users-change', make: () => new MeshUsersChangeEvent({ room: 'r', users: [user] }), cancelable: false },
];

describe('event classes', () => {
  for (const { name, make, cancelable } of events) {
    it(`${name} bubbles, is composed${cancelable ? ' and is cancelable' : ', not cancelable'}`, () => {
      const event = make();
      expect(event.type).to.equal(name);
      expect((event.constructor as unknown as { eventName: string }).eventName).to.equal(name);
      expect(event.bubbles, 'bubbles').to.equal(true);
      expect(event.composed, 'composed').to.equal(true);
      expect(event.cancelable, 'cancelable').to.equal(cancelable);
    });

    it(`${name} fired inside a shadow root reaches a listener on document`, () => {
      const host = document.createElement('div');
      document.body.append(host);
      const inner = host.attachShadow({ mode: 'open' }).appendChild(document.createElement('span'));
      const heard: Event[] = [];
      const listener = (e: Event) => heard.push(e);
      document.addEventListener(name, listener);
      try {
        const event = make();
        inner.dispatchEvent(event);
        expect(heard).to.deep.equal([event]);
      } finally {
        document.removeEventListener(name, listener);
        host.remove();
      }
    });
  }
});
