/**
 * Failure-detection timing profiles, after memberlist's LAN/WAN/local configs (peers.md §3.1).
 *
 * A node is heard on any channel (gRPC heartbeat, Redis heartbeat, any presence message).
 * - heartbeatMs: how often each node sends a heartbeat on every channel.
 * - suspectAfterMs: silence after which a node is *suspected* (logged; nothing removed yet).
 * - deadAfterMs: silence after which its agent endpoints are removed from this node's table.
 *   This is the bound on "how long after an edge dies do requests stop going to it".
 * - antiEntropyMs: how often each node re-sends its full snapshot on the gRPC mesh (heals
 *   anything a channel lost).
 *
 * Defaults follow memberlist: LAN probes every 1 s and suspects for ~4 s on 3 nodes (≈5 s to
 * declare a node dead); WAN 5 s / ~30 s. `local` is for one machine (tests, `cluster up`).
 * A node that finds itself paused (its sweep timer ran more than 2 heartbeats late) does not
 * judge others for one round: its own stall is not their failure (Lifeguard's idea).
 */
export interface PresenceProfile {
  heartbeatMs: number;
  suspectAfterMs: number;
  deadAfterMs: number;
  antiEntropyMs: number;
}

export const PROFILES: Readonly<Record<'local' | 'lan' | 'wan', PresenceProfile>> = Object.freeze({
  local: Object.freeze({ heartbeatMs: 250, suspectAfterMs: 1_000, deadAfterMs: 3_000, antiEntropyMs: 15_000 }),
  lan: Object.freeze({ heartbeatMs: 1_000, suspectAfterMs: 3_000, deadAfterMs: 6_000, antiEntropyMs: 30_000 }),
  wan: Object.freeze({ heartbeatMs: 2_000, suspectAfterMs: 10_000, deadAfterMs: 30_000, antiEntropyMs: 60_000 }),
});

export type ProfileName = keyof typeof PROFILES;

export function isProfileName(s: string): s is ProfileName {
  return s in PROFILES;
}
