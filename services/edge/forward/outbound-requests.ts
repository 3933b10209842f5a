/**
 * The edge side of the http-request action: one outbound HTTP request per call (the action
 * itself handles redirects, retries and the overall timeout budget).
 *
 * - `https://auth.internal/...` goes through the edge's own routing: a new exchange for the
 *   account's internal pool, served by the same pipeline as forward-internal (member choice,
 *   the target endpoint's own Traffic Policy, the agent's tunnel, its response phase). The side
 *   call carries the client's connection (`conn.*`, X-Forwarded-For) and counts as a hop; side
 *   calls nested more than MAX_SIDE_CALL_DEPTH deep (an endpoint calling itself) fail with
 *   MG_HTTP_REQUEST_LOOP.
 * - Any other http(s) URL only when edge.yaml allows it (`http_request.allow_external`, and the
 *   host in `http_request.allowed_hosts` when that list is set, matched by name, not by resolved
 *   address); otherwise MG_HTTP_REQUEST_NOT_ALLOWED. Those go out with undici over one keep-alive
 *   pool per edge, created on first use.
 *
 * Each call is bounded by `timeoutMs` (the head and the whole body) and reads at most
 * `maxBodyBytes` of the response body. A timeout cancels the tunnel stream (or the socket), so
 * the target stops working on it. Never throws: every failure is an `{ok: false}` result.
 */
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { ERRORS, type ErrorCode } from '../../core/errors.js';
import { parseEndpointUrl } from '../../core/endpoint-url.js';
import type { Logger } from '../../core/log.js';
import type { HeaderMap, OutboundRequest, OutboundResult } from '../../policy/types.js';
import type { HttpRequestConfig } from '../config.js';
import type { EndpointRegistry, Pool } from '../endpoints/registry.js';
import { EdgeRequest, newRequestId, type EdgeExchange } from './exchange.js';
import { discardBody, FORWARD_FAILURES, type GatewayResponse } from './gateway-response.js';
import { readAtMost } from './read-at-most.js';

/** Most http-request calls nested in one another (ngrok: "loop >3 hops", ERR_NGROK_3603). */
export const MAX_SIDE_CALL_DEPTH = 3;


const EMPTY = Buffer.alloc(0);

type ServePool = (pool: Pool, x: EdgeExchange) => Promise<GatewayResponse>;
type Fail = Extract<OutboundResult, { ok: false }>;

function fail(code: ErrorCode, message: string, head?: { status: number; headers: HeaderMap }): Fail {
  return head ? { ok: false, code, message, status: head.status, headers: head.headers } : { ok: false, code, message };
}

export class OutboundRequests {
  #agent: Agent | undefined;

  constructor(
    private readonly config: HttpRequestConfig,
    private readonly registry: EndpointRegistry,
    private readonly servePool: ServePool,
    private readonly log: Logger,
  ) {}

