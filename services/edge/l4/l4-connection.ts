/**
 * One client connection of a tcp:// or tls:// endpoint, from accept to close:
 *
 *   tls: read the ClientHello (3 s) → SNI → public tls pool     tcp: the port → public tcp pool
 *   → pick a member (locality first, per connection) → run *that member's* on_tcp_connect
 *       (restrict-ips / deny / close-connection → close; set-vars, log; terminate-tls → the edge
 *        completes the handshake here; forward-internal → an internal tcp/tls pool, recursively)
 *   → open a tunnel stream to the member's agent (directly, or relayed to the edge holding it)
 *   → the agent connected its upstream → splice client ↔ stream until both directions end.
 *
 * Every failure closes the connection (ngrok: TCP/TLS errors are a closed connection; before a
 * tls handshake the client gets a TLS alert) and is logged with its code at debug level. A
 * member whose agent turned out to be gone before it got the stream is skipped and another one
 * tried, unless TLS was already terminated for this connection (its policy ran with that member).
 *
 * Also the ConnectPhaseHost of the policy engine for this connection: forwardInternal and
 * terminateTls act on this connection.
 */
import type http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { isMeshgateError, type ErrorCode } from '../../core/errors.js';
import { parseEndpointUrl, type EndpointUrl } from '../../core/endpoint-url.js';
import type { Logger } from '../../core/log.js';
import type { ConnectionExchange, ConnectPhaseHost, Exchange, ForwardInternalOptions, ForwardResult, TerminateTlsOptions, TerminateTlsResult } from '../../policy/types.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointRegistry, Pool } from '../endpoints/registry.js';
import { MAX_FORWARD_DEPTH } from '../forward/pipeline.js';
import { FORWARD_FAILURES } from '../forward/gateway-response.js';
import type { StreamTarget } from '../forward/to-agent.js';
import { selectMember, type Locality } from '../pools/select.js';
import { readClientHello } from './client-hello.js';
import { openL4Stream } from './l4-stream.js';
import { abortSide, splice } from '../../tunnel/splice.js';
import type { TlsTerminator } from './tls-termination.js';
import type { EdgeTracer, RequestTrace } from '../../telemetry/tracing.js';

/** Most pool members tried for one connection when agents vanish under it. */
const MAX_ATTEMPTS = 3;
const EMPTY = Buffer.alloc(0);

/** TLS alert records (fatal) sent before closing a tls:// connection that is not served. */
const ALERT_UNRECOGNIZED_NAME = Buffer.from([21, 3, 3, 0, 2, 2, 112]);
const ALERT_ACCESS_DENIED = Buffer.from([21, 3, 3, 0, 2, 2, 49]);
const ALERT_INTERNAL_ERROR = Buffer.from([21, 3, 3, 0, 2, 2, 80]);

/** Codes of a Traffic Policy refusing the connection (access_denied); others are gateway failures. */
const BY_POLICY: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['MG_CONNECTION_CLOSED_BY_POLICY', 'MG_IP_RESTRICTED']);


/** Codes of connections refused on purpose; anything else is logged as a problem. */
const EXPECTED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'MG_CONNECTION_CLOSED_BY_POLICY',
  'MG_IP_RESTRICTED',
  'MG_ENDPOINT_NOT_FOUND',
  'MG_TLS_CLIENT_HELLO_INVALID',
  'MG_TLS_HANDSHAKE_FAILED',
]);

/** What the connection needs from the L4 ingress that accepted it. */
export interface ConnectionContext {
  readonly registry: EndpointRegistry;
  readonly locality: Locality;
  readonly terminator: TlsTerminator;
  readonly log: Logger;
  readonly region: string;
  /** The tunnel session or relay link serving an agent endpoint. */
  sessionOf(ep: Endpoint): StreamTarget | undefined;
  /** The edge's tracer when tracing is on. */
  tracer(): EdgeTracer | undefined;
  /** The public tcp pool on a port. */
  tcpPool(port: number): Pool | undefined;
}

/** How serving one pool (or member) ended. */
type Served =
  | { kind: 'stream'; stream: http2.ClientHttp2Stream; endpoint: Endpoint }
  | { kind: 'close'; code: ErrorCode; message: string; retryable?: boolean };

let seq = 0;
const prefix = randomBytes(4).toString('hex');

