/**
 * Sends one request to the agent holding an endpoint: a new stream on the agent's reverse
 * HTTP/2 session, request body piped in (flow-controlled), response head awaited. The response
 * body stays a stream; nothing is buffered whole.
 *
 * Failures before any byte of the request reached the agent are marked `retryable`, so the
 * caller can pick another pool member (the agent died but its session close was not seen yet).
 */
import http2 from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import { ENDPOINT_ID_HEADER, UPGRADE_HEADER, UPGRADE_STATUS_HEADER } from '../../tunnel/wire.js';
import { ERROR_HEADER } from '../../core/errors.js';
import { lowerHeaderName } from '../../core/header-name.js';
import type { HeaderMap } from '../../policy/types.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EdgeExchange } from './exchange.js';
import { gatewayError, type GatewayResponse } from './gateway-response.js';

/** Request headers that must not cross a proxy hop (and that HTTP/2 forbids). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'http2-settings', 'proxy-authorization', 'expect']);

/** Marks a replay of a captured request for the upstream (Traffic Inspector); value: the original request id. */
export const REPLAY_OF_HEADER = 'meshgate-replay-of';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Builds the HTTP/2 request head for the agent: hop-by-hop headers removed, X-Forwarded-* added. */
export function tunnelRequestHeaders(x: EdgeExchange, ep: Endpoint): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': x.req.method,
    ':path': x.req.query ? `${x.req.path}?${x.req.query}` : x.req.path,
    ':authority': x.hostHeader,
    ':scheme': x.req.scheme,
    [ENDPOINT_ID_HEADER]: ep.id,
  };
  const src: HeaderMap = x.req.headersUntouched ? copyRaw(x.req.rawHeaders, out) : copyMap(x.req.headers, out);
  const xff = src['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${xff.join(', ')}, ${x.conn.clientIp}` : x.conn.clientIp;
  const xfp = src['x-forwarded-proto'];
  out['x-forwarded-proto'] = xfp ? `${xfp.join(', ')}, ${x.req.scheme}` : x.req.scheme;
  out['x-forwarded-host'] = src['x-forwarded-host']?.[0] ?? x.hostHeader;
  if (x.upgrade) out[UPGRADE_HEADER] = x.upgrade;
  // set by the edge on inspector replays only: a client's own meshgate-* headers never pass (skip)
  if (x.replayOf !== undefined) out[REPLAY_OF_HEADER] = x.replayOf;
  // A body the policy read (and may have changed) goes out whole, with its own length.
  if (x.req.body !== undefined) out['content-length'] = String(x.req.body.length);
  return out;
}

function skip(name: string, connTokens: readonly string[] | null): boolean {
  return name.charCodeAt(0) === 58 /* HTTP/2 pseudo-header */ || HOP_BY_HOP.has(name) || (connTokens !== null && connTokens.includes(name)) || name.startsWith('meshgate-');
}

function tokens(v: readonly string[] | string | undefined): string[] | null {
  if (v === undefined) return null;
  return (typeof v === 'string' ? v : v.join(',')).toLowerCase().split(/\s*,\s*/);
}

/** Copies forwardable headers from a header map; returns the map (for X-Forwarded-*). */
function copyMap(src: HeaderMap, out: OutgoingHttpHeaders): HeaderMap {
  const conn = tokens(src.connection);
  for (const name in src) {
    if (skip(name, conn)) continue;
    const v = src[name];
    out[name] = v.length === 1 ? v[0] : v;
  }
  return src;
}

/**
 * Copies forwardable headers straight from raw headers (no header map built). Returns the
 * X-Forwarded-* values seen, as a small map.
 */
function copyRaw(raw: readonly string[], out: OutgoingHttpHeaders): HeaderMap {
  let conn: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') conn = tokens(raw[i + 1]);
  }
  const fwd: HeaderMap = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerHeaderName(raw[i]);
    if (skip(name, conn)) continue;
    const value = raw[i + 1];
    if (name.startsWith('x-forwarded-')) (fwd[name] ??= []).push(value);
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev as string, value];
  }
  return fwd;
}

