/**
 * The request pipeline of an edge node: pool → member → that member's Traffic Policy →
 * forward-internal (recursively) or the agent's tunnel → on_http_response phases, innermost
 * endpoint first → one GatewayResponse for the ingress to write.
 *
 * Heterogeneous pools: the member is chosen first, then its own policy runs.
 * A member whose agent turned out to be gone before it got the request is skipped and another
 * member is tried (see `retryable` in to-agent.ts); requests never go to a closed session.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { ERROR_HEADER, ERRORS, errorBodyMessage, isMeshgateError, type ErrorCode } from '../../core/errors.js';
import { parseEndpointUrl, type EndpointUrl } from '../../core/endpoint-url.js';
import type { Logger } from '../../core/log.js';
import type { CompiledPolicy, Exchange, ForwardInternalOptions, ForwardResult, HeaderMap, OutboundRequest, OutboundResult, PolicyResponse, RequestOutcome, RequestPhaseHost, ResponseOutcome, SyntheticResponse } from '../../policy/types.js';
import type { HttpRequestConfig } from '../config.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointRegistry, Pool } from '../endpoints/registry.js';
import { selectMember, type Locality } from '../pools/select.js';
import type { EdgeExchange } from './exchange.js';
import { discardBody, FORWARD_FAILURES, gatewayError, type GatewayResponse } from './gateway-response.js';
import { forwardToAgent, type StreamTarget } from './to-agent.js';
import { bufferRequestBody } from './request-body.js';
import { rewriteResponseBody } from './response-body.js';
import type { PhaseTrace } from '../../policy/run-phase.js';
import type { PolicyDecision } from '../observe/request-record.js';
import { OutboundRequests } from './outbound-requests.js';

/** Most forward-internal hops one request may take (ngrok's ERR_NGROK_3501 limit is unpublished). */
export const MAX_FORWARD_DEPTH = 10;
/** Most pool members tried for one request when agents vanish under it. */
const MAX_ATTEMPTS = 3;


/** Parsed forward-internal URLs kept (most policies forward to a handful of static URLs). */
const TARGET_CACHE_SIZE = 1024;

