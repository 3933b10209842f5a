/**
 * The L4 listeners of an edge node: `listen.tls` (tls:// endpoints, routed by SNI) and every
 * port of `listen.tcp_ports` (tcp:// endpoints, routed by port), all bound at start so a
 * registration never waits for a bind. A port that cannot be bound is skipped with a warning
 * (registrations for it are refused with MG_TCP_PORT_UNAVAILABLE); the edge fails to start only
 * when none can.
 *
 * Also the registration-time checks of tcp/tls URLs on this edge (`check`): a tcp port must be
 * one of this edge's ports, and a port carries one host (tcp endpoints are routed by port alone,
 * so `tcp://a.example.com:20001` and `tcp://b.example.com:20001` cannot both be online).
 * Endpoints held by other edges (presence) are served here too when their port is one of ours:
 * a client may connect to any edge, and the connection is relayed to the edge holding the agent.
 */
import net from 'node:net';
import { MeshgateError } from '../../core/errors.js';
import type { EndpointUrl, UrlRules } from '../../core/endpoint-url.js';
import { formatAddr, listenOn } from '../../core/listen.js';
import type { Logger } from '../../core/log.js';
import type { ListenAddr } from '../config.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointRegistry, Pool } from '../endpoints/registry.js';
import type { StreamTarget } from '../forward/to-agent.js';
import type { Locality } from '../pools/select.js';
import { L4Connection, type ConnectionContext } from './l4-connection.js';
import type { EdgeTracer } from '../../telemetry/tracing.js';
import type { TcpListenConfig } from './l4-config.js';
import { TlsTerminator } from './tls-termination.js';

export interface L4Deps {
  registry: EndpointRegistry;
  region: string;
  locality: Locality;
  sessionOf(ep: Endpoint): StreamTarget | undefined;
  /** The edge's tracer when tracing is on. */
  tracer(): EdgeTracer | undefined;
  /** The edge's own certificate, for terminate-tls without server_certificate. */
  edgeCertificate(): Promise<{ cert: string; key: string }>;
  log: Logger;
}

export interface L4Listeners {
  /** `host:port` of listen.tls. */
  tls?: string;
  /** `host:ports`, e.g. `127.0.0.1:20000-20100`. */
  tcp?: string;
}

export class L4Ingress implements ConnectionContext {
  readonly registry: EndpointRegistry;
  readonly locality: Locality;
  readonly terminator: TlsTerminator;
  readonly log: Logger;
  readonly region: string;
  private readonly servers: net.Server[] = [];
  private readonly tcpPorts: ReadonlySet<number>;
  /** Ports of listen.tcp_ports that could not be bound, with why. */
  private readonly unbound = new Map<number, string>();
  /** Public tcp endpoints: port → the host of the endpoints online on it. */
  private readonly hostByPort = new Map<number, string>();
  private readonly connections = new Set<L4Connection>();
  private tlsPort: number | undefined;
  private stopping = false;

  constructor(
    private readonly listen: { tls?: ListenAddr; tcp?: TcpListenConfig },
    private readonly deps: L4Deps,
  ) {
    this.registry = deps.registry;
    this.locality = deps.locality;
    this.log = deps.log;
    this.region = deps.region;
    this.terminator = new TlsTerminator(deps.edgeCertificate);
    this.tcpPorts = new Set(listen.tcp?.ports ?? []);
    this.tlsPort = listen.tls?.port || undefined;
    deps.registry.watch((ep, change) => this.onRegistryChange(ep, change));
  }

  sessionOf(ep: Endpoint): StreamTarget | undefined {
    return this.deps.sessionOf(ep);
  }

  tracer(): EdgeTracer | undefined {
    return this.deps.tracer();
  }

  tcpPool(port: number): Pool | undefined {
    const host = this.hostByPort.get(port);
    return host === undefined ? undefined : this.registry.lookupPublic('tcp', host, port);
  }

  /** URL rules of this edge: its listen.tls port is accepted for tls:// URLs (stored as 443). */
  get urlRules(): UrlRules {
    return { tlsPort: this.tlsPort };
  }