/**
 * Where a request for an endpoint is sent: the agent's own tunnel session (local agent), or the
 * relay link to the edge node that holds the agent (remote agent). Both speak the same HTTP/2.
 */
export interface StreamTarget {
  /** False when new streams must not be sent (closed session, peer gone). */
  readonly open: boolean;
  /** Opens one stream; may throw when the session just closed. */
  request(headers: OutgoingHttpHeaders, opts: http2.ClientSessionRequestOptions): http2.ClientHttp2Stream;
}

export function forwardToAgent(ep: Endpoint, session: StreamTarget, x: EdgeExchange): Promise<GatewayResponse> {
  if (!session.open) return Promise.resolve(gatewayError('MG_AGENT_UNREACHABLE', 'the agent session is closed', true));
  const signal = x.signal;
  if (signal?.aborted) return Promise.resolve(gatewayError('MG_AGENT_UNREACHABLE', 'the request was cancelled'));
  let stream: http2.ClientHttp2Stream;
  const headers = tunnelRequestHeaders(x, ep);
  const hop = x.trace === undefined ? undefined : x.trace.hop(ep, headers);
  try {
    stream = session.request(headers, { endStream: !x.hasBody || x.req.body?.length === 0 });
  } catch (e) {
    hop?.failed(e as Error);
    return Promise.resolve(gatewayError('MG_AGENT_UNREACHABLE', (e as Error).message, true));
  }
  if (signal !== undefined) {
    // A cancelled side call (http-request timeout) resets the stream, so the agent stops its upstream request.
    const cancel = () => stream.close(http2.constants.NGHTTP2_CANCEL);
    signal.addEventListener('abort', cancel, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', cancel));
  }
  return new Promise<GatewayResponse>((resolve) => {
    let settled = false;
    const settle = (r: GatewayResponse) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    stream.on('response', (h) => {
      const status = Number(h[':status']);
      const upStatus = h[UPGRADE_STATUS_HEADER];
      if (hop !== undefined) hop.response(upStatus === undefined ? status : Number(upStatus) || status, h[ERROR_HEADER]);
      // Node hands us a fresh object: drop the pseudo-header and use it as the response head.
      delete h[':status'];
      const headers = h as OutgoingHttpHeaders;
      if (upStatus !== undefined) {
        delete headers[UPGRADE_STATUS_HEADER];
        if (upStatus === '101') return settle({ status: 101, headers, body: null, upgraded: stream });
        return settle({ status: Number(upStatus) || status, headers, body: stream });
      }
      settle({ status, headers, body: stream, errorCode: headers[ERROR_HEADER] as GatewayResponse['errorCode'] });
    });
    // Retrying elsewhere is safe when the agent never got the request (refused stream, dead
    // session) or, per RFC 9110 §9.2.2, for an idempotent request with no body sent.
    const retryable = (refused: boolean) => signal?.aborted !== true && (refused || !session.open || (!x.bodyUsed && IDEMPOTENT.has(x.req.method)));
    stream.on('error', (e) => {
      settle(gatewayError('MG_AGENT_UNREACHABLE', e.message, retryable(false)));
    });
    stream.on('close', () => {
      if (hop !== undefined) hop.closed(stream.rstCode ?? 0);
      if (!settled) {
        const code = stream.rstCode;
        const refused = code === http2.constants.NGHTTP2_REFUSED_STREAM;
        settle(gatewayError('MG_AGENT_UNREACHABLE', `tunnel stream closed before a response (code ${code})`, retryable(refused)));
      }
    });
    if (x.req.body !== undefined) {
      x.bodyUsed = true;
      if (x.req.body.length > 0) stream.end(x.req.body);
    } else if (x.hasBody) {
      x.bodyUsed = true;
      const body = x.body;
      if (x.head && x.head.length) stream.write(x.head);
      body.pipe(stream);
      // A client that goes away cancels the tunnel stream, which cancels the upstream request.
      body.once('error', () => stream.close(http2.constants.NGHTTP2_CANCEL));
      body.once('close', () => {
        if (!body.readableEnded && !stream.destroyed && !x.upgrade) stream.close(http2.constants.NGHTTP2_CANCEL);
      });
    }
  });
}
