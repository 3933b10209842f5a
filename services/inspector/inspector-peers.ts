/**
 * The Traffic Inspector between edges (InspectorPeerService in proto/peer.proto), on the peer
 * mesh's gRPC server and authenticated like it (cluster secret + node id).
 *
 * Each edge keeps only what it received. A List on one edge asks every other edge it knows
 * (presence, with a peer address) at once and merges; a peer that does not answer within
 * PEER_TIMEOUT_MS is reported, not waited for. Get and Replay go to every peer at once too: at
 * most one holds the id (request ids are unique per process), the others answer "not found".
 * The account was authenticated by the edge the admin client called; peers trust the scope it
 * names (they trust its cluster secret for everything else too).
 */
import * as grpc from '@grpc/grpc-js';
import { isMeshgateError, MeshgateError, type ErrorCode, ERRORS } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Capture, ListCapturesRequest, ReplayRequest, ReplayResult } from '../gen/admin.js';
import { InspectorPeerServiceClient, InspectorPeerServiceService, type InspectorPeerServiceServer, type PeerScope } from '../gen/peer.js';
import { PEER_CLIENT_OPTIONS, type GrpcMesh } from '../presence/mesh.js';
import { REPLAY_TIMEOUT_MS } from './replay.js';

/** How long a List or Get waits for a peer. */
export const PEER_TIMEOUT_MS = 3_000;

/** Whose captures: one account, or every account (undefined). */
export interface Scope {
  account: string | undefined;
}

/** What a peer runs locally; implemented by the Inspector. */
export interface LocalInspector {
  readonly nodeId: string;
  localList(scope: Scope, req: ListCapturesRequest): Capture[];
  localGet(scope: Scope, id: string): Capture | undefined;
  /** undefined when no capture with that id is held here. */
  localReplay(scope: Scope, req: ReplayRequest): Promise<ReplayResult | undefined>;
}

export interface InspectorPeer {
  nodeId: string;
  region: string;
  peerAddr: string;
}

export class InspectorPeers {
  private readonly clients = new Map<string, InspectorPeerServiceClient>();

  constructor(
    private readonly mesh: GrpcMesh,
    private readonly peers: () => InspectorPeer[],
    local: LocalInspector,
    private readonly log: Logger,
  ) {
    const impl: InspectorPeerServiceServer = {
      list: (call, cb) => {
        if (!mesh.authenticate(call.metadata)) return cb(unauthenticated());
        try {
          cb(null, { nodeId: local.nodeId, captures: local.localList(scopeOf(call.request.scope), call.request.filter ?? emptyFilter()) });
        } catch (e) {
          cb(asServiceError(e));
        }
      },
      get: (call, cb) => {
        if (!mesh.authenticate(call.metadata)) return cb(unauthenticated());
        const capture = local.localGet(scopeOf(call.request.scope), call.request.id);
        cb(null, { found: capture !== undefined, capture });
      },
      replay: (call, cb) => {
        if (!mesh.authenticate(call.metadata)) return cb(unauthenticated());
        const req = call.request.request;
        if (!req) return cb(null, { found: false, result: undefined, errorCode: '', errorField: '', errorMessage: '' });
        local.localReplay(scopeOf(call.request.scope), req).then(
          (result) => cb(null, { found: result !== undefined, result, errorCode: '', errorField: '', errorMessage: '' }),
          (e) => {
            const err = isMeshgateError(e) ? e : new MeshgateError('MG_INTERNAL', { detail: (e as Error).message });
            cb(null, { found: true, result: undefined, errorCode: err.code, errorField: err.field ?? '', errorMessage: err.message });
          },
        );
      },
    };
    mesh.addService(InspectorPeerServiceService, impl);
  }

