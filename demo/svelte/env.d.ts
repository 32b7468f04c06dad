// Lets `tsc -p tsconfig.json` (which includes demo/) import Svelte components; the Svelte
// plugin compiles them, and their own types are not checked by tsc.
declare module '*.svelte' {
  import type { Component } from 'svelte';
  const component: Component<Record<string, unknown>>;
  export default component;
}