export class Pipeline implements RequestPhaseHost<GatewayResponse> {
  private readonly targets = new Map<string, EndpointUrl>();
  private readonly outbound: OutboundRequests;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly sessionOf: (ep: Endpoint) => StreamTarget | undefined,
    private readonly log: Logger,
    private readonly locality?: Locality,
    httpRequest: HttpRequestConfig = { allowExternal: false, allowedHosts: [] },
    /** Seals openid-connect / oauth session cookies (RequestPhaseHost.sessionKey). */
    readonly sessionKey?: Buffer,
  ) {
    this.outbound = new OutboundRequests(httpRequest, registry, (pool, x) => this.servePool(pool, x), log);
  }

  /** http-request side calls, called by the policy engine in both phases. Never throws. */
  httpRequest(x: Exchange, req: OutboundRequest): Promise<OutboundResult> {
    return this.outbound.send(x as EdgeExchange, req);
  }

  /** Releases the outbound keep-alive pool (edge shutdown). */
  close(): Promise<void> {
    return this.outbound.close();
  }

  /** Serves a request that arrived for a public pool. */
  serve(pool: Pool, x: EdgeExchange): Promise<GatewayResponse> {
    x.account = pool.account;
    // headers request-phase actions add to the final response (a refreshed session cookie)
    return this.servePool(pool, x).then((r) => (x.responseHeaders === undefined ? r : withResponseHeaders(r, x.responseHeaders)));
  }

  /** forward-internal, called by the policy engine. Never throws. */
  async forwardInternal(ex: import('../../policy/types.js').Exchange, opts: ForwardInternalOptions): Promise<ForwardResult<GatewayResponse>> {
    const x = ex as EdgeExchange;
    let target = this.targets.get(opts.url);
    if (target === undefined) {
      try {
        target = parseEndpointUrl(opts.url, 'forward-internal.url');
      } catch (e) {
        return { ok: false, code: 'MG_FORWARD_NOT_INTERNAL', message: isMeshgateError(e) ? e.message : String(e) };
      }
      if (this.targets.size >= TARGET_CACHE_SIZE) this.targets.clear();
      this.targets.set(opts.url, target);
    }
    if (target.binding !== 'internal') {
      return { ok: false, code: 'MG_FORWARD_NOT_INTERNAL', message: `${target.url} is not an internal (.internal) URL` };
    }
    if (x.depth >= MAX_FORWARD_DEPTH) {
      return { ok: false, code: 'MG_FORWARD_CHAIN_TOO_DEEP', message: `more than ${MAX_FORWARD_DEPTH} forward-internal hops` };
    }
    const pool = this.registry.lookupInternal(x.account, target.scheme, target.host, target.port);
    if (!pool) return { ok: false, code: 'MG_FORWARD_TARGET_OFFLINE', message: `no endpoint is online for ${target.url}` };
    x.depth++;
    const r = await this.servePool(pool, x);
    x.depth--;
    if (r.errorCode && FORWARD_FAILURES.has(r.errorCode)) {
      discardBody(r);
      return { ok: false, code: r.errorCode, message: typeof r.body === 'string' ? errorMessageOf(r.body, r.errorCode) : r.errorCode };
    }
    return { ok: true, response: r };
  }

  /** Runs one member of the pool; only a failure that never reached an agent tries another. */
  private servePool(pool: Pool, x: EdgeExchange): Promise<GatewayResponse> {
    const ep = selectMember(pool.members, undefined, this.locality);
    if (!ep) return Promise.resolve(gatewayError('MG_FORWARD_TARGET_OFFLINE', 'every member of the pool went offline'));
    if (x.trace !== undefined) x.trace.select(ep, pool.members.length, 1);
    return this.runEndpoint(ep, x).then((r) => (r.retryable ? this.retry(pool, x, new Set([ep.id]), r) : r));
  }

  private async retry(pool: Pool, x: EdgeExchange, tried: Set<string>, last: GatewayResponse): Promise<GatewayResponse> {
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      this.log.debug('retrying on another pool member', { reqId: x.id, traceId: x.trace?.traceId, code: last.errorCode });
      const ep = selectMember(pool.members, tried, this.locality);
      if (!ep) break;
      if (x.trace !== undefined) x.trace.select(ep, pool.members.length, attempt + 1);
      const r = await this.runEndpoint(ep, x);
      if (!r.retryable) return r;
      tried.add(ep.id);
      last = r;
    }
    last.retryable = false;
    return last;
  }

  private async runEndpoint(ep: Endpoint, x: EdgeExchange): Promise<GatewayResponse> {
    const policy = ep.policy;
    let r: GatewayResponse;
    x.entry ??= ep;
    x.served = ep;
    if (policy !== null && policy.requestBodyLimit > 0 && x.hasBody && x.req.body === undefined && !x.bodyUsed && !x.upgrade) {
      const refused = await bufferRequestBody(x, policy.requestBodyLimit);
      if (refused) return refused;
    }
    if (policy !== null && policy.hasPhase('on_http_request')) {
      const out = await this.runRequestPhase(policy, ep, x);
      switch (out.kind) {
        case 'pass':
          r = await this.toUpstream(ep, x);
          break;
        case 'respond':
          r = synthetic(out.response);
          break;
        case 'forwarded':
          r = out.response;
          break;
        case 'close':
          r = { status: 0, headers: {}, body: null, close: true };
          break;
        case 'error':
          r = gatewayError(out.code, out.message);
          break;
      }
    } else {
      r = await this.toUpstream(ep, x);
    }
    if (r.retryable || r.close || policy === null || !policy.hasPhase('on_http_response')) return r;
    return this.responsePhase(ep, x, r);
  }

  private toUpstream(ep: Endpoint, x: EdgeExchange): Promise<GatewayResponse> | GatewayResponse {
    if (ep.type === 'cloud') return gatewayError('MG_NO_TERMINATING_ACTION', `cloud endpoint ${ep.url.url} has no upstream`);
    const session = this.sessionOf(ep);
    if (!session) return gatewayError('MG_AGENT_UNREACHABLE', 'the agent session is gone', true);
    if (x.bodyUsed) return gatewayError('MG_AGENT_UNREACHABLE', 'the request body was already sent to another endpoint');
    return forwardToAgent(ep, session, x);
  }

  /** on_http_request of `ep`: traced when the request is, recording decisions when an observer asked for them. */
  private runRequestPhase(policy: CompiledPolicy, ep: Endpoint, x: EdgeExchange): Promise<RequestOutcome<GatewayResponse>> {
    const also = x.decisions === undefined ? undefined : decisionTrace(x.decisions, ep.id, 'on_http_request');
    if (x.trace !== undefined) return x.trace.requestPhase(policy, x, ep.view, this, also);
    return also === undefined ? policy.runRequest(x, ep.view, this) : policy.traceRequest(x, ep.view, this, also);
  }

  /** on_http_response of `ep`, like runRequestPhase. */
  private runResponsePhase(policy: CompiledPolicy, ep: Endpoint, x: EdgeExchange, res: PolicyResponse): Promise<ResponseOutcome> {
    const also = x.decisions === undefined ? undefined : decisionTrace(x.decisions, ep.id, 'on_http_response');
    if (x.trace !== undefined) return x.trace.responsePhase(policy, x, ep.view, res, this, also);
    return also === undefined ? policy.runResponse(x, ep.view, res, this) : policy.traceResponse(x, ep.view, res, also, this);
  }

  private async responsePhase(ep: Endpoint, x: EdgeExchange, r: GatewayResponse): Promise<GatewayResponse> {
    const res: PolicyResponse = { status: r.status, headers: toHeaderMap(r.headers) };
    const out = await this.runResponsePhase(ep.policy!, ep, x, res);
    switch (out.kind) {
      case 'pass':
        r.status = res.status;
        r.headers = fromHeaderMap(res.headers);
        if (res.rewrite !== undefined && r.body !== null) {
          const failed = await rewriteResponseBody(r, res.rewrite, res.encode !== undefined);
          if (failed !== null) {
            this.log.warn('response-body-find-replace: response refused', { reqId: x.id, traceId: x.trace?.traceId, endpoint: ep.id, code: failed.errorCode });
            return failed;
          }
        }
        if (res.encode !== undefined && r.body !== null) r.body = encodeBody(r.body, res.encode);
        return r;
      case 'respond':
        discardBody(r);
        return synthetic(out.response);
      case 'close':
        discardBody(r);
        return { status: 0, headers: {}, body: null, close: true };
      case 'error':
        discardBody(r);
        return gatewayError(out.code, out.message);
    }
  }
}

