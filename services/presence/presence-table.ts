/**
 * The presence table: what every *other* edge node holds, merged from every channel.
 *
 * Merge rule. Each origin's state is versioned by (incarnation, seq), compared in that order.
 *  - Snapshot newer than what we hold → replaces it whole (we emit the differences).
 *  - Delta for the same incarnation with seq = held + 1 → applied.
 *  - Anything not newer → ignored (duplicate, replay, or already seen via the other channel).
 *  - A delta that skips ahead, or comes from a newer incarnation → a gap: we ask the channel for
 *    that origin's snapshot instead of guessing.
 * So both channels may deliver the same changes in any interleaving; the outcome is the same.
 *
 * Liveness. Any message from a node (on any channel) counts as hearing it. After
 * `suspectAfterMs` of silence it is suspected; after `deadAfterMs` its endpoints are removed
 * (the state is forgotten; a later snapshot brings it back). A heartbeat that shows a sequence
 * or incarnation we do not hold also asks for a snapshot. If our own sweep runs late (we were
 * paused), we grant every peer a fresh interval instead of declaring them dead.
 */
import type { Delta, EndpointRecord, Heartbeat, NodeInfo, Snapshot } from '../gen/peer.js';
import type { ChannelName, PresenceSink } from './channel.js';
import type { PresenceProfile } from './profiles.js';

/** What the table tells the edge. Called synchronously; must not throw. */
export interface PresenceEvents {
  /** An endpoint of a remote node came online (or changed). */
  upsert(node: NodeInfo, rec: EndpointRecord): void;
  /** An endpoint of a remote node went offline. */
  remove(node: NodeInfo, endpointId: string): void;
  /** The table lacks state for `origin`; ask channels for its snapshot. */
  wantSnapshot(origin: string): void;
  /** A snapshot from `node` was applied; `endpoints` is how many it holds now. */
  snapshotApplied?(node: NodeInfo, endpoints: number, via: ChannelName): void;
  /** Liveness changed: 'alive' (heard again), 'suspect', 'dead' (endpoints removed). */
  nodeState?(node: NodeInfo, state: 'alive' | 'suspect' | 'dead'): void;
}

export interface RemoteNode {
  info: NodeInfo;
  /** Sequence of the state we hold; -1 when we hold no state (heard of, but no snapshot yet). */
  seq: number;
  endpoints: Map<string, EndpointRecord>;
  lastHeard: number;
  suspected: boolean;
  /** Last measured round-trip time, ms (from heartbeat echoes). */
  rttMs: number | undefined;
  /** Per channel: when we last heard the node on it. */
  heardVia: Partial<Record<ChannelName, number>>;
}

export class PresenceTable implements PresenceSink {
  private readonly nodes = new Map<string, RemoteNode>();
  private lastSweep: number;

  constructor(
    private readonly selfId: string,
    private readonly profile: PresenceProfile,
    private readonly events: PresenceEvents,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastSweep = now();
  }

  node(id: string): RemoteNode | undefined {
    return this.nodes.get(id);
  }

  allNodes(): RemoteNode[] {
    return [...this.nodes.values()];
  }

  /** Number of remote endpoints held. */
  get size(): number {
    let n = 0;
    for (const r of this.nodes.values()) n += r.endpoints.size;
    return n;
  }

  onSnapshot(s: Snapshot, via: ChannelName): void {
    const o = s.origin;
    if (!o || o.nodeId === this.selfId) return;
    const cur = this.hear(o, via);
    if (cur.seq >= 0 && compare(o.incarnation, s.seq, cur.info.incarnation, cur.seq) <= 0) return;
    const incoming = new Map(s.endpoints.map((e) => [e.id, e]));
    for (const id of [...cur.endpoints.keys()]) {
      if (!incoming.has(id)) {
        cur.endpoints.delete(id);
        this.events.remove(o, id);
      }
    }
    cur.info = o;
    cur.seq = s.seq;
    for (const [id, rec] of incoming) {
      const prev = cur.endpoints.get(id);
      cur.endpoints.set(id, rec);
      if (!prev || !sameRecord(prev, rec)) this.events.upsert(o, rec);
    }
    this.events.snapshotApplied?.(o, cur.endpoints.size, via);
  }

