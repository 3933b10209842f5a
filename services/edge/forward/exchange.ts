import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { lowerHeaderName } from '../../core/header-name.js';
import type { Exchange, HeaderMap, PolicyRequest } from '../../policy/types.js';
import type { RequestTrace } from '../../telemetry/tracing.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { PolicyDecision } from '../observe/request-record.js';

/** The edge's per-request state: the policy's Exchange plus what forwarding needs. */
export interface EdgeExchange extends Exchange {
  req: EdgeRequest;
  /** Host header exactly as the client sent it (with port), for X-Forwarded-Host and the upstream. */
  readonly hostHeader: string;
  /** Account of the public endpoint that received the request. */
  account: string;
  /**
   * Request body; for upgrades, the client socket (after `head`). Replaced only by a request
   * observer's `routed` hook, before the pipeline reads it (the inspector's tee).
   */
  body: Readable;
  /** False when the request has no body at all (GET without Content-Length), so nothing is streamed. */
  readonly hasBody: boolean;
  /** Set once body bytes were handed to an agent: the request can no longer be retried elsewhere. */
  bodyUsed: boolean;
  /** The client's Upgrade header for a WebSocket (or other) upgrade, else undefined. */
  readonly upgrade?: string;
  /** Bytes the client sent after the upgrade request head. */
  readonly head?: Buffer;
  /** Aborts the request on its way to an agent (set on http-request side calls, for their timeout). */
  readonly signal?: AbortSignal;
  /** How many http-request side calls this request is nested in (0/absent for client requests). */
  readonly sideCallDepth?: number;
  /** The request's trace when tracing is on (set at ingress); undefined = not traced, nothing to do. */
  trace?: RequestTrace;
  /** The first endpoint that ran for this request (the public one), set by the pipeline. */
  entry?: Endpoint;
  /** The endpoint that ran last (the one that answered, after forward-internal hops). */
  served?: Endpoint;
  /** When present, the pipeline records every rule evaluated and action run here (observers ask for it). */
  decisions?: PolicyDecision[];
  /** Set on a replay of a captured request (inspector): the original's id, sent upstream as `meshgate-replay-of`. */
  readonly replayOf?: string;
}

let seq = 0;
const prefix = randomBytes(4).toString('hex');
/** Cheap unique request id: a per-process random prefix and a counter. */
export function newRequestId(): string {
  return `req_${prefix}${(++seq).toString(36)}`;
}

/** Lower-cased header map from raw headers (keeps repeats; skips HTTP/2 pseudo-headers). */
export function headerMapOf(raw: readonly string[]): HeaderMap {
  const h: HeaderMap = Object.create(null);
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerHeaderName(raw[i]);
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const list = h[name];
    if (list) list.push(raw[i + 1]);
    else h[name] = [raw[i + 1]];
  }
  return h;
}

/**
 * The request as the policy sees it. The header map is built on first use: a policy that
 * routes by path never pays for it, and forwarding then copies the raw headers directly.
 */
export class EdgeRequest implements PolicyRequest {
  private map: HeaderMap | undefined;
  /** The buffered body, when the endpoint's policy reads bodies (see request-body.ts). */
  body?: Buffer;
  constructor(
    public method: string,
    public scheme: 'http' | 'https',
    public host: string,
    public port: number,
    public path: string,
    public query: string,
    public version: string,
    /** Raw headers as received (name, value, name, value, ...). */
    readonly rawHeaders: readonly string[],
  ) {}

  get headers(): HeaderMap {
    return (this.map ??= headerMapOf(this.rawHeaders));
  }
  set headers(h: HeaderMap) {
    this.map = h;
  }
  /** True until someone read or replaced the header map; then the map is authoritative. */
  get headersUntouched(): boolean {
    return this.map === undefined;
  }
}

export interface IngressInfo {
  scheme: 'http' | 'https';
  region: string;
}

/** Builds the exchange for a request that arrived on a public listener. Returns null when the request has no usable host. */
export function exchangeFromRequest(
  req: IncomingMessage | Http2ServerRequest,
  info: IngressInfo,
  upgrade?: { socket: Duplex; head: Buffer },
): EdgeExchange | null {
  const hostHeader = (req.headers[':authority'] as string | undefined) ?? req.headers.host;
  if (!hostHeader) return null;
  const host = stripPort(hostHeader).toLowerCase();
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const sock = req.socket as TLSSocket;
  const h2 = (req as Http2ServerRequest).stream !== undefined;
  const hasBody = upgrade
    ? true
    : h2
      ? !(req as Http2ServerRequest).stream.endAfterHeaders
      : req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  return {
    id: newRequestId(),
    req: new EdgeRequest(
      req.method ?? 'GET',
      info.scheme,
      host,
      Number(portOf(hostHeader)) || (info.scheme === 'https' ? 443 : 80),
      q === -1 ? rawUrl : rawUrl.slice(0, q),
      q === -1 ? '' : rawUrl.slice(q + 1),
      h2 ? '2.0' : req.httpVersion,
      req.rawHeaders,
    ),
    conn: {
      clientIp: normalizeIp(sock?.remoteAddress ?? ''),
      clientPort: sock?.remotePort ?? 0,
      serverIp: normalizeIp(sock?.localAddress ?? ''),
      serverPort: sock?.localPort ?? 0,
      serverRegion: info.region,
      startedAt: new Date(),
    },
    depth: 0,
    hostHeader,
    account: '',
    body: upgrade ? (upgrade.socket as Readable) : (req as Readable),
    hasBody,
    bodyUsed: false,
    upgrade: upgrade ? (req.headers.upgrade as string | undefined) : undefined,
    head: upgrade?.head,
    trace: undefined,
  };
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i === -1 ? host : host.slice(0, i);
}

function portOf(host: string): string {
  const end = host.startsWith('[') ? host.indexOf(']') : 0;
  const i = host.indexOf(':', end);
  return i === -1 ? '' : host.slice(i + 1);
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
