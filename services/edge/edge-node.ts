/**
 * Composition root of an edge node: config → registry (+ cloud endpoints) → tunnel listener
 * (agents) → public listeners (http/https) → one `ready` line. `stop()` drains: listeners stop
 * accepting, agents are told to drain, in-flight requests finish (bounded).
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import { MeshgateError, isMeshgateError, type Issue } from '../core/errors.js';
import { parseEndpointUrl } from '../core/endpoint-url.js';
import { formatAddr } from '../core/listen.js';
import { rootLogger, type Logger } from '../core/log.js';
import { compilePolicy } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { EdgeMessage, RegisterEndpoint } from '../gen/tunnel.js';
import type { EdgeConfig } from './config.js';
import { policyView, type Endpoint } from './endpoints/endpoint.js';
import { EndpointRegistry } from './endpoints/registry.js';
import { Pipeline } from './forward/pipeline.js';
import { createHttpListener, createHttpsListener, listen } from './ingress/public-listeners.js';
import { AgentSession } from './tunnel/agent-session.js';
import { TunnelServer } from './tunnel/tunnel-server.js';
import { devCertificate } from './dev-cert.js';
import { ClusterPresence } from './cluster-presence.js';
import { RelayLink } from './relay/relay-link.js';
import { RelayServer } from './relay/relay-server.js';
import { GrpcMesh } from '../presence/mesh.js';
import { RedisChannel } from '../presence/redis-channel.js';
import { GlobalRateCounter } from './ratelimit/global-rate-counter.js';
import { setGlobalRateCounter } from '../policy/index.js';
import { PROFILES } from '../presence/profiles.js';
import type { PresenceChannel } from '../presence/channel.js';

export interface EdgeListeners {
  http?: string;
  https?: string;
  tunnel: string;
  peer?: string;
  relay?: string;
}

export function newEndpointId(): string {
  return 'ep_' + randomBytes(8).toString('hex');
}

export class EdgeNode {
  readonly registry = new EndpointRegistry();
  readonly log: Logger;
  private readonly pipeline: Pipeline;
  private readonly tunnel: TunnelServer;
  private readonly tokens = new Map<string, string>();
  private presence?: ClusterPresence;
  private rateCounter?: GlobalRateCounter;
  private mesh?: GrpcMesh;
  private relay?: RelayServer;
  private httpServer?: http.Server;
  private httpsServer?: http2.Http2SecureServer;
  listeners?: EdgeListeners;

  constructor(readonly config: EdgeConfig) {
    this.log = rootLogger.child({ component: 'edge', node: config.nodeId, region: config.region });
    for (const a of config.accounts) for (const t of a.authtokens) this.tokens.set(t, a.name);
    const locality = { region: config.region, rttTo: (id: string) => this.presence?.rttTo(id) };
    this.pipeline = new Pipeline(
      this.registry,
      (ep) => (ep.target instanceof AgentSession || ep.target instanceof RelayLink ? ep.target : undefined),
      this.log.child({ component: 'pipeline' }),
      locality,
    );
    this.tunnel = new TunnelServer({
      nodeId: config.nodeId,
      region: config.region,
      authenticate: (t) => this.tokens.get(t),
      log: this.log.child({ component: 'tunnel' }),
      hooks: {
        register: (s, m) => this.registerAgentEndpoint(s, m),
        unregister: (s, id) => {
          if (s.endpointIds.delete(id)) this.withdraw(id);
        },
        closed: (s) => {
          for (const id of s.endpointIds) this.withdraw(id);
          s.endpointIds.clear();
        },
      },
    });
    this.addCloudEndpoints();
  }

  /** Takes a local agent endpoint offline here and on every other edge. */
  private withdraw(id: string): void {
    this.registry.remove(id);
    this.presence?.localRemove(id);
  }

  /** Compiles and registers the cloud endpoints of the config; throws MG_CONFIG_INVALID listing every problem. */
  private addCloudEndpoints(): void {
    const issues: Issue[] = [];
    for (const ce of this.config.cloudEndpoints) {
      try {
        const url = parseEndpointUrl(ce.url, `${ce.path}.url`);
        const res = compilePolicy(ce.trafficPolicy, { endpointType: 'cloud', protocol: url.scheme, binding: url.binding });
        if (!res.ok) {
          for (const i of res.issues) issues.push({ ...i, path: `${ce.path}.traffic_policy: ${i.path}` });
          continue;
        }
        // The same id on every edge with the same config: global rate-limit buckets and logs agree.
        const id = 'ep_' + createHash('sha256').update(`${ce.account}\0${url.url}\0${ce.path}`).digest('hex').slice(0, 16);
        this.registry.add(this.makeEndpoint({ id, account: ce.account, type: 'cloud', url, poolingEnabled: ce.poolingEnabled, policy: res.policy, description: ce.description, metadata: ce.metadata }));
      } catch (e) {
        if (!isMeshgateError(e)) throw e;
        issues.push({ path: ce.path, message: `${e.message} [${e.code}]` });
      }
    }
    if (issues.length) throw new MeshgateError('MG_CONFIG_INVALID', { detail: 'cloud_endpoints are invalid', issues });
  }

  private makeEndpoint(p: {
    id?: string;
    account: string;
    type: 'agent' | 'cloud';
    url: ReturnType<typeof parseEndpointUrl>;
    poolingEnabled: boolean;
    policy: CompiledPolicy | null;
    description: string;
    metadata: string;
    upstreamUrl?: string;
    target?: AgentSession;
  }): Endpoint {
    const id = p.id ?? newEndpointId();
    return Object.freeze({
      id,
      account: p.account,
      url: p.url,
      type: p.type,
      poolingEnabled: p.poolingEnabled,
      policy: p.policy,
      view: policyView(id, p.url, p.type, p.poolingEnabled),
      description: p.description,
      metadata: p.metadata,
      upstreamUrl: p.upstreamUrl ?? '',
      region: this.config.region,
      nodeId: this.config.nodeId,
      createdAt: new Date(),
      target: p.target ?? null,
    });
  }

  /** Handles an agent's RegisterEndpoint: validate URL and policy, check the pool, go online. */
  private registerAgentEndpoint(s: AgentSession, m: RegisterEndpoint): EdgeMessage {
    const fail = (e: MeshgateError): EdgeMessage => {
      this.log.info('endpoint refused', { session: s.id, url: m.url, code: e.code, detail: e.detail });
      return {
        msg: {
          $case: 'registerResult',
          value: {
            requestId: m.requestId,
            endpointId: '',
            url: m.url,
            error: { code: e.code, message: e.message, field: e.field ?? '', issues: e.issues.map((i) => ({ path: i.path, message: i.message, line: i.line ?? 0 })) },
          },
        },
      };
    };
    try {
      const url = parseEndpointUrl(m.url, '--url', m.binding || undefined);
      let policy: CompiledPolicy | null = null;
      if (m.trafficPolicy.trim()) {
        const res = compilePolicy(m.trafficPolicy, { endpointType: 'agent', protocol: url.scheme, binding: url.binding });
        if (!res.ok) throw new MeshgateError('MG_POLICY_INVALID', { field: 'traffic_policy', issues: res.issues });
        policy = res.policy;
      }
      const ep = this.makeEndpoint({ account: s.account, type: 'agent', url, poolingEnabled: m.poolingEnabled, policy, description: m.description, metadata: m.metadata, upstreamUrl: m.upstreamUrl, target: s });
      if (!s.open) throw new MeshgateError('MG_AGENT_UNREACHABLE', { detail: 'session closed during registration' });
      this.registry.add(ep);
      s.endpointIds.add(ep.id);
      this.presence?.localUpsert(ep, m.trafficPolicy);
      this.log.info('endpoint online', { session: s.id, endpoint: ep.id, url: url.url, pool: this.registry.poolOf(ep).length });
      return { msg: { $case: 'registerResult', value: { requestId: m.requestId, endpointId: ep.id, url: url.url, error: undefined } } };
    } catch (e) {
      if (isMeshgateError(e)) return fail(e);
      this.log.error('registration failed', { err: e as Error });
      return fail(new MeshgateError('MG_INTERNAL', { detail: (e as Error).message }));
    }
  }

  async start(): Promise<EdgeListeners> {
    const c = this.config;
    const deps = { registry: this.registry, pipeline: this.pipeline, region: c.region, log: this.log };
    const t = await this.tunnel.listen(c.listen.tunnel.host, c.listen.tunnel.port);
    const listeners: EdgeListeners = { tunnel: formatAddr(t) };
    if (c.listen.http) {
      this.httpServer = createHttpListener(deps);
      listeners.http = formatAddr(await listen(this.httpServer, c.listen.http.host, c.listen.http.port));
    }
    if (c.listen.https) {
      const tls = c.tls ?? (await devCertificate(this.log));
      this.httpsServer = createHttpsListener(deps, tls);
      listeners.https = formatAddr(await listen(this.httpsServer, c.listen.https.host, c.listen.https.port));
    }
    if (c.listen.peer) await this.startCluster(listeners);
    this.listeners = listeners;
    this.log.ready({ listeners, endpoints: this.registry.list().map((e) => e.url.url) });
    return listeners;
  }

  /** Joins the cluster: relay listener, gRPC mesh, optional Redis channel, then presence. */
  private async startCluster(listeners: EdgeListeners): Promise<void> {
    const c = this.config;
    const peer = c.listen.peer!;
    this.relay = new RelayServer(this.registry, c.clusterSecret, this.log.child({ component: 'relay' }));
    listeners.relay = formatAddr(await this.relay.listen(c.listen.relay?.host ?? peer.host, c.listen.relay?.port ?? 0));
    const profile = PROFILES[c.presenceProfile];
    const channels: PresenceChannel[] = [];
    if (c.presenceChannels.includes('grpc')) {
      this.mesh = new GrpcMesh({ listen: peer, seeds: c.peers, secret: c.clusterSecret, antiEntropyMs: profile.antiEntropyMs, log: this.log.child({ component: 'mesh' }) });
      listeners.peer = await this.mesh.listen();
      channels.push(this.mesh);
    }
    if (c.redis) {
      this.rateCounter = new GlobalRateCounter(c.redis, this.log.child({ component: 'rate-limit' }));
      setGlobalRateCounter(this.rateCounter);
    }
    if (c.redis && c.presenceChannels.includes('redis')) {
      channels.push(new RedisChannel({ url: c.redis, log: this.log.child({ component: 'redis' }) }));
    }
    const self = { nodeId: c.nodeId, region: c.region, peerAddr: this.mesh ? (c.advertise.peer ?? listeners.peer ?? '') : '', relayAddr: c.advertise.relay ?? listeners.relay, incarnation: Date.now() };
    this.presence = new ClusterPresence(self, channels, this.registry, profile, c.clusterSecret, this.log.child({ component: 'presence' }));
    const mesh = this.mesh;
    if (mesh) this.presence.onNodeSeen = (n) => mesh.dial(n.peerAddr);
    this.presence.onLocalLost = (loser, winner) => {
      const session = loser.target instanceof AgentSession ? loser.target : undefined;
      session?.endpointIds.delete(loser.id);
      this.withdraw(loser.id);
      const message = `${loser.url.url} was registered at the same moment on edge ${winner.nodeId} (${winner.region}), which keeps it; start both with --pooling-enabled to pool them`;
      session?.send({ msg: { $case: 'revoked', value: { endpointId: loser.id, error: { code: 'MG_POOL_CONFLICT', message, field: 'pooling_enabled', issues: [] } } } });
    };
    await this.presence.start();
  }

  /** Graceful stop: no new connections, agents told to drain, in-flight requests get `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    for (const s of this.tunnel.sessions) s.drain('edge shutting down');
    const closers: Promise<void>[] = [this.tunnel.close()];
    for (const srv of [this.httpServer, this.httpsServer]) {
      if (!srv) continue;
      closers.push(new Promise((r) => srv.close(() => r())));
      (srv as http.Server).closeIdleConnections?.();
    }
    const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.all(closers), timer]);
    for (const s of this.tunnel.sessions) s.close('edge stopped');
    await this.presence?.stop();
    await this.relay?.close();
    await this.rateCounter?.close();
    (this.httpServer as http.Server | undefined)?.closeAllConnections?.();
  }
}
