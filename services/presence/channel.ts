/**
 * A presence channel carries this node's presence to the other edge nodes and theirs to us.
 * Two implementations: the gRPC mesh (mesh.ts) and Redis pub/sub (redis-channel.ts). Either
 * alone keeps the cluster correct; the PresenceTable merges what both deliver, by version.
 */
import type { Delta, Heartbeat, NodeInfo, Snapshot } from '../gen/peer.js';

export type ChannelName = 'grpc' | 'redis';

/** Where a channel delivers what it receives. Implemented by PresenceTable. Must not throw. */
export interface PresenceSink {
  onSnapshot(s: Snapshot, via: ChannelName): void;
  onDelta(d: Delta, via: ChannelName): void;
  onHeartbeat(h: Heartbeat, via: ChannelName): void;
  /** A node announced where to reach it (Redis discovery); the mesh may dial it. */
  onNodeSeen?(node: NodeInfo, via: ChannelName): void;
}

/** What a channel can ask of the local node. */
export interface LocalState {
  /** This node. */
  readonly self: NodeInfo;
  /** A full snapshot of this node's current state. */
  snapshot(): Snapshot;
  /** The sequence number of this node's current state (cheap; no snapshot built). */
  snapshotSeq(): number;
  /** Other nodes this node knows of (introduced to newly connected peers, for discovery). */
  knownNodes?(): NodeInfo[];
}

export interface PresenceChannel {
  readonly name: ChannelName;
  /** Starts receiving into `sink`; resolves once the channel is usable (or has started retrying in the background). */
  start(sink: PresenceSink, local: LocalState): Promise<void>;
  /** Sends one change of this node's state. Never throws; a channel that is down drops it (the snapshot heals later). */
  publishDelta(d: Delta): void;
  /** Sends a heartbeat. Never throws. */
  publishHeartbeat(h: Heartbeat): void;
  /**
   * The table is missing state for `origin` (a gap in sequences, or a node it had forgotten):
   * fetch or ask for that node's snapshot and deliver it to the sink.
   */
  requestSnapshot(origin: string): void;
  stop(): Promise<void>;
}
