/** Time helpers shared by the node suites (server, client, Redis). */

/** Resolves after `ms`: only for "nothing else happens" checks, never where an event can be awaited. */
export function quiet(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
