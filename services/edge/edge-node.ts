/**
 * Composition root of an edge node: config → registry (+ cloud endpoints) → tunnel listener
 * (agents) → public listeners (http/https) → one `ready` line. `stop()` drains: listeners stop
 * accepting, agents are told to drain, in-flight requests finish (bounded).
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { MeshgateError, isMeshgateError } from '../core/errors.js';
import { parseEndpointUrl } from '../core/endpoint-url.js';
import { formatAddr } from '../core/listen.js';
import { rootLogger, type Logger } from '../core/log.js';
import { compilePolicy } from '../policy/index.js';
import type { CompiledPolicy, PolicySecrets } from '../policy/types.js';
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
import { L4Ingress } from './l4/l4-ingress.js';
import { GrpcMesh } from '../presence/mesh.js';
import type { GlobalRateCounter } from './ratelimit/global-rate-counter.js';
import { deriveSessionKey, setGlobalRateCounter } from '../policy/index.js';
import { PROFILES } from '../presence/profiles.js';
import type { PresenceChannel } from '../presence/channel.js';
import { AdminServer } from '../admin/admin-server.js';
import { ConfigStore } from './store/config-store.js';
import { DataDirFile } from './store/data-dir.js';
import { LiveConfig, type CloudEndpointSpec } from './store/live-config.js';
import { MeshSync } from './store/mesh-sync.js';
// The Redis modules load only when redis: is set: ioredis defines `class extends String`, which
// makes String.prototype.charCodeAt ~6x slower in the whole process (V8 in Node 20).
import type { RedisStore } from './store/redis-store.js';
import { checkConfigEndpoints, seedStore } from './store/seed.js';
import { RequestObservers } from './observe/request-observers.js';
import { AccessLog } from './observe/access-log.js';
import { startEdgeTracer, type EdgeTracer } from '../telemetry/tracing.js';
import { EdgeMetrics } from '../console/edge-metrics.js';
import { ConsoleServer } from '../console/console-server.js';
import { setRateDecisionObserver } from '../policy/index.js';
import { Inspector } from '../inspector/inspector.js';
import { inspectorService } from '../admin/inspector-service.js';
import { InspectorServiceService } from '../gen/admin.js';
import { inspectorRoutes } from '../console/inspector-routes.js';

export const MESHGATE_VERSION = '0.1.0';
/** Anti-entropy period of the embedded store between edges (a pushed change arrives at once). */
const STORE_SYNC_MS = 5_000;

export interface EdgeListeners {
  http?: string;
  https?: string;
  tunnel: string;
  peer?: string;
  relay?: string;
  admin?: string;
  /** listen.tls (tls:// endpoints). */
  tls?: string;
  /** listen.tcp_host with the bound listen.tcp_ports, e.g. `127.0.0.1:20000-20100`. */
  tcp?: string;
  /** listen.console (/metrics, /healthz, /readyz, inspector). */
  console?: string;
}

export function newEndpointId(): string {
  return 'ep_' + randomBytes(8).toString('hex');
}

export class EdgeNode {
  readonly registry = new EndpointRegistry();
  readonly log: Logger;
  private readonly pipeline: Pipeline;
  private readonly tunnel: TunnelServer;
  /** The admin store: accounts, cloud endpoints, domains, authtokens, API keys. */
  readonly store: ConfigStore;
  readonly live: LiveConfig;
  private admin?: AdminServer;
  private meshSync?: MeshSync;
  private redisStore?: RedisStore;
  private draining = false;
  /** Request observers (metrics, access events, the inspector); add before start(). */
  readonly observers: RequestObservers;
  metrics?: EdgeMetrics;
  /** The console listener's routes (the inspector adds its page and API); set when listen.console is. */
  console?: ConsoleServer;
  /** The Traffic Inspector (inspector.enabled, default with listen.admin or listen.console). */
  inspector?: Inspector;
  private accessLog?: AccessLog;
  private presence?: ClusterPresence;
  private rateCounter?: GlobalRateCounter;
  private mesh?: GrpcMesh;
  private relay?: RelayServer;
  /** Tracing (config.tracing); undefined = off. */
  private tracer?: EdgeTracer;
  private httpServer?: http.Server;
  private httpsServer?: http2.Http2SecureServer;
  /** tcp:// and tls:// endpoints (l4/). */
  private readonly l4: L4Ingress;
  private edgeCert?: Promise<{ cert: string; key: string }>;
  listeners?: EdgeListeners;