  /** One request for the http-request action of `parent`'s policy. Never throws. */
  async send(parent: EdgeExchange, req: OutboundRequest): Promise<OutboundResult> {
    if (req.timeoutMs <= 0) return fail('MG_HTTP_REQUEST_TIMEOUT', `no time left to call ${req.url}`);
    let u: URL;
    try {
      u = new URL(req.url);
    } catch {
      return fail('MG_HTTP_REQUEST_FAILED', `'${req.url}' is not a valid URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail('MG_HTTP_REQUEST_NOT_ALLOWED', `'${req.url}': only http and https URLs can be called`);
    try {
      if (u.hostname.endsWith('.internal')) return await this.internal(parent, u, req);
      const refused = this.externalRefused(u.hostname);
      if (refused) return fail('MG_HTTP_REQUEST_NOT_ALLOWED', refused);
      return await this.external(u, req);
    } catch (e) {
      this.log.error('http-request failed unexpectedly', { reqId: parent.id, traceId: parent.trace?.traceId, err: e as Error });
      return fail('MG_HTTP_REQUEST_FAILED', `${req.url}: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  /** Why this edge does not call `host`, or undefined. */
  private externalRefused(host: string): string | undefined {
    if (!this.config.allowExternal) return `${host} is not an internal endpoint, and this edge does not allow http-request to other hosts (edge.yaml http_request.allow_external)`;
    const allowed = this.config.allowedHosts;
    if (allowed.length === 0) return undefined;
    const h = host.toLowerCase();
    for (const a of allowed) {
      if (a === h || (a.startsWith('*.') && h.endsWith(a.slice(1)))) return undefined;
    }
    return `${host} is not in this edge's http_request.allowed_hosts`;
  }

  /** Through this edge's routing to the account's internal pool for `u`'s origin. */
  private async internal(parent: EdgeExchange, u: URL, req: OutboundRequest): Promise<OutboundResult> {
    const nesting = (parent.sideCallDepth ?? 0) + 1;
    if (nesting > MAX_SIDE_CALL_DEPTH) {
      return fail('MG_HTTP_REQUEST_LOOP', `${req.url}: http-request calls are nested more than ${MAX_SIDE_CALL_DEPTH} deep (does an endpoint call itself?)`);
    }
    let target;
    try {
      target = parseEndpointUrl(`${u.protocol}//${u.host}`, 'http-request.url');
    } catch (e) {
      return fail('MG_HTTP_REQUEST_FAILED', (e as Error).message);
    }
    const pool = this.registry.lookupInternal(parent.account, target.scheme, target.host, target.port);
    if (!pool) return fail('MG_HTTP_REQUEST_FAILED', `${req.url}: no endpoint is online for ${target.url}`);

    const abort = new AbortController();
    const x = sideExchange(parent, u, req, abort.signal, nesting);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), req.timeoutMs);
    });
    try {
      const served = this.servePool(pool, x);
      const r = await Promise.race([served, expired]);
      if (r === 'timeout') {
        abort.abort();
        // A response that still arrives is nobody's: release its stream.
        served.then(discardBody, () => {});
        return fail('MG_HTTP_REQUEST_TIMEOUT', `${req.url} did not answer within the timeout`);
      }
      if (r.close || r.upgraded) {
        discardBody(r);
        return fail('MG_HTTP_REQUEST_FAILED', `${req.url}: the target closed the connection without an answer`);
      }
      if (r.errorCode !== undefined && FORWARD_FAILURES.has(r.errorCode)) {
        const detail = typeof r.body === 'string' ? errorDetail(r.body) : ERRORS[r.errorCode].message;
        discardBody(r);
        return fail('MG_HTTP_REQUEST_FAILED', `${req.url}: ${detail} (${r.errorCode})`);
      }
      const head = { status: r.status, headers: headerMapOf(r.headers) };
      const body = r.body === null ? EMPTY : typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
      const read = Buffer.isBuffer(body) ? fits(body, req.maxBodyBytes) : await Promise.race([readAtMost(body, req.maxBodyBytes), expired]);
      if (read === 'timeout') {
        (body as Readable).destroy();
        return fail('MG_HTTP_REQUEST_TIMEOUT', `${req.url} did not send its whole body within the timeout`, head);
      }
      if (read === 'too-large') return fail('MG_HTTP_REQUEST_BODY_TOO_LARGE', `${req.url} answered more than ${req.maxBodyBytes} bytes`, head);
      if (read instanceof Error) return fail('MG_HTTP_REQUEST_FAILED', `${req.url}: ${read.message}`, head);
      return { ok: true, status: head.status, headers: head.headers, body: read };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Over the network with undici (keep-alive pool shared by every policy on this edge). */
  private async external(u: URL, req: OutboundRequest): Promise<OutboundResult> {
    this.#agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 64 });
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, req.timeoutMs);
    let head: { status: number; headers: HeaderMap } | undefined;
    try {
      const res = await request(u, { method: req.method as 'GET', headers: req.headers, body: req.body, dispatcher: this.#agent, signal: abort.signal });
      head = { status: res.statusCode, headers: headerMapOf(res.headers) };
      const read = await readAtMost(res.body, req.maxBodyBytes);
      if (read === 'too-large') return fail('MG_HTTP_REQUEST_BODY_TOO_LARGE', `${req.url} answered more than ${req.maxBodyBytes} bytes`, head);
      if (read instanceof Error) throw read;
      return { ok: true, status: head.status, headers: head.headers, body: read };
    } catch (e) {
      if (timedOut) return fail('MG_HTTP_REQUEST_TIMEOUT', `${req.url} did not answer within the timeout`, head);
      const err = e as NodeJS.ErrnoException;
      return fail('MG_HTTP_REQUEST_FAILED', `${req.url}: ${err.code ? `${err.code} ` : ''}${err.message}`, head);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the keep-alive pool (edge shutdown). */
  async close(): Promise<void> {
    await this.#agent?.close();
  }
}

/** The exchange of a side call to an internal endpoint: its own request, the client's connection. */
function sideExchange(parent: EdgeExchange, u: URL, req: OutboundRequest, signal: AbortSignal, nesting: number): EdgeExchange {
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const raw: string[] = ['host', u.host];
  for (const name in req.headers) for (const v of req.headers[name]) raw.push(name, v);
  const request = new EdgeRequest(req.method, scheme, u.hostname, Number(u.port) || (scheme === 'https' ? 443 : 80), u.pathname, u.search.slice(1), '1.1', raw);
  const body = req.body === undefined || req.body === '' ? undefined : Buffer.from(req.body);
  if (body !== undefined) request.body = body;
  return {
    id: newRequestId(),
    req: request,
    conn: parent.conn,
    depth: parent.depth + 1,
    hostHeader: u.host,
    account: parent.account,
    body: Readable.from([]),
    hasBody: body !== undefined,
    bodyUsed: false,
    signal,
    sideCallDepth: nesting,
    trace: parent.trace?.fork(),
  };
}

function fits(body: Buffer, limit: number): Buffer | 'too-large' {
  return body.length > limit ? 'too-large' : body;
}

/** Node/undici response headers → lower-case name → values. */
function headerMapOf(h: Record<string, string | string[] | number | undefined>): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.map(String) : [String(v)];
  }
  return out;
}

/** The message of a gateway error body (`{"error": {"message"}}`), or the body itself. */
function errorDetail(body: string): string {
  try {
    return (JSON.parse(body) as { error: { message: string } }).error.message;
  } catch {
    return body;
  }
}
