/**
 * Replication of the admin store over the peer mesh (embedded store mode).
 *
 * - Push: every local write is sent at once to every edge this node knows (fire and forget; a
 *   peer that misses it catches up by anti-entropy), so a change reaches the cluster in
 *   milliseconds.
 * - Pull (anti-entropy): when a peer is first seen, and then every `intervalMs` with one peer at
 *   a time in turn, this node sends the digest and versions of its store; the peer answers with
 *   every record this node lacks or holds in an older version; the peer takes what it lacks on
 *   its own rounds. A restarted edge (or one that was partitioned) so converges within one
 *   round after it sees its first peer.
 * Merging is last-write-wins by version (config-store.ts), so duplicates and any delivery order
 * give the same result everywhere. Calls carry the cluster secret like the presence mesh.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/log.js';
import { ConfigSyncServiceClient, ConfigSyncServiceService, type ConfigBatch, type ConfigRecord, type ConfigSyncServiceServer } from '../../gen/peer.js';
import { PEER_CLIENT_OPTIONS, type GrpcMesh } from '../../presence/mesh.js';
import type { ConfigStore, Replicator } from './config-store.js';
import { isRecordKind, type StoredRecord } from './record.js';

const CALL_TIMEOUT_MS = 5_000;

export interface SyncPeer {
  nodeId: string;
  peerAddr: string;
}

export class MeshSync implements Replicator {
  readonly name = 'mesh';
  private readonly clients = new Map<string, ConfigSyncServiceClient>();
  private timer: NodeJS.Timeout | null = null;
  private turn = 0;
  private stopped = false;

  constructor(
    private readonly store: ConfigStore,
    private readonly mesh: GrpcMesh,
    private readonly peers: () => SyncPeer[],
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    const impl: ConfigSyncServiceServer = {
      push: (call, cb) => {
        const caller = mesh.authenticate(call.metadata);
        if (!caller) return cb(unauthenticated());
        const applied = this.store.applyRemote(this.decode(call.request, caller));
        cb(null, { applied });
      },
      pull: (call, cb) => {
        const caller = mesh.authenticate(call.metadata);
        if (!caller) return cb(unauthenticated());
        const same = call.request.digest.length > 0 && Buffer.compare(Buffer.from(call.request.digest), this.store.digest()) === 0;
        const records = same ? [] : this.store.newerThan(call.request.versions);
        cb(null, { origin: this.store.node, records: records.map(encodeRecord) });
      },
    };
    mesh.addService(ConfigSyncServiceService, impl);
  }

  start(): void {
    this.timer = setInterval(() => {
      const peers = this.peers();
      if (peers.length) void this.pullFrom(peers[this.turn++ % peers.length]);
    }, this.intervalMs);
    this.timer.unref();
  }

  async commit(rec: StoredRecord): Promise<void> {
    const batch: ConfigBatch = { origin: this.store.node, records: [encodeRecord(rec)] };
    for (const p of this.peers()) {
      this.client(p.peerAddr).push(batch, this.mesh.callMetadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => {
        if (err) this.log.debug('config push failed; anti-entropy will retry', { peer: p.nodeId, err: err.details });
      });
    }
  }

  /** A peer came into view: catch up with it now. */
  onPeerSeen(p: SyncPeer): void {
    void this.pullFrom(p);
  }

  /** One anti-entropy round with `p`: take what it has newer, give what it lacks. */
  async pullFrom(p: SyncPeer): Promise<void> {
    if (this.stopped || !p.peerAddr) return;
    const client = this.client(p.peerAddr);
    const req = { origin: this.store.node, digest: this.store.digest(), versions: this.store.versions() };
    try {
      const batch = await new Promise<ConfigBatch>((resolve, reject) =>
        client.pull(req, this.mesh.callMetadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => (err ? reject(err) : resolve(res))),
      );
      const applied = this.store.applyRemote(this.decode(batch, p.nodeId));
      if (applied) this.log.info('config caught up from peer', { peer: p.nodeId, applied });
    } catch (e) {
      this.log.debug('config pull failed', { peer: p.nodeId, err: (e as grpc.ServiceError).details ?? (e as Error).message });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(addr: string): ConfigSyncServiceClient {
    let c = this.clients.get(addr);
    if (!c) {
      c = new ConfigSyncServiceClient(addr, grpc.credentials.createInsecure(), PEER_CLIENT_OPTIONS);
      this.clients.set(addr, c);
    }
    return c;
  }

  /** Wire records → stored records; malformed ones are dropped and logged. */
  private decode(batch: ConfigBatch, from: string): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (const r of batch.records) {
      const rec = decodeRecord(r);
      if (rec) out.push(rec);
      else this.log.warn('config record refused: malformed', { peer: from, kind: r.kind, id: r.id });
    }
    return out;
  }
}

function unauthenticated(): grpc.ServiceError {
  return Object.assign(new Error('bad or missing cluster secret'), { code: grpc.status.UNAUTHENTICATED, details: 'bad or missing cluster secret', metadata: new grpc.Metadata() });
}

export function encodeRecord(r: StoredRecord): ConfigRecord {
  return { kind: r.kind, id: r.id, account: r.account, versionTs: r.version.ts, versionNode: r.version.node, deleted: r.deleted, dataJson: JSON.stringify(r.data) };
}

export function decodeRecord(r: ConfigRecord): StoredRecord | undefined {
  if (!isRecordKind(r.kind) || !r.id || !r.versionNode || !(r.versionTs > 0)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(r.dataJson || '{}');
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  return Object.freeze({ kind: r.kind, id: r.id, account: r.account, version: Object.freeze({ ts: r.versionTs, node: r.versionNode }), deleted: r.deleted, data: Object.freeze(data as Record<string, unknown>) });
}