  /** Asks every peer for its matching captures; returns them and the peers that did not answer. */
  async list(scope: Scope, filter: ListCapturesRequest): Promise<{ captures: Capture[]; unreachable: string[] }> {
    const captures: Capture[] = [];
    const unreachable: string[] = [];
    await Promise.all(
      this.peers().map(async (p) => {
        try {
          const res = await this.unary(p, (c) => c.list.bind(c), { scope: wireScope(scope), filter }, PEER_TIMEOUT_MS);
          captures.push(...res.captures);
        } catch (e) {
          unreachable.push(`${p.nodeId}@${p.region}`);
          this.log.debug('inspector: peer did not list', { peer: p.nodeId, err: (e as grpc.ServiceError).details ?? (e as Error).message });
        }
      }),
    );
    return { captures, unreachable };
  }

  /** The capture from whichever peer holds it. */
  async get(scope: Scope, id: string): Promise<Capture | undefined> {
    return firstFound(
      this.peers().map((p) =>
        this.unary(p, (c) => c.get.bind(c), { scope: wireScope(scope), id }, PEER_TIMEOUT_MS).then(
          (r) => (r.found ? r.capture : undefined),
          () => undefined,
        ),
      ),
    );
  }

  /** Replays on whichever peer holds the capture; a refusal there is thrown here. */
  async replay(scope: Scope, req: ReplayRequest): Promise<ReplayResult | undefined> {
    const reply = await firstFound(
      this.peers().map((p) =>
        this.unary(p, (c) => c.replay.bind(c), { scope: wireScope(scope), request: req }, REPLAY_TIMEOUT_MS + 1_000).then(
          (r) => (r.found ? r : undefined),
          () => undefined,
        ),
      ),
    );
    if (reply === undefined) return undefined;
    if (reply.errorCode) {
      const code = (reply.errorCode in ERRORS ? reply.errorCode : 'MG_INTERNAL') as ErrorCode;
      throw new MeshgateError(code, { field: reply.errorField || undefined, message: reply.errorMessage });
    }
    return reply.result;
  }

  async stop(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private unary<Req, Res>(p: InspectorPeer, pick: (c: InspectorPeerServiceClient) => UnaryMethod<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
    const method = pick(this.client(p.peerAddr));
    return new Promise((resolve, reject) => {
      method(req, this.mesh.callMetadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  private client(addr: string): InspectorPeerServiceClient {
    let c = this.clients.get(addr);
    if (!c) {
      c = new InspectorPeerServiceClient(addr, grpc.credentials.createInsecure(), PEER_CLIENT_OPTIONS);
      this.clients.set(addr, c);
    }
    return c;
  }
}

type UnaryMethod<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

/** The first promise to resolve with a value (not undefined), or undefined once all resolved without one. */
function firstFound<T>(ps: Array<Promise<T | undefined>>): Promise<T | undefined> {
  if (ps.length === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let left = ps.length;
    for (const p of ps) {
      void p.then((v) => {
        if (v !== undefined) resolve(v);
        else if (--left === 0) resolve(undefined);
      });
    }
  });
}

function wireScope(s: Scope): PeerScope {
  return s.account === undefined ? { account: '', allAccounts: true } : { account: s.account, allAccounts: false };
}

function scopeOf(s: PeerScope | undefined): Scope {
  // A scope-less message sees nothing: an empty account owns no capture.
  if (s === undefined) return { account: '' };
  return { account: s.allAccounts ? undefined : s.account };
}

function emptyFilter(): ListCapturesRequest {
  return { endpoint: '', pathPrefix: '', method: '', status: '', startedAfter: '', startedBefore: '', pageSize: 0, pageToken: '', localOnly: true };
}

function unauthenticated(): grpc.ServiceError {
  return Object.assign(new Error('bad or missing cluster secret'), { code: grpc.status.UNAUTHENTICATED, details: 'bad or missing cluster secret', metadata: new grpc.Metadata() });
}

function asServiceError(e: unknown): grpc.ServiceError {
  const msg = (e as Error)?.message ?? String(e);
  const code = isMeshgateError(e) && ERRORS[e.code].grpc === 'INVALID_ARGUMENT' ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL;
  return Object.assign(new Error(msg), { code, details: msg, metadata: new grpc.Metadata() });
}
