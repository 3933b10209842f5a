/**
 * This edge node's place in the cluster: it publishes its own agent endpoints (versioned state:
 * incarnation = start time, seq + 1 per change) on every presence channel, and turns what the
 * presence table learns about other nodes into registry entries whose target is the relay link
 * to the node that holds them.
 *
 * Remote agent endpoints carry their Traffic Policy text; it is compiled here once per distinct
 * text (it runs on the edge that receives the request). Cloud endpoints are not published: every
 * edge has them from its own config.
 */
import type { Delta, EndpointRecord, NodeInfo, Snapshot } from '../gen/peer.js';
import { parseEndpointUrl, type EndpointUrl } from '../core/endpoint-url.js';
import { isMeshgateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { compilePolicy } from '../policy/index.js';
import type { CompiledPolicy, PolicySecrets } from '../policy/types.js';
import type { LocalState, PresenceChannel, PresenceSink } from '../presence/channel.js';
import { PresenceTable } from '../presence/presence-table.js';
import type { PresenceProfile } from '../presence/profiles.js';
import { policyView, type Endpoint } from './endpoints/endpoint.js';
import type { EndpointRegistry } from './endpoints/registry.js';
import type { Locality } from './pools/select.js';
import { RelayLink } from './relay/relay-link.js';

export class ClusterPresence implements LocalState, Locality {
  readonly table: PresenceTable;
  private seq = 0;
  private readonly local = new Map<string, EndpointRecord>();
  private readonly links = new Map<string, RelayLink>();
  private readonly policies = new Map<string, CompiledPolicy | null>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    public self: NodeInfo,
    private readonly channels: PresenceChannel[],
    private readonly registry: EndpointRegistry,
    private readonly profile: PresenceProfile,
    private readonly secret: string,
    private readonly log: Logger,
  ) {
    this.table = new PresenceTable(self.nodeId, profile, {
      upsert: (node, rec) => this.addRemote(node, rec),
      remove: (_node, id) => this.registry.remove(id),
      wantSnapshot: (origin) => {
        for (const c of this.channels) c.requestSnapshot(origin);
      },
      snapshotApplied: (node, endpoints, via) => this.log.debug('peer snapshot applied', { peer: node.nodeId, endpoints, via }),
      nodeState: (node, state) => {
        const fields = { peer: node.nodeId, peerRegion: node.region };
        if (state === 'dead') {
          this.log.warn('peer declared dead; its endpoints are withdrawn', fields);
          this.links.get(node.nodeId)?.close();
          this.links.delete(node.nodeId);
        } else if (state === 'suspect') this.log.warn('peer suspected (silent)', fields);
        else this.log.info('peer alive again', fields);
      },
    });
  }

  get region(): string {
    return this.self.region;
  }

  rttTo(nodeId: string): number | undefined {
    return this.table.node(nodeId)?.rttMs;
  }

  /** Per remote node: what we hold of it and how fresh it is (metrics). */
  peerStats(): Array<{ nodeId: string; region: string; endpoints: number; lastHeardMs: number; rttMs: number | undefined; suspected: boolean }> {
    return this.table.allNodes().map((n) => ({ nodeId: n.info.nodeId, region: n.info.region, endpoints: n.endpoints.size, lastHeardMs: n.lastHeard, rttMs: n.rttMs, suspected: n.suspected }));
  }

  knownNodes(): NodeInfo[] {
    return this.table.allNodes().map((n) => n.info);
  }

  snapshotSeq(): number {
    return this.seq;
  }

  snapshot(): Snapshot {
    return { origin: this.self, seq: this.seq, endpoints: [...this.local.values()] };
  }

  /** Called when a local endpoint lost a pool-conflict race: take it offline and tell its agent. */
  onLocalLost: ((loser: Endpoint, winner: Endpoint) => void) | null = null;

  /** The vaults of an account, for the policies of remote agent endpoints run here (`secrets.get`). */
  secretsOf: (account: string) => PolicySecrets | undefined = () => undefined;

  /** Called when a channel learns of a node (hello, Redis discovery): the mesh dials it. */
  onNodeSeen: ((node: NodeInfo) => void) | null = null;

  async start(): Promise<void> {
    const t = this.table;
    const sink: PresenceSink = {
      onSnapshot: (s, via) => t.onSnapshot(s, via),
      onDelta: (d, via) => t.onDelta(d, via),
      onHeartbeat: (h, via) => t.onHeartbeat(h, via),
      onNodeSeen: (n, via) => {
        t.onNodeSeen(n, via);
        if (n.nodeId !== this.self.nodeId) this.onNodeSeen?.(n);
      },
    };
    await Promise.all(this.channels.map((c) => c.start(sink, this)));
    this.timer = setInterval(() => this.tick(), this.profile.heartbeatMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.channels.map((c) => c.stop().catch(() => undefined)));
    for (const l of this.links.values()) l.close();
  }

  /** A local agent endpoint came online: publish it. */
  localUpsert(ep: Endpoint, trafficPolicy: string): void {
    const rec: EndpointRecord = {
      id: ep.id,
      account: ep.account,
      url: ep.url.url,
      poolingEnabled: ep.poolingEnabled,
      trafficPolicy,
      upstreamUrl: ep.upstreamUrl,
      description: ep.description,
      metadata: ep.metadata,
      createdAtMs: ep.createdAt.getTime(),
    };
    this.local.set(ep.id, rec);
    this.publish({ origin: this.self, seq: ++this.seq, upserts: [rec], removes: [] });
  }

  /** A local agent endpoint went offline: publish its removal. */
  localRemove(id: string): void {
    if (!this.local.delete(id)) return;
    this.publish({ origin: this.self, seq: ++this.seq, upserts: [], removes: [id] });
  }

  private publish(d: Delta): void {
    for (const c of this.channels) c.publishDelta(d);
  }

  private tick(): void {
    const h = { origin: this.self, seq: this.seq, sentAtMs: Date.now(), echoMs: 0 };
    for (const c of this.channels) c.publishHeartbeat(h);
    this.table.sweep();
  }

  private link(node: NodeInfo): RelayLink {
    let l = this.links.get(node.nodeId);
    if (!l) {
      l = new RelayLink(node.nodeId, node.relayAddr, this.secret);
      this.links.set(node.nodeId, l);
    } else {
      l.setAddress(node.relayAddr);
    }
    return l;
  }

  private compiled(text: string, scheme: EndpointUrl['scheme'], binding: 'public' | 'internal'): CompiledPolicy | null | undefined {
    if (!text.trim()) return null;
    const key = `${scheme}|${binding}|${text}`;
    if (this.policies.has(key)) return this.policies.get(key);
    const r = compilePolicy(text, { endpointType: 'agent', protocol: scheme, binding });
    const p = r.ok ? r.policy : undefined;
    if (!r.ok) this.log.warn('remote endpoint policy does not compile here; endpoint skipped', { issues: r.issues.slice(0, 3) });
    if (p) this.policies.set(key, p);
    return p;
  }

  private addRemote(node: NodeInfo, rec: EndpointRecord): void {
    try {
      const url = parseEndpointUrl(rec.url);
      const policy = this.compiled(rec.trafficPolicy, url.scheme, url.binding);
      if (policy === undefined) return;
      this.registry.remove(rec.id);
      const ep: Endpoint = Object.freeze({
        id: rec.id,
        account: rec.account,
        url,
        type: 'agent' as const,
        poolingEnabled: rec.poolingEnabled,
        policy,
        view: policyView(rec.id, url, 'agent', rec.poolingEnabled, this.secretsOf(rec.account)),
        description: rec.description,
        metadata: rec.metadata,
        upstreamUrl: rec.upstreamUrl,
        region: node.region,
        nodeId: node.nodeId,
        createdAt: new Date(rec.createdAtMs),
        target: this.link(node),
      });
      const rivals = this.registry.conflicts(ep);
      if (rivals.length) {
        // A race between regions: both accepted the URL before hearing of the other. Every edge
        // keeps the earliest (created_at, id) and drops the rest, so all converge on one winner.
        if (rivals.some((r) => !wins(ep, r))) {
          this.log.info('pool conflict: remote endpoint loses to an earlier one', { endpoint: ep.id, url: rec.url, peer: node.nodeId });
          return;
        }
        for (const r of rivals) {
          this.log.warn('pool conflict: endpoint loses to an earlier one registered elsewhere', { endpoint: r.id, winner: ep.id, url: rec.url });
          if (r.nodeId === this.self.nodeId) this.onLocalLost?.(r, ep);
          else this.registry.remove(r.id);
        }
      }
      this.registry.add(ep);
    } catch (e) {
      if (!isMeshgateError(e)) throw e;
      this.log.warn('remote endpoint not added', { peer: node.nodeId, endpoint: rec.id, url: rec.url, code: e.code, detail: e.detail });
    }
  }
}

/** Deterministic race winner: the earlier creation time, then the smaller id. */
function wins(a: Endpoint, b: Endpoint): boolean {
  const ta = a.createdAt.getTime();
  const tb = b.createdAt.getTime();
  return ta !== tb ? ta < tb : a.id < b.id;
}
