/**
 * Lower-case header names, one string per name for the whole process.
 *
 * A header name read off a request is a new string every time. Used as a property key (the
 * header map a policy reads, the head sent to the agent), it makes V8 look the name up in its
 * string table first, which costs far more than the store itself: 0.3-2 µs per name in a
 * micro-benchmark, 6.6-7.6 µs for the one header of a bench request in edge profiles (a slow
 * host). Names seen before are answered from a map instead, already
 * internalized, so the key lookups that follow take V8's fast path.
 *
 * Bounded: after MAX_NAMES distinct spellings (a client inventing names cannot grow it further),
 * new names are lower-cased each time, as without the cache.
 */

const MAX_NAMES = 2048;
const names = new Map<string, string>();

/** `name` in lower case; the same string object for every spelling of a name seen before. */
export function lowerHeaderName(name: string): string {
  const known = names.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  if (names.size >= MAX_NAMES) return lower;
  const canonical = internalized(lower);
  names.set(name, canonical);
  return canonical;
}

/** The string table's copy of `s`: property keys are internalized, and Object.keys returns them. */
function internalized(s: string): string {
  const o: Record<string, true> = {};
  o[s] = true;
  return Object.keys(o)[0];
}

/** How many spellings are cached (tests: the bound holds). */
export function cachedHeaderNames(): number {
  return names.size;
}
