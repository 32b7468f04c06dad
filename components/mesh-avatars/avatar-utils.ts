/** Pure helpers for `<mesh-avatars>`: initials, colours, labels. */

/**
 * Up to two initials: the first letter of the first and of the last word of `name`
 * (or of `fallback`, the user id, when the name is empty), upper-cased. Letters outside
 * the BMP (emoji, CJK extension) stay whole.
 */
export function initialsOf(name: string, fallback = ''): string {
  const words = (name.trim() || fallback.trim()).split(/[\s._@-]+/u).filter(Boolean);
  if (words.length === 0) return '?';
  const first = (word: string) => Array.from(word)[0] ?? '';
  const letters = words.length === 1 ? first(words[0]!) : first(words[0]!) + first(words[words.length - 1]!);
  return letters.toLocaleUpperCase();
}

/** A 32-bit FNV-1a hash: stable across browsers and reloads. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A background colour derived from a user id: the hue varies, saturation and lightness
 * are fixed and dark (the initials on it come out white, at least 4.5:1 on every hue).
 */
export function colorFor(id: string): string {
  return `hsl(${hash(id) % 360} 50% 30%)`;
}

const STATUS_LABELS: Record<string, string> = {
  online: 'online',
  away: 'away',
  busy: 'busy',
  dnd: 'do not disturb',
  'do-not-disturb': 'do not disturb',
  offline: 'offline',
};

/** Words a screen reader says for a status value ('do-not-disturb' → 'do not disturb'). */
export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status.replace(/[-_]+/g, ' ');
}

/** A status value usable in a part name (`status-ready`): lower-case letters, digits, dashes. */
export function statusToken(status: string): string {
  return (
    status
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'unknown'
  );
}
