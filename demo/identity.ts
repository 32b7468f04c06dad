/**
 * Who this tab is. Order: `?user=<id>` (and optional `?name=`), else an identity kept in
 * sessionStorage, so each tab (or window) is its own user and keeps it across reloads.
 */
export interface DemoIdentity {
  id: string;
  name: string;
  color: string;
}

const NAMES = ['Ada', 'Bo', 'Cy', 'Dee', 'Eli', 'Fay', 'Gus', 'Hal', 'Ivy', 'Jo', 'Kai', 'Lu', 'Mo', 'Nia', 'Oz', 'Pia'];
// dark enough for white initials (≥ 4.5:1); the avatars pick dark initials on light colours anyway
const COLORS = ['#1d4ed8', '#be185d', '#15803d', '#7e22ce', '#c2410c', '#0e7490', '#a16207', '#4338ca'];
const KEY = 'mesh-presence-demo/identity';

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)]!;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function colorFor(id: string): string {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLORS[h % COLORS.length]!;
}

/** A new user with a random name. */
export function randomIdentity(): DemoIdentity {
  const name = pick(NAMES);
  const id = `${name.toLowerCase()}-${Math.random().toString(36).slice(2, 6)}`;
  return { id, name, color: colorFor(id) };
}

export function demoIdentity(params: URLSearchParams): DemoIdentity {
  const user = params.get('user')?.trim().slice(0, 40);
  if (user) return { id: user, name: params.get('name')?.trim().slice(0, 40) || capitalise(user), color: colorFor(user) };
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as DemoIdentity | null;
    if (saved && typeof saved.id === 'string' && typeof saved.name === 'string') return saved;
  } catch {
    // corrupt entry: make a new identity
  }
  const identity = randomIdentity();
  try {
    sessionStorage.setItem(KEY, JSON.stringify(identity));
  } catch {
    // no storage: a new identity on each reload
  }
  return identity;
}
