/**
 * Member selection for a pool (per request for HTTP), locality first (DESIGN.md, Balancing):
 *  1. candidates = usable members in the receiving edge's region + every cloud endpoint
 *     (cloud endpoints are present in every region);
 *  2. if there are none, the usable members of the nearest other region, nearest by the
 *     measured RTT to the edge node that holds them (unknown RTT counts as farthest; ties go
 *     to the region name, so every edge decides the same way);
 *  3. uniform random among the candidates.
 * Usable = its agent session or relay link is open, and a retry has not already tried it.
 * The common case (a random pick is local and usable) costs one random number and no allocation.
 */
import type { Endpoint } from '../endpoints/endpoint.js';

export interface Locality {
  /** Region of the edge node receiving the request. */
  region: string;
  /** Smoothed RTT (ms) to another edge node, or undefined when not measured. */
  rttTo(nodeId: string): number | undefined;
}

export function selectMember(members: readonly Endpoint[], exclude?: ReadonlySet<string>, loc?: Locality): Endpoint | undefined {
  const n = members.length;
  if (n === 0) return undefined;
  const pick = members[(Math.random() * n) | 0];
  if (usable(pick, exclude) && (loc === undefined || isLocal(pick, loc.region))) return pick;
  const ok = members.filter((m) => usable(m, exclude));
  if (ok.length === 0) return undefined;
  if (loc === undefined) return ok[(Math.random() * ok.length) | 0];
  const local = ok.filter((m) => isLocal(m, loc.region));
  if (local.length) return local[(Math.random() * local.length) | 0];
  let bestRegion = '';
  let bestRtt = Infinity;
  for (const m of ok) {
    const rtt = loc.rttTo(m.nodeId) ?? Infinity;
    if (rtt < bestRtt || (rtt === bestRtt && (bestRegion === '' || m.region < bestRegion))) {
      bestRtt = rtt;
      bestRegion = m.region;
    }
  }
  const nearest = ok.filter((m) => m.region === bestRegion);
  return nearest[(Math.random() * nearest.length) | 0];
}

function isLocal(m: Endpoint, region: string): boolean {
  return m.type === 'cloud' || m.region === region;
}

function usable(m: Endpoint, exclude?: ReadonlySet<string>): boolean {
  return (m.target === null || m.target.open) && !exclude?.has(m.id);
}