/** Streams a body through a compressor (compress-response); errors on either side end both. */
function encodeBody(body: Readable | string, algo: 'gzip' | 'deflate' | 'br'): Readable {
  const z = algo === 'gzip' ? zlib.createGzip() : algo === 'deflate' ? zlib.createDeflate() : zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } });
  if (typeof body === 'string') {
    z.end(body);
    return z;
  }
  body.on('error', (e) => z.destroy(e));
  body.on('close', () => {
    if (!body.readableEnded) z.destroy(new Error('upstream body ended early'));
  });
  z.on('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(z);
  return z;
}

/** A PhaseTrace appending every rule evaluated and action run to `into` (request observers). */
function decisionTrace(into: PolicyDecision[], endpointId: string, phase: PolicyDecision['phase']): PhaseTrace {
  return {
    rule: (rule, matched) => into.push({ endpointId, phase, kind: 'rule', path: rule.path, name: rule.name ?? '', matched }),
    action: (a) => into.push({ endpointId, phase, kind: 'action', path: a.path, name: a.type }),
  };
}

/** Appends `extra` (Exchange.responseHeaders) to a response's headers. */
function withResponseHeaders(r: GatewayResponse, extra: HeaderMap): GatewayResponse {
  if (r.close) return r;
  for (const k in extra) {
    const have = r.headers[k];
    const list = have === undefined ? [] : Array.isArray(have) ? have.map(String) : [String(have)];
    r.headers[k] = [...list, ...extra[k]];
  }
  return r;
}

function synthetic(s: SyntheticResponse): GatewayResponse {
  const headers = fromHeaderMap(s.headers);
  headers['content-length'] = Buffer.byteLength(s.body);
  // a refusal made by an action (429 rate-limit, 401 basic-auth, ...) carries its code for metrics and logs
  const code = s.headers[ERROR_HEADER]?.[0] as ErrorCode | undefined;
  return code === undefined ? { status: s.status, headers, body: s.body } : { status: s.status, headers, body: s.body, errorCode: code };
}

function toHeaderMap(h: OutgoingHttpHeaders): HeaderMap {
  const out: HeaderMap = Object.create(null);
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String) : [String(v)];
  }
  return out;
}

function fromHeaderMap(h: HeaderMap): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const k in h) {
    const v = h[k];
    if (v.length) out[k] = v.length === 1 ? v[0] : v;
  }
  return out;
}

/** The detail of a gateway error body, without the catalog message in front of it. */
function errorMessageOf(body: string, code: ErrorCode): string {
  const msg = errorBodyMessage(body) ?? body;
  const prefix = `${ERRORS[code].message}: `;
  return msg.startsWith(prefix) ? msg.slice(prefix.length) : msg;
}