  constructor(readonly config: EdgeConfig) {
    this.log = rootLogger.child({ component: 'edge', node: config.nodeId, region: config.region });
    this.observers = new RequestObservers(this.log.child({ component: 'observe' }));
    // A bad cloud endpoint in edge.yaml stops the edge before anything starts.
    checkConfigEndpoints(config);
    this.store = new ConfigStore(config.nodeId, config.dataDir ? new DataDirFile(config.dataDir) : undefined, this.log.child({ component: 'store' }));
    this.live = new LiveConfig(this.store, this.registry, (spec) => this.cloudEndpoint(spec), this.log.child({ component: 'store' }));
    this.live.onAuthtokenRevoked = (credentialId) => {
      for (const s of this.tunnel.sessions) {
        if (s.credentialId !== credentialId) continue;
        this.log.info('authtoken revoked; disconnecting its agent', { session: s.id, account: s.account });
        s.send({ msg: { $case: 'fatal', value: { code: 'MG_AUTHTOKEN_INVALID', message: 'the authtoken of this agent was revoked', field: '--authtoken', issues: [] } } });
        s.close('authtoken revoked');
      }
    };
    const locality = { region: config.region, rttTo: (id: string) => this.presence?.rttTo(id) };
    this.pipeline = new Pipeline(
      this.registry,
      (ep) => (ep.target instanceof AgentSession || ep.target instanceof RelayLink ? ep.target : undefined),
      this.log.child({ component: 'pipeline' }),
      locality,
      config.httpRequest,
      deriveSessionKey(config.clusterSecret),
    );
    this.l4 = new L4Ingress(config.listen, {
      registry: this.registry,
      region: config.region,
      locality,
      sessionOf: (ep) => (ep.target instanceof AgentSession || ep.target instanceof RelayLink ? ep.target : undefined),
      edgeCertificate: () => this.edgeCertificate(),
      tracer: () => this.tracer,
      log: this.log.child({ component: 'l4' }),
    });
    this.tunnel = new TunnelServer({
      nodeId: config.nodeId,
      region: config.region,
      authenticate: (t) => this.live.authenticateToken(t),
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
  }

  /** The certificate of the https listener and of terminate-tls without its own: tls.cert/key, else a dev certificate made once. */
  private edgeCertificate(): Promise<{ cert: string; key: string }> {
    const tls = this.config.tls;
    return (this.edgeCert ??= tls ? Promise.resolve({ cert: tls.cert, key: tls.key }) : devCertificate(this.log));
  }

  /** Takes a local agent endpoint offline here and on every other edge. */
  private withdraw(id: string): void {
    this.registry.remove(id);
    this.presence?.localRemove(id);
  }

  private cloudEndpoint(spec: CloudEndpointSpec): Endpoint {
    return this.makeEndpoint({ ...spec, type: 'cloud' });
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
    createdAt?: Date;
  }): Endpoint {
    const id = p.id ?? newEndpointId();
    return Object.freeze({
      id,
      account: p.account,
      url: p.url,
      type: p.type,
      poolingEnabled: p.poolingEnabled,
      policy: p.policy,
      view: policyView(id, p.url, p.type, p.poolingEnabled, this.secretsOf(p.account)),
      description: p.description,
      metadata: p.metadata,
      upstreamUrl: p.upstreamUrl ?? '',
      region: this.config.region,
      nodeId: this.config.nodeId,
      createdAt: p.createdAt ?? new Date(),
      target: p.target ?? null,
    });
  }

  /** The vaults edge.yaml gives an account (`secrets.get`); none for accounts made through the admin API. */
  private secretsOf(account: string): PolicySecrets | undefined {
    return this.config.accounts.find((a) => a.name === account)?.vaults;
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
      const url = parseEndpointUrl(m.url, '--url', m.binding || undefined, this.l4.urlRules);
      this.l4.check(url, '--url');
      const owner = url.binding === 'public' ? this.live.domainOwner(url.host) : undefined;
      if (owner !== undefined && owner !== s.account) {
        throw new MeshgateError('MG_DOMAIN_NOT_RESERVED', { field: '--url', detail: `'${url.host}' is reserved by another account` });
      }
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
    await this.openStore();
    this.setUpObservers();
    this.tracer = await startEdgeTracer(c.tracing, { nodeId: c.nodeId, region: c.region, version: MESHGATE_VERSION }, this.log.child({ component: 'tracing' }));
    const deps = { registry: this.registry, pipeline: this.pipeline, region: c.region, log: this.log, observers: this.observers.empty ? undefined : this.observers, tracer: this.tracer };
    const t = await this.tunnel.listen(c.listen.tunnel.host, c.listen.tunnel.port);
    const listeners: EdgeListeners = { tunnel: formatAddr(t) };
    if (c.listen.http) {
      this.httpServer = createHttpListener(deps);
      listeners.http = formatAddr(await listen(this.httpServer, c.listen.http.host, c.listen.http.port));
    }
    if (c.listen.https) {
      const tls = await this.edgeCertificate();
      this.httpsServer = createHttpsListener(deps, tls);
      listeners.https = formatAddr(await listen(this.httpsServer, c.listen.https.host, c.listen.https.port));
    }
    Object.assign(listeners, await this.l4.start());
    if (c.listen.peer) await this.startCluster(listeners);
    if (c.listen.admin) {
      this.admin = new AdminServer({
        nodeId: c.nodeId,
        region: c.region,
        version: MESHGATE_VERSION,
        store: this.store,
        live: this.live,
        registry: this.registry,
        adminApiKey: c.adminApiKey,
        peers: () => (this.presence?.knownNodes() ?? []).filter((n) => n.nodeId !== c.nodeId).map((n) => `${n.nodeId}@${n.region}`),
        draining: () => this.draining,
        log: this.log.child({ component: 'admin' }),
      });
      this.admin.addService(InspectorServiceService, inspectorService(this.admin.cx, this.inspector));
      listeners.admin = await this.admin.listen(c.listen.admin.host, c.listen.admin.port);
    }
    if (this.console && c.listen.console) {
      listeners.console = await this.console.listen(c.listen.console.host, c.listen.console.port);
      this.console.readiness = 'ready';
    }
    this.listeners = listeners;
    this.log.ready({ listeners, endpoints: this.registry.list().map((e) => e.url.url) });
    return listeners;
  }

  /**
   * Metrics and the console (listen.console), access events (access_log). Observers are fixed
   * before the listeners exist: an edge with none serves requests on the unobserved fast path.
   */
  private setUpObservers(): void {
    const c = this.config;
    if (c.listen.console) {
      const metrics = new EdgeMetrics({
        endpoints: () => this.registry.list().map((e) => ({ account: e.account, url: e.url.url, type: e.type, local: e.type === 'cloud' || e.nodeId === c.nodeId })),
        tunnelSessions: () => this.tunnel.sessions.size,
        peers: () => this.presence?.peerStats() ?? [],
        storeRecords: () => this.store.size,
      });
      this.metrics = metrics;
      this.observers.add(metrics);
      setRateDecisionObserver((id, name, limited) => metrics.rateDecision(id, name, limited));
      this.console = new ConsoleServer(() => metrics.render(), this.log.child({ component: 'console' }));
    }
    if (c.accessLog) {
      this.accessLog = new AccessLog(c.accessLog);
      this.observers.add(this.accessLog);
    }
    if (c.inspector.enabled) {
      const inspector = new Inspector({
        nodeId: c.nodeId,
        region: c.region,
        config: c.inspector,
        accounts: new Map(c.accounts.flatMap((a) => (a.inspect ? [[a.name, a.inspect] as const] : []))),
        store: this.store,
        registry: this.registry,
        serve: (pool, x) => this.pipeline.serve(pool, x),
        tracer: () => this.tracer,
        observers: this.observers,
        log: this.log.child({ component: 'inspector' }),
      });
      this.inspector = inspector;
      this.observers.add(inspector.capture);
      if (this.console) inspectorRoutes(this.console, inspector, { adminApiKey: c.adminApiKey, store: this.store, live: this.live }, this.log.child({ component: 'console' }));
    }
  }

  /**
   * The admin store: load the data dir, connect the shared store (Redis) when configured, seed
   * what edge.yaml declares, then turn the records into live state.
   */
  private async openStore(): Promise<void> {
    const c = this.config;
    await this.store.open();
    if (c.redis) {
      const { RedisStore } = await import('./store/redis-store.js');
      this.redisStore = new RedisStore(c.redis, this.store, this.log.child({ component: 'store' }));
      this.store.setReplicator(this.redisStore);
      await this.redisStore.start();
    }
    const seeded = await seedStore(this.store, c);
    this.live.start();
    this.log.debug('store open', { records: this.store.size, seeded, replicator: this.store.replicatorName });
  }

  /** Joins the cluster: relay listener, gRPC mesh, optional Redis channel, then presence. */
  private async startCluster(listeners: EdgeListeners): Promise<void> {
    const c = this.config;
    const peer = c.listen.peer!;
    this.relay = new RelayServer(this.registry, c.clusterSecret, this.log.child({ component: 'relay' }), this.tracer);
    listeners.relay = formatAddr(await this.relay.listen(c.listen.relay?.host ?? peer.host, c.listen.relay?.port ?? 0));
    const profile = PROFILES[c.presenceProfile];
    const channels: PresenceChannel[] = [];
    if (c.presenceChannels.includes('grpc')) {
      this.mesh = new GrpcMesh({ listen: peer, seeds: c.peers, secret: c.clusterSecret, antiEntropyMs: profile.antiEntropyMs, log: this.log.child({ component: 'mesh' }) });
      if (!this.redisStore) {
        const peers = () => (this.presence?.knownNodes() ?? []).filter((n) => n.nodeId !== c.nodeId && n.peerAddr).map((n) => ({ nodeId: n.nodeId, peerAddr: n.peerAddr }));
        this.meshSync = new MeshSync(this.store, this.mesh, peers, STORE_SYNC_MS, this.log.child({ component: 'store' }));
        this.store.setReplicator(this.meshSync);
      }
      this.inspector?.joinMesh(this.mesh, () => (this.presence?.knownNodes() ?? []).filter((n) => n.nodeId !== c.nodeId && n.peerAddr));
      listeners.peer = await this.mesh.listen();
      channels.push(this.mesh);
    }
    if (c.redis) {
      const { GlobalRateCounter } = await import('./ratelimit/global-rate-counter.js');
      this.rateCounter = new GlobalRateCounter(c.redis, this.log.child({ component: 'rate-limit' }));
      setGlobalRateCounter(this.rateCounter);
    }
    if (c.redis && c.presenceChannels.includes('redis')) {
      const { RedisChannel } = await import('../presence/redis-channel.js');
      channels.push(new RedisChannel({ url: c.redis, log: this.log.child({ component: 'redis' }) }));
    }
    const self = { nodeId: c.nodeId, region: c.region, peerAddr: this.mesh ? (c.advertise.peer ?? listeners.peer ?? '') : '', relayAddr: c.advertise.relay ?? listeners.relay, incarnation: Date.now() };
    this.presence = new ClusterPresence(self, channels, this.registry, profile, c.clusterSecret, this.log.child({ component: 'presence' }));
    this.presence.secretsOf = (account) => this.secretsOf(account);
    const mesh = this.mesh;
    const sync = this.meshSync;
    if (mesh) {
      this.presence.onNodeSeen = (n) => {
        mesh.dial(n.peerAddr);
        sync?.onPeerSeen({ nodeId: n.nodeId, peerAddr: n.peerAddr });
      };
    }
    this.presence.onLocalLost = (loser, winner) => {
      const session = loser.target instanceof AgentSession ? loser.target : undefined;
      session?.endpointIds.delete(loser.id);
      this.withdraw(loser.id);
      const message = `${loser.url.url} was registered at the same moment on edge ${winner.nodeId} (${winner.region}), which keeps it; start both with --pooling-enabled to pool them`;
      session?.send({ msg: { $case: 'revoked', value: { endpointId: loser.id, error: { code: 'MG_POOL_CONFLICT', message, field: 'pooling_enabled', issues: [] } } } });
    };
    await this.presence.start();
    this.meshSync?.start();
  }

  /** Graceful stop: no new connections, agents told to drain, in-flight requests get `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    this.draining = true;
    if (this.console) this.console.readiness = 'draining';
    const sessions = [...this.tunnel.sessions];
    for (const s of sessions) s.drain('edge shutting down');
    const closers: Promise<void>[] = [this.tunnel.close(), this.l4.stop(graceMs)];
    for (const srv of [this.httpServer, this.httpsServer]) {
      if (!srv) continue;
      closers.push(new Promise((r) => srv.close(() => r())));
      (srv as http.Server).closeIdleConnections?.();
    }
    const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.all(closers), timer]);
    for (const s of sessions) s.close('edge stopped', true);
    await this.presence?.stop();
    await this.relay?.close();
    await this.rateCounter?.close();
    await this.admin?.close();
    await this.meshSync?.stop();
    await this.inspector?.stop();
    await this.redisStore?.stop();
    await this.store.flush().catch((e) => this.log.error('store not saved at stop', { err: e as Error }));
    await this.pipeline.close();
    await this.console?.close();
    await this.accessLog?.close();
    await this.tracer?.shutdown();
    (this.httpServer as http.Server | undefined)?.closeAllConnections?.();
  }
}
