import { demoIdentity, randomIdentity } from './identity.js';

const params = new URLSearchParams(location.search);
const me = demoIdentity(params);
const roomName = params.get('room')?.trim() || 'demo';
const room = document.getElementById('room')!;

// Same origin as the page: the demo server attaches the presence server at /presence.
room.setAttribute('url', `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/presence`);
room.setAttribute('room', roomName);
room.setAttribute('user-id', me.id);
room.setAttribute('name', me.name);
room.setAttribute('color', me.color);

document.getElementById('me')!.textContent = me.name;
document.getElementById('room-name')!.textContent = roomName;

// "Another window" is another user: a fresh random one in the same room.
const another = document.getElementById('another') as HTMLAnchorElement;
const next = new URL(location.href);
const other = randomIdentity();
next.searchParams.set('user', other.id);
next.searchParams.set('name', other.name);
another.href = next.href;

const connection = document.getElementById('connection')!;
const texts: Record<string, string> = {
  connecting: 'Connecting…',
  online: 'Connected.',
  reconnecting: 'Connection lost: reconnecting… (the list shows the last known users)',
  offline: 'Offline.',
};
room.addEventListener('mesh-connection-change', (event) => {
  connection.textContent = texts[event.detail.status] ?? event.detail.status;
});
