/**
 * The gRPC presence mesh: a full mesh of bidi streams between edge nodes.
 *
 * Every node dials every peer it knows (static seeds, addresses learned from hellos and from
 * Redis discovery) and, on its outbound stream, sends its Hello, a full Snapshot, then Deltas
 * and Heartbeats. On the other direction of the same stream the peer answers Heartbeats (echoing
 * `sent_at_ms`, for RTT) and sends a Hello when it wants our snapshot again. So each pair has two
 * streams, one per direction of presence; a dropped stream is redialled with capped backoff and
 * starts again with a snapshot, and the full snapshot is re-sent periodically (anti-entropy).
 *
 * Authentication: metadata `authorization: Bearer <cluster secret>` (compared in constant time)
 * and `meshgate-node`; a caller without the secret is refused with UNAUTHENTICATED and logged.
 * Malformed or inconsistent messages (no origin, an origin that is not the caller) are dropped
 * and logged; the stream and the node keep going.
 */
import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual, createHash } from 'node:crypto';
import { PeerMessage, PeerServiceClient, PeerServiceService, type Delta, type Heartbeat, type NodeInfo, type PeerServiceServer } from '../gen/peer.js';
import type { Logger } from '../core/log.js';
import type { LocalState, PresenceChannel, PresenceSink } from './channel.js';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;
/** Largest presence message accepted (a snapshot of ~10k endpoints fits). */
const MAX_MESSAGE_BYTES = 64 << 20;

/** Channel options of every client one edge opens to another's peer listener (mesh, config sync, inspector). */
export const PEER_CLIENT_OPTIONS = Object.freeze({
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': BACKOFF_MIN_MS,
  'grpc.max_reconnect_backoff_ms': BACKOFF_MAX_MS,
});

export interface MeshOptions {
  /** host:port to listen on for peers. */
  listen: { host: string; port: number };
  /** Static seed addresses of other edges. */
  seeds: readonly string[];
  /** Shared cluster secret. */
  secret: string;
  antiEntropyMs: number;
  log: Logger;
}

interface Outbound {
  addr: string;
  client: PeerServiceClient;
  call: grpc.ClientDuplexStream<PeerMessage, PeerMessage> | null;
  attempt: number;
  timer: NodeJS.Timeout | null;
  /** Node id of the peer at this address, once it has answered. */
  peer?: string;
}

export class GrpcMesh implements PresenceChannel {
  readonly name = 'grpc' as const;
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
  private readonly outbound = new Map<string, Outbound>();
  /** Inbound streams by the caller's node id: where we ask that node for its snapshot. */
  private readonly inbound = new Map<string, grpc.ServerDuplexStream<PeerMessage, PeerMessage>>();
  private sink!: PresenceSink;
  private local!: LocalState;
  private stopped = false;
  private antiEntropy: NodeJS.Timeout | null = null;
  private readonly secretHash: Buffer;
  /** Address we listen on, once bound. */
  address = '';

  constructor(private readonly opts: MeshOptions) {
    this.secretHash = createHash('sha256').update(opts.secret).digest();
  }

  /** Binds the listener; resolves with the bound `host:port`. Call before `start`. */
  async listen(): Promise<string> {
    const impl: PeerServiceServer = { presence: (call) => this.onInbound(call) };
    // Undecodable frames become an empty message (refused and logged in onPresence) instead of
    // an error grpc-js would swallow.
    const service = {
      presence: {
        ...PeerServiceService.presence,
        requestDeserialize: (b: Buffer): PeerMessage => {
          try {
            return PeerMessage.decode(b);
          } catch (e) {
            this.opts.log.warn('peer message refused: undecodable', { bytes: b.length, reason: (e as Error).message });
            return { msg: undefined };
          }
        },
      },
    };
    this.server.addService(service, impl);
    const { host, port } = this.opts.listen;
    const bound = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.address = `${host.includes(':') ? `[${host}]` : host}:${bound}`;
    return this.address;
  }

