// Tests that need something from the system (Chromium, network namespaces) skip loudly when it is
// missing on a developer's machine, and fail when PARLEY_REQUIRE_ALL=1 (set by .ci/run): CI must run them.

/** Returns true when the suite should be skipped; throws when skipping is not allowed. */
export function skipUnless(missing: string | undefined, what: string): boolean {
  if (missing === undefined) return false;
  const message = `${what} cannot run: ${missing}`;
  if (process.env.PARLEY_REQUIRE_ALL === '1') throw new Error(`${message} (PARLEY_REQUIRE_ALL=1 forbids skipping)`);
  process.stderr.write(`\n*** SKIPPED: ${message}. Set PARLEY_REQUIRE_ALL=1 to make this a failure. ***\n\n`);
  return true;
}
