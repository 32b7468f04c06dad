/**
 * What assistive technology gets from a node, approximated in the page (the test runner
 * has no accessibility-tree command configured): its `aria-label`, else its text outside
 * `aria-hidden` and unrendered subtrees (name from content). Visually hidden text counts;
 * a tooltip hidden with `aria-hidden="true"` does not.
 */
export function accessibleText(node: Element): string {
  const label = node.getAttribute('aria-label');
  if (label) return label.trim();
  let text = '';
  const walk = (n: Node): void => {
    if (n instanceof Element) {
      if (n.getAttribute('aria-hidden') === 'true') return;
      const style = getComputedStyle(n);
      if (style.display === 'none' || style.visibility === 'hidden') return;
    } else if (n.nodeType === Node.TEXT_NODE) {
      text += n.textContent;
    }
    for (const child of n.childNodes) walk(child);
  };
  walk(node);
  return text.replace(/\s+/g, ' ').trim();
}

/** Relative luminance (WCAG 2) of a computed CSS colour: `rgb(…)`, `color(srgb …)` or `color(xyz-d65 …)`. */
export function luminance(computed: string): number {
  const numbers = (computed.match(/-?[\d.]+(e-?\d+)?/g) ?? []).map(Number);
  if (computed.startsWith('color(xyz-d65')) return numbers[2]!; // ["65" of d65, x, y, z]
  const channels = computed.startsWith('rgb') ? numbers.slice(0, 3).map((c) => c / 255) : numbers.slice(0, 3);
  const linear = channels.map((c) => {
    const v = Math.min(1, Math.max(0, c));
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * linear[0]! + 0.7152 * linear[1]! + 0.0722 * linear[2]!;
}

/** WCAG 2 contrast ratio of two computed CSS colours. */
export function contrast(a: string, b: string): number {
  const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (l1 + 0.05) / (l2 + 0.05);
}