  onDelta(d: Delta, via: ChannelName): void {
    const o = d.origin;
    if (!o || o.nodeId === this.selfId) return;
    const cur = this.hear(o, via);
    const sameInc = cur.seq >= 0 && cur.info.incarnation === o.incarnation;
    if (sameInc && d.seq <= cur.seq) return; // duplicate or replay
    if (cur.seq >= 0 && o.incarnation < cur.info.incarnation) return; // an old life of the node
    if (!sameInc || d.seq !== cur.seq + 1) {
      this.events.wantSnapshot(o.nodeId);
      return;
    }
    cur.seq = d.seq;
    for (const id of d.removes) {
      if (cur.endpoints.delete(id)) this.events.remove(o, id);
    }
    for (const rec of d.upserts) {
      cur.endpoints.set(rec.id, rec);
      this.events.upsert(o, rec);
    }
  }

  onHeartbeat(h: Heartbeat, via: ChannelName): void {
    const o = h.origin;
    if (!o || o.nodeId === this.selfId) return;
    const cur = this.hear(o, via);
    if (h.echoMs > 0) {
      const rtt = Date.now() - h.echoMs;
      if (rtt >= 0 && rtt < 60_000) cur.rttMs = cur.rttMs === undefined ? rtt : cur.rttMs * 0.8 + rtt * 0.2;
    }
    const behind = cur.seq < 0 || o.incarnation > cur.info.incarnation || (o.incarnation === cur.info.incarnation && h.seq > cur.seq);
    if (behind) this.events.wantSnapshot(o.nodeId);
  }

  onNodeSeen(node: NodeInfo, via: ChannelName): void {
    if (node.nodeId === this.selfId) return;
    const cur = this.nodes.get(node.nodeId);
    if (!cur) this.hear(node, via);
  }

  /**
   * Marks silent nodes suspect, forgets dead ones. Call every heartbeat interval.
   * Returns the ids of nodes declared dead in this sweep.
   */
  sweep(): string[] {
    const now = this.now();
    const late = now - this.lastSweep > 2 * this.profile.heartbeatMs + this.profile.suspectAfterMs / 2;
    this.lastSweep = now;
    const dead: string[] = [];
    for (const [id, n] of this.nodes) {
      if (late) {
        // We were paused: judge nobody on silence we could not have observed.
        n.lastHeard = Math.max(n.lastHeard, now - this.profile.heartbeatMs);
        continue;
      }
      const silent = now - n.lastHeard;
      if (silent >= this.profile.deadAfterMs) {
        for (const eid of n.endpoints.keys()) this.events.remove(n.info, eid);
        this.nodes.delete(id);
        dead.push(id);
        this.events.nodeState?.(n.info, 'dead');
      } else if (silent >= this.profile.suspectAfterMs && !n.suspected) {
        n.suspected = true;
        this.events.nodeState?.(n.info, 'suspect');
      }
    }
    return dead;
  }

  private hear(o: NodeInfo, via: ChannelName): RemoteNode {
    const now = this.now();
    let n = this.nodes.get(o.nodeId);
    if (!n) {
      n = { info: o, seq: -1, endpoints: new Map(), lastHeard: now, suspected: false, rttMs: undefined, heardVia: {} };
      this.nodes.set(o.nodeId, n);
    }
    n.lastHeard = now;
    n.heardVia[via] = now;
    if (n.suspected) {
      n.suspected = false;
      this.events.nodeState?.(n.info, 'alive');
    }
    if (o.incarnation >= n.info.incarnation) {
      // Keep the freshest addresses (a restarted node may listen elsewhere).
      if (o.peerAddr) n.info = { ...n.info, peerAddr: o.peerAddr, relayAddr: o.relayAddr, region: o.region };
    }
    return n;
  }
}

function compare(incA: number, seqA: number, incB: number, seqB: number): number {
  return incA !== incB ? incA - incB : seqA - seqB;
}

function sameRecord(a: EndpointRecord, b: EndpointRecord): boolean {
  return a.url === b.url && a.poolingEnabled === b.poolingEnabled && a.trafficPolicy === b.trafficPolicy && a.account === b.account && a.upstreamUrl === b.upstreamUrl && a.description === b.description && a.metadata === b.metadata;
}