  /**
   * Adds another peer-to-peer service (config replication) to the mesh's gRPC server. Call
   * before `listen`. Its handlers authenticate callers with `authenticate`.
   */
  addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, impl);
  }

  /** The calling node's id when the metadata carries the cluster secret and a node id; else undefined. */
  authenticate(md: grpc.Metadata): string | undefined {
    const auth = String(md.get('authorization')[0] ?? '');
    const caller = String(md.get('meshgate-node')[0] ?? '');
    const given = createHash('sha256').update(auth.startsWith('Bearer ') ? auth.slice(7) : '').digest();
    return timingSafeEqual(given, this.secretHash) && caller ? caller : undefined;
  }

  /** Metadata that authenticates this node to its peers' services. */
  callMetadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.opts.secret}`);
    md.set('meshgate-node', this.local.self.nodeId);
    return md;
  }

  async start(sink: PresenceSink, local: LocalState): Promise<void> {
    this.sink = sink;
    this.local = local;
    for (const s of this.opts.seeds) this.dial(s);
    this.antiEntropy = setInterval(() => this.broadcast({ msg: { $case: 'snapshot', value: this.local.snapshot() } }), this.opts.antiEntropyMs);
    this.antiEntropy.unref();
  }

  /** Dials a peer address if not already connected (addresses learned from hellos or Redis). */
  dial(addr: string): void {
    if (this.stopped || !addr || addr === this.address || addr === this.local?.self.peerAddr || this.outbound.has(addr)) return;
    const client = new PeerServiceClient(addr, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      ...PEER_CLIENT_OPTIONS,
    });
    const o: Outbound = { addr, client, call: null, attempt: 0, timer: null };
    this.outbound.set(addr, o);
    this.openCall(o);
  }

  publishDelta(d: Delta): void {
    this.broadcast({ msg: { $case: 'delta', value: d } });
  }

  publishHeartbeat(h: Heartbeat): void {
    for (const o of this.outbound.values()) {
      if (o.call) write(o.call, { msg: { $case: 'heartbeat', value: { ...h, echoMs: 0 } } });
    }
  }

  requestSnapshot(origin: string): void {
    const call = this.inbound.get(origin);
    if (call) write(call, { msg: { $case: 'hello', value: this.local.self } });
  }

  /** Peers currently connected outbound (node ids), for status and tests. */
  connectedPeers(): string[] {
    return [...this.outbound.values()].filter((o) => o.call && o.peer).map((o) => o.peer!);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.antiEntropy) clearInterval(this.antiEntropy);
    for (const o of this.outbound.values()) {
      if (o.timer) clearTimeout(o.timer);
      o.call?.end();
      o.client.close();
    }
    for (const c of this.inbound.values()) c.end();
    await new Promise<void>((r) => this.server.tryShutdown(() => r()));
  }

  private broadcast(m: PeerMessage): void {
    for (const o of this.outbound.values()) if (o.call) write(o.call, m);
  }

  private openCall(o: Outbound): void {
    if (this.stopped) return;
    const call = o.client.presence(this.callMetadata());
    o.call = call;
    write(call, { msg: { $case: 'hello', value: this.local.self } });
    write(call, { msg: { $case: 'snapshot', value: this.local.snapshot() } });
    // Introduce the other nodes we know, so a cluster seeded through one node finds everyone.
    for (const n of this.local.knownNodes?.() ?? []) write(call, { msg: { $case: 'hello', value: n } });
    call.on('data', (m: PeerMessage) => {
      o.attempt = 0;
      const msg = m.msg;
      if (!msg) return;
      if (msg.$case === 'hello') {
        // The peer wants our state again (it lost or forgot it).
        o.peer = msg.value.nodeId;
        write(call, { msg: { $case: 'snapshot', value: this.local.snapshot() } });
      } else if (msg.$case === 'heartbeat') {
        o.peer = msg.value.origin?.nodeId;
        this.sink.onHeartbeat(msg.value, 'grpc');
      }
    });
    const retry = (why: string) => {
      if (o.call !== call) return;
      o.call = null;
      if (this.stopped) return;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** o.attempt++);
      this.opts.log.debug('peer stream down, redialling', { peer: o.addr, why, delayMs: delay });
      o.timer = setTimeout(() => this.openCall(o), delay);
      o.timer.unref();
    };
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code === grpc.status.UNAUTHENTICATED) this.opts.log.error('peer refused our cluster secret', { peer: o.addr, details: e.details });
      retry(e.details ?? e.message);
    });
    call.on('end', () => retry('stream ended'));
  }

  private onInbound(call: grpc.ServerDuplexStream<PeerMessage, PeerMessage>): void {
    const caller = this.authenticate(call.metadata);
    if (!caller) {
      this.opts.log.warn('peer refused: bad or missing cluster secret', { peer: call.getPeer(), node: String(call.metadata.get('meshgate-node')[0] ?? '') || undefined });
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'bad or missing cluster secret (authorization: Bearer <cluster_secret>) or meshgate-node' });
      return;
    }
    const prev = this.inbound.get(caller);
    this.inbound.set(caller, call);
    if (prev && prev !== call) prev.end();
    call.on('data', (m: PeerMessage) => this.onPresence(call, caller, m));
    call.on('error', () => {});
    const done = () => {
      if (this.inbound.get(caller) === call) this.inbound.delete(caller);
    };
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('cancelled', done);
  }

  private onPresence(call: grpc.ServerDuplexStream<PeerMessage, PeerMessage>, caller: string, m: PeerMessage): void {
    const msg = m.msg;
    if (!msg) return this.reject(caller, 'empty message');
    if (msg.$case === 'hello') {
      // The caller's own hello, or an introduction of another node it knows.
      if (!msg.value.nodeId || !msg.value.peerAddr) return this.reject(caller, 'hello without node_id or peer_addr');
      this.sink.onNodeSeen?.(msg.value, 'grpc');
      this.dial(msg.value.peerAddr);
      return;
    }
    const origin = msg.value.origin;
    if (!origin || origin.nodeId !== caller) return this.reject(caller, `message origin '${origin?.nodeId ?? ''}' is not the caller '${caller}'`);
    switch (msg.$case) {
      case 'snapshot':
        this.sink.onSnapshot(msg.value, 'grpc');
        break;
      case 'delta':
        this.sink.onDelta(msg.value, 'grpc');
        break;
      case 'heartbeat':
        this.sink.onHeartbeat(msg.value, 'grpc');
        write(call, { msg: { $case: 'heartbeat', value: { origin: this.local.self, seq: this.local.snapshotSeq(), sentAtMs: Date.now(), echoMs: msg.value.sentAtMs } } });
        break;
    }
  }

  private reject(caller: string, why: string): void {
    this.opts.log.warn('peer message refused', { node: caller, reason: why });
  }
}

function write(call: { write(m: PeerMessage): boolean; writable?: boolean; destroyed?: boolean }, m: PeerMessage): void {
  try {
    if (!call.destroyed) call.write(m);
  } catch {
    // a stream closing under us; the close handler redials
  }
}

export type { NodeInfo };
