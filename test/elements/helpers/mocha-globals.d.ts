/**
 * The Mocha globals that @web/test-runner provides in the browser, typed just enough for
 * the element tests (the repo does not depend on @types/mocha). Function declarations,
 * so that a second declaration elsewhere merges as an overload instead of clashing.
 */
interface MochaTestContext {
  timeout(ms: number): void;
  slow(ms: number): void;
  retries(count: number): void;
  skip(): never;
}
type MochaTestFn = (this: MochaTestContext) => void | PromiseLike<unknown>;
type MochaSuiteFn = (this: MochaTestContext) => void;

declare function describe(title: string, fn: MochaSuiteFn): void;
declare namespace describe {
  function skip(title: string, fn: MochaSuiteFn): void;
  function only(title: string, fn: MochaSuiteFn): void;
}
declare function it(title: string, fn?: MochaTestFn): void;
declare namespace it {
  function skip(title: string, fn?: MochaTestFn): void;
  function only(title: string, fn?: MochaTestFn): void;
}
declare function before(fn: MochaTestFn): void;
declare function after(fn: MochaTestFn): void;
declare function beforeEach(fn: MochaTestFn): void;
declare function afterEach(fn: MochaTestFn): void;
