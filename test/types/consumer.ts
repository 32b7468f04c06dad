/**
 * What a TypeScript user of the package sees: every import goes through package.json
 * "exports" (the package references itself by name), so the types come from the built
 * `dist/**.d.ts`, not from our sources. Checked by test/node/types.test.ts with
 * `tsc --noEmit -p` and both tsconfigs here (bundler and nodenext resolution).
 *
 * Each `@ts-expect-error` line is a mistake a user could make; the test also checks each
 * of them really is an error (so an `any` creeping into the types fails the test).
 */
import 'mesh-presence';
import {
  MeshClient,
  MeshPresenceRoom,
  MeshUsersChangeEvent,
  type MeshConnectionChangeEventDetail,
  type RoomConnectionStatus,
  type RoomUser,
} from 'mesh-presence';
import { MeshAvatars, type MeshTypingFormatter, type StatusOption } from 'mesh-presence/elements';
import { getClient } from 'mesh-presence/client';

// Tags: querySelector and createElement return the element classes.
const room = document.querySelector('mesh-presence-room')!;
const avatars = document.createElement('mesh-avatars');
const typing = document.querySelector('mesh-typing');
const picker = document.createElement('mesh-status-picker');
const isRoom: MeshPresenceRoom = room;
const isAvatars: MeshAvatars = avatars;

// Properties keep their types.
room.url = 'wss://example.com/presence';
room.room = 'doc-42';
room.getToken = async () => 'token';
room.setState({ page: 3 });
const people: readonly RoomUser[] = room.users;
const status: RoomConnectionStatus = room.status;
avatars.max = 3;
avatars.selfPosition = 'last';
if (typing) typing.formatter = ((users, lang) => `${users.length} (${lang})`) satisfies MeshTypingFormatter;
const options: readonly StatusOption[] = picker.options;
picker.show();

// Events: typed on the element, on document and on window, for every mesh-* event.
room.addEventListener('mesh-users-change', (e) => {
  const users: readonly RoomUser[] = e.detail.users;
  const event: MeshUsersChangeEvent = e;
  console.log(users.map((u) => `${u.name} ${u.status} ${u.tabCount} ${u.typing}`), event.detail.room);
});
room.addEventListener('mesh-join', (e) => console.log(e.detail.user.id, e.detail.room));
room.addEventListener('mesh-leave', (e) => console.log(e.detail.user.name));
room.addEventListener('mesh-state', (e) => console.log(e.detail.user.status, e.detail.previous.status));
room.addEventListener('mesh-connection-change', (e) => {
  const detail: MeshConnectionChangeEventDetail = e.detail;
  const now: RoomConnectionStatus = detail.status;
  console.log(now, detail.stale);
});
room.addEventListener('mesh-error', (e) => console.log(e.detail.code, e.detail.message));
picker.addEventListener('mesh-status-change', (e) => console.log(e.detail.value, e.detail.previous));
picker.addEventListener('mesh-request-close', (e) => {
  if (e.detail.source === 'focusout') e.preventDefault();
});
document.addEventListener('mesh-users-change', (e) => console.log(e.detail.users.length));
window.addEventListener('mesh-status-change', (e) => console.log(e.detail.value));
document.body.addEventListener('mesh-join', (e) => console.log(e.detail.user.self));

// The client API from the same entry and from mesh-presence/client.
const client = new MeshClient('wss://example.com/presence', { getToken: () => 'token' });
void client.joinRoom('doc-42');
const shared = getClient('wss://example.com/presence');
console.log(isRoom, isAvatars, people, status, options, shared);

// Mistakes that must not type-check.
// @ts-expect-error detail has `users`, not `people`
room.addEventListener('mesh-users-change', (e) => e.detail.people);
// @ts-expect-error a user has no `nickname`
room.addEventListener('mesh-join', (e) => e.detail.user.nickname);
// @ts-expect-error the status-change detail holds strings
document.addEventListener('mesh-status-change', (e) => e.detail.value.toFixed());
// @ts-expect-error not a reason to close
avatars.addEventListener('mesh-request-close', (e) => e.detail.source === 'timeout');
// @ts-expect-error `max` is a number
avatars.max = 'five';
// @ts-expect-error not a self-position
avatars.selfPosition = 'middle';
// @ts-expect-error `users` is read-only
room.users = [];
// @ts-expect-error the room's tag is not an avatar stack
const wrong: MeshAvatars = document.createElement('mesh-presence-room');
console.log(wrong);
