// Lets `tsc -p tsconfig.json` (which includes demo/) import single-file components; the
// Vue plugin compiles them, and their own types are not checked by tsc.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<Record<string, unknown>>;
  export default component;
}