export class L4Connection implements ConnectPhaseHost<Served> {
  readonly x: ConnectionExchange;
  private account = '';
  private sni = '';
  /** Bytes read from the client before the stream existed (the ClientHello), to replay. */
  private replay: Buffer = EMPTY;
  private tlsSocket: tls.TLSSocket | undefined;
  /** The first endpoint that served this connection, for logs. */
  private entry: Endpoint | undefined;
  /** Its trace when tracing is on (from the start; for tls, from the ClientHello). */
  private trace: RequestTrace | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly proto: 'tcp' | 'tls',
    readonly port: number,
    private readonly cx: ConnectionContext,
  ) {
    this.x = {
      id: `conn_${prefix}${(++seq).toString(36)}`,
      conn: {
        clientIp: normalizeIp(socket.remoteAddress ?? ''),
        clientPort: socket.remotePort ?? 0,
        serverIp: normalizeIp(socket.localAddress ?? ''),
        serverPort: socket.localPort ?? 0,
        serverRegion: cx.region,
        startedAt: new Date(),
      },
      depth: 0,
    };
  }

  /** Serves the connection until it is spliced or closed. Never rejects. */
  async run(): Promise<void> {
    try {
      let pool: Pool | undefined;
      if (this.proto === 'tls') {
        try {
          const hello = await readClientHello(this.socket);
          this.sni = hello.sni;
          this.replay = hello.bytes;
        } catch (e) {
          return this.close(isMeshgateError(e) ? e.code : 'MG_TLS_CLIENT_HELLO_INVALID', isMeshgateError(e) ? (e.detail ?? e.message) : String(e));
        }
        this.x.conn.tls = { version: '', cipherSuite: '', sni: this.sni };
        this.startTrace();
        pool = this.cx.registry.lookupPublic('tls', this.sni);
        if (!pool) return this.close('MG_ENDPOINT_NOT_FOUND', `no tls endpoint is online for ${this.sni}`, ALERT_UNRECOGNIZED_NAME);
      } else {
        this.startTrace();
        pool = this.cx.tcpPool(this.port);
        if (!pool) return this.close('MG_ENDPOINT_NOT_FOUND', `no tcp endpoint is online on port ${this.port}`);
      }
      this.account = pool.account;
      const r = await this.servePool(pool);
      if (r.kind === 'close') return this.close(r.code, r.message, BY_POLICY.has(r.code) ? ALERT_ACCESS_DENIED : ALERT_INTERNAL_ERROR);
      this.connect(r.stream, r.endpoint);
    } catch (e) {
      this.close('MG_INTERNAL', (e as Error)?.message ?? String(e));
    }
  }

  private startTrace(): void {
    const tracer = this.cx.tracer();
    if (tracer !== undefined) this.trace = tracer.connection({ proto: this.proto, clientIp: this.x.conn.clientIp, serverPort: this.x.conn.serverPort, sni: this.sni });
  }

  /** forward-internal from on_tcp_connect: the connection goes to an internal tcp/tls pool. */
  async forwardInternal(_x: Exchange, opts: ForwardInternalOptions): Promise<ForwardResult<Served>> {
    let target: EndpointUrl;
    try {
      target = parseEndpointUrl(opts.url, 'forward-internal.url');
    } catch (e) {
      return { ok: false, code: 'MG_FORWARD_NOT_INTERNAL', message: isMeshgateError(e) ? e.message : String(e) };
    }
    if (target.binding !== 'internal') return { ok: false, code: 'MG_FORWARD_NOT_INTERNAL', message: `${target.url} is not an internal (.internal) URL` };
    if (this.x.depth >= MAX_FORWARD_DEPTH) return { ok: false, code: 'MG_FORWARD_CHAIN_TOO_DEEP', message: `more than ${MAX_FORWARD_DEPTH} forward-internal hops` };
    const pool = this.cx.registry.lookupInternal(this.account, target.scheme, target.host, target.port);
    if (!pool) return { ok: false, code: 'MG_FORWARD_TARGET_OFFLINE', message: `no endpoint is online for ${target.url}` };
    this.x.depth++;
    const r = await this.servePool(pool);
    this.x.depth--;
    if (r.kind === 'close' && FORWARD_FAILURES.has(r.code)) return { ok: false, code: r.code, message: r.message };
    return { ok: true, response: r };
  }

  /** terminate-tls: the handshake with the client, here and now. */
  async terminateTls(_x: Exchange, opts: TerminateTlsOptions): Promise<TerminateTlsResult> {
    if (this.proto !== 'tls' || this.tlsSocket) return { ok: false, code: 'MG_TLS_HANDSHAKE_FAILED', message: 'this connection has no TLS left to terminate' };
    const r = await this.cx.terminator.terminate(this.socket, this.replay, this.sni, opts);
    this.replay = EMPTY;
    if (!r.ok) return r;
    r.socket.on('error', () => {});
    this.tlsSocket = r.socket;
    this.x.conn.tls = r.tls;
    return { ok: true, tls: r.tls };
  }

  /** Picks members until one serves (or refuses for good). */
  private async servePool(pool: Pool): Promise<Served> {
    const tried = new Set<string>();
    let last: Served | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const ep = selectMember(pool.members, tried, this.cx.locality);
      if (!ep) break;
      this.entry ??= ep;
      if (this.trace !== undefined) this.trace.select(ep, pool.members.length, attempt + 1);
      const r = await this.runEndpoint(ep);
      // A second member would run its own policy again: not after the handshake happened.
      if (r.kind === 'stream' || !r.retryable || this.tlsSocket) return r;
      this.cx.log.debug('connection: retrying on another pool member', { conn: this.x.id, endpoint: ep.id, code: r.code });
      tried.add(ep.id);
      last = r;
    }
    if (last?.kind === 'close') return { ...last, retryable: false };
    return { kind: 'close', code: 'MG_FORWARD_TARGET_OFFLINE', message: 'every member of the pool went offline' };
  }

  private async runEndpoint(ep: Endpoint): Promise<Served> {
    const policy = ep.policy;
    if (policy !== null && policy.hasPhase('on_tcp_connect')) {
      const out = this.trace === undefined ? await policy.runConnect(this.x, ep.view, this) : await this.trace.connectPhase(policy, this.x, ep.view, this);
      if (out.kind === 'forwarded') return out.response;
      if (out.kind === 'close') return { kind: 'close', code: out.code, message: out.message };
    }
    if (ep.type === 'cloud') return { kind: 'close', code: 'MG_NO_TERMINATING_ACTION', message: `cloud endpoint ${ep.url.url} has no upstream` };
    const target = this.cx.sessionOf(ep);
    if (!target) return { kind: 'close', code: 'MG_AGENT_UNREACHABLE', message: 'the agent session is gone', retryable: true };
    const r = await openL4Stream(target, ep, { ip: this.x.conn.clientIp, port: this.x.conn.clientPort }, this.sni || ep.url.host, this.trace);
    if (r.ok) return { kind: 'stream', stream: r.stream, endpoint: ep };
    return { kind: 'close', code: r.code, message: r.message, retryable: r.retryable };
  }

  /** Splices the client (plaintext after terminate-tls) with the agent's stream. */
  private connect(stream: http2.ClientHttp2Stream, ep: Endpoint): void {
    const client = this.tlsSocket ?? this.socket;
    if (client.destroyed) {
      // the client went away while the agent was connecting its upstream
      abortSide(stream);
      this.cx.log.debug('connection closed', { ...this.fields(), endpoint: ep.id, aborted: 'the client left before the upstream was connected' });
      this.trace?.connectionEnded(undefined, false);
      return;
    }
    if (this.replay.length > 0) stream.write(this.replay);
    this.replay = EMPTY;
    const log = this.cx.log;
    if (log.enabled('debug')) log.debug('connection open', { ...this.fields(), endpoint: ep.id, url: ep.url.url, tls: this.tlsSocket ? 'terminated' : this.proto === 'tls' ? 'passthrough' : undefined });
    splice(client, stream, (stats) => {
      if (log.enabled('debug')) log.debug('connection closed', { ...this.fields(), endpoint: ep.id, bytesIn: stats.aToB, bytesOut: stats.bToA, aborted: stats.aborted, logs: this.x.logs });
      this.trace?.connectionEnded(undefined, false);
    });
  }

  /** Closes the connection for `code` (never spliced); before a tls handshake, with `alert` first. */
  private close(code: ErrorCode, message: string, alert?: Buffer): void {
    const fields = { ...this.fields(), code, detail: message, logs: this.x.logs };
    this.trace?.connectionEnded(code, !EXPECTED.has(code));
    if (code === 'MG_INTERNAL') this.cx.log.error('connection failed', fields);
    else this.cx.log.debug(EXPECTED.has(code) ? 'connection refused' : 'connection failed', fields);
    if (this.tlsSocket) return void this.tlsSocket.destroy();
    const s = this.socket;
    if (s.destroyed) return;
    if (alert && this.proto === 'tls' && s.writable) {
      s.end(alert);
      setTimeout(() => s.destroy(), 1_000).unref();
      return;
    }
    abortSide(s);
  }

  private fields(): Record<string, unknown> {
    return {
      conn: this.x.id,
      proto: this.proto,
      client: `${this.x.conn.clientIp}:${this.x.conn.clientPort}`,
      port: this.x.conn.serverPort,
      sni: this.sni || undefined,
      entry: this.entry?.id,
      traceId: this.trace?.traceId,
    };
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