  /**
   * Throws when this edge cannot serve a public tcp/tls endpoint at `url` (called before it is
   * registered); `field` names the URL in the error (`--url`, `cloud_endpoints[0].url`).
   */
  check(url: EndpointUrl, field: string): void {
    if (url.binding !== 'public') return;
    if (url.scheme === 'tls' && !this.listen.tls) {
      throw new MeshgateError('MG_ENDPOINT_URL_INVALID', { field, detail: `${url.url}: this edge serves no tls endpoints; set listen.tls in its edge.yaml` });
    }
    if (url.scheme !== 'tcp') return;
    if (!this.listen.tcp) {
      throw new MeshgateError('MG_TCP_PORT_UNAVAILABLE', { field, detail: `${url.url}: this edge serves no tcp endpoints; set listen.tcp_ports in its edge.yaml` });
    }
    if (!this.tcpPorts.has(url.port)) {
      throw new MeshgateError('MG_TCP_PORT_UNAVAILABLE', { field, detail: `${url.url}: port ${url.port} is not one of this edge's listen.tcp_ports (${describePorts(this.listen.tcp.ports)})` });
    }
    const why = this.unbound.get(url.port);
    if (why !== undefined) throw new MeshgateError('MG_TCP_PORT_UNAVAILABLE', { field, detail: `${url.url}: this edge could not listen on port ${url.port} (${why})` });
    const host = this.hostByPort.get(url.port);
    if (host !== undefined && host !== url.host) {
      throw new MeshgateError('MG_POOL_CONFLICT', { field, detail: `port ${url.port} is already used by tcp://${host}:${url.port}; tcp endpoints are routed by port alone` });
    }
  }

  /** Binds listen.tls and every port of listen.tcp_ports. */
  async start(): Promise<L4Listeners> {
    const out: L4Listeners = {};
    const tlsAddr = this.listen.tls;
    if (tlsAddr) {
      const a = await listenOn(this.server('tls', 0), tlsAddr.host, tlsAddr.port);
      this.tlsPort = a.port;
      out.tls = formatAddr(a);
    }
    const tcp = this.listen.tcp;
    if (tcp) {
      const bound: number[] = [];
      await Promise.all(
        tcp.ports.map(async (port) => {
          const srv = this.server('tcp', port);
          try {
            await listenOn(srv, tcp.host, port);
            bound.push(port);
          } catch (e) {
            this.servers.splice(this.servers.indexOf(srv), 1);
            this.unbound.set(port, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
          }
        }),
      );
      if (this.unbound.size) {
        const sample = [...this.unbound].slice(0, 5).map(([p, why]) => `${p}: ${why}`);
        this.log.warn('some listen.tcp_ports could not be bound; tcp endpoints cannot use them', { count: this.unbound.size, ports: sample });
      }
      if (bound.length === 0) {
        await this.stop(0);
        throw new MeshgateError('MG_CONFIG_INVALID', { field: 'listen.tcp_ports', detail: `no port of ${describePorts(tcp.ports)} could be bound on ${tcp.host} (${[...this.unbound.values()][0]})` });
      }
      out.tcp = `${formatAddr({ address: tcp.host, port: 0 }).replace(/:0$/, '')}:${describePorts(bound.sort((a, b) => a - b))}`;
    }
    return out;
  }

  /** Stops accepting; open connections get `graceMs`, then are cut. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (this.connections.size > 0 && graceMs > 0) {
      await Promise.race([closed, new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    for (const c of this.connections) c.socket.destroy();
    this.connections.clear();
    await closed;
  }

  private server(proto: 'tcp' | 'tls', port: number): net.Server {
    // allowHalfOpen: a client's FIN ends only its direction (splice.ts); paused until the stream exists
    const srv = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) => this.accept(socket, proto, port));
    srv.on('error', (e) => this.log.warn('l4 listener error', { proto, port, err: e }));
    this.servers.push(srv);
    return srv;
  }

  private accept(socket: net.Socket, proto: 'tcp' | 'tls', port: number): void {
    socket.on('error', () => {});
    if (this.stopping) return void socket.destroy();
    const c = new L4Connection(socket, proto, port, this);
    this.connections.add(c);
    socket.once('close', () => this.connections.delete(c));
    void c.run();
  }

  private onRegistryChange(ep: Endpoint, change: 'add' | 'remove'): void {
    const u = ep.url;
    if (u.scheme !== 'tcp' || u.binding !== 'public') return;
    const current = this.hostByPort.get(u.port);
    if (change === 'add') {
      if (current === undefined) this.hostByPort.set(u.port, u.host);
      else if (current !== u.host) this.log.warn('tcp endpoint not served here: its port already routes to another host', { endpoint: ep.id, url: u.url, host: current });
      return;
    }
    if (current !== u.host || this.registry.lookupPublic('tcp', u.host, u.port)) return;
    this.hostByPort.delete(u.port);
    // another host may have been waiting for this port (a race between edges)
    const next = this.registry.list().find((e) => e.url.scheme === 'tcp' && e.url.binding === 'public' && e.url.port === u.port);
    if (next) this.hostByPort.set(u.port, next.url.host);
  }
}

/** `[20000, 20001, 20002, 20005]` → `20000-20002,20005`. */
export function describePorts(ports: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ports.length; i++) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j] + 1) j++;
    parts.push(i === j ? String(ports[i]) : `${ports[i]}-${ports[j]}`);
    i = j;
  }
  return parts.join(',');
}
