/**
 * Member selection for a pool (per request for HTTP).
 *
 * Default strategy (one edge node): uniform random among usable members — those whose agent
 * session is open (cloud endpoints always are) and that a retry has not already tried. The
 * common case (a random pick is usable) costs one random number; otherwise the usable members
 * are collected and one is drawn uniformly among them.
 */
import type { Endpoint } from '../endpoints/endpoint.js';

export function selectMember(members: readonly Endpoint[], exclude?: ReadonlySet<string>): Endpoint | undefined {
  const n = members.length;
  if (n === 0) return undefined;
  const pick = members[(Math.random() * n) | 0];
  if (usable(pick, exclude)) return pick;
  const ok = members.filter((m) => usable(m, exclude));
  return ok.length === 0 ? undefined : ok[(Math.random() * ok.length) | 0];
}

function usable(m: Endpoint, exclude?: ReadonlySet<string>): boolean {
  return (m.target === null || m.target.open) && !exclude?.has(m.id);
}
