/**
 * Replaying a captured request (InspectorService.Replay), on the edge that captured it.
 *
 * The replay is a new request built in-process from the capture — method, path and query,
 * the client's headers and body, optionally changed — and served exactly like one that arrived
 * on the public listener: routed by host to the endpoint's *current* pool, through the current
 * Traffic Policy of the member picked, forwarded to its agent, observed (metrics, access
 * event) and captured by the inspector, with the original client's address as `conn.client_ip`.
 * The edge adds `meshgate-replay-of: <original id>` for the upstream (x.replayOf; a client
 * cannot set it, to-agent.ts drops every client `meshgate-*` header). Going through the
 * pipeline rather than the edge's own listener needs no listener to be reachable (an
 * https-only or firewalled edge replays the same) and lets the edge set that header itself.
 *
 * A replay needs what the capture may lack: the headers (metadata-only captures have none) and
 * the whole body (a truncated one). Then it is refused with MG_REPLAY_INCOMPLETE, unless the
 * call supplies a body for a truncated one. The replay's response is read up to a limit (the
 * rest is counted and discarded) and waits at most REPLAY_TIMEOUT_MS.
 */
import { PassThrough, Readable } from 'node:stream';
import { MeshgateError } from '../core/errors.js';
import type { Pool, EndpointRegistry } from '../edge/endpoints/registry.js';
import { EdgeRequest, newRequestId, type EdgeExchange } from '../edge/forward/exchange.js';
import { gatewayError, type GatewayResponse } from '../edge/forward/gateway-response.js';
import { REPLAY_OF_HEADER } from '../edge/forward/to-agent.js';
import { observeRequest } from '../edge/observe/observe-request.js';
import type { RequestObservers } from '../edge/observe/request-observers.js';
import type { ReplayRequest, ReplayResult } from '../gen/admin.js';
import { headerPairs } from './capture-message.js';
import type { EdgeTracer } from '../telemetry/tracing.js';
import type { CapturedRequest } from './capture-store.js';

/** Longest a replay may take, head and body (below the admin client's 10 s deadline). */
export const REPLAY_TIMEOUT_MS = 8_000;
/** Response body bytes a replay result carries at least. */
const RESULT_BODY_BYTES = 64 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const FIELD_VALUE = /^[^\u0000-\u0008\u000a-\u001f\u007f]*$/;

export interface ReplayDeps {
  registry: EndpointRegistry;
  /** The pipeline: serves a request for a public pool. */
  serve(pool: Pool, x: EdgeExchange): Promise<GatewayResponse>;
  /** Tracing, when on: the replay is a trace of its own. */
  tracer: EdgeTracer | undefined;
  observers: RequestObservers;
  region: string;
}

/** Checks the request and builds the replay's exchange; throws MG_REPLAY_INCOMPLETE / MG_ADMIN_REQUEST_INVALID. */
export function replayExchange(c: CapturedRequest, req: ReplayRequest, region: string, signal: AbortSignal): EdgeExchange {
  const r = c.rec;
  if (r.status === 101) throw new MeshgateError('MG_REPLAY_INCOMPLETE', { field: 'id', detail: `${r.id} was an upgrade (WebSocket); only plain requests are replayed` });
  const full = c.full;
  if (full === undefined) {
    throw new MeshgateError('MG_REPLAY_INCOMPLETE', {
      field: 'id',
      detail: c.dropped
        ? `the headers and body of ${r.id} were dropped to keep the inspector within inspector.max_capture_bytes`
        : `only metadata was captured for ${r.id}; turn on full capture for its endpoint (meshgate inspect capture --endpoint ${c.url} --full) and send the request again`,
    });
  }
  let body: Buffer;
  if (req.body !== undefined) body = Buffer.from(req.body);
  else if (full.reqBody === null) body = Buffer.alloc(0);
  else if (full.reqBody.truncated || !full.reqBody.ended) {
    throw new MeshgateError('MG_REPLAY_INCOMPLETE', {
      field: 'body',
      detail: `only ${full.reqBody.kept} of the ${full.reqBody.size} body bytes of ${r.id} were captured (max_body_bytes ${full.maxBodyBytes}${full.reqBody.ended ? '' : ', and the body did not end'}); give the body to send`,
    });
  } else body = full.reqBody.bytes();
  if (full.reqHeadersTruncated) throw new MeshgateError('MG_REPLAY_INCOMPLETE', { field: 'id', detail: `the headers of ${r.id} were longer than the capture keeps` });

  const method = req.method ?? r.method;
  if (!TOKEN.test(method)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'method', detail: `'${method}' is not an HTTP method` });
  let path = r.path;
  let query = r.query;
  if (req.path !== undefined) {
    // eslint-disable-next-line no-control-regex
    if (!req.path.startsWith('/') || /[\s\u0000-\u001f\u007f]/.test(req.path)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'path', detail: `must start with '/' and hold no spaces or control characters, got '${req.path}'` });
    const q = req.path.indexOf('?');
    path = q === -1 ? req.path : req.path.slice(0, q);
    query = q === -1 ? '' : req.path.slice(q + 1);
  }

  const drop = new Set(['content-length', 'transfer-encoding', REPLAY_OF_HEADER, ...req.removeHeaders.map((h) => h.toLowerCase())]);
  req.setHeaders.forEach((h, i) => {
    const name = h.name.toLowerCase();
    if (!TOKEN.test(h.name)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: `set_headers[${i}].name`, detail: `'${h.name}' is not a header name` });
    if (!FIELD_VALUE.test(h.value)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: `set_headers[${i}].value`, detail: 'must not hold line breaks or control characters' });
    if (name === 'host') throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: `set_headers[${i}].name`, detail: 'a replay goes to the endpoint of the original request; its Host cannot change' });
    drop.add(name);
  });
  const raw: string[] = [];
  const had = full.reqHeaders;
  let hadLength = false;
  for (let i = 0; i < had.length; i += 2) {
    const name = had[i].toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding') hadLength = true;
    if (name === 'host' || !drop.has(name)) raw.push(had[i], had[i + 1]);
  }
  for (const h of req.setHeaders) raw.push(h.name, h.value);
  const hasBody = body.length > 0;
  if (hasBody || hadLength) raw.push('content-length', String(body.length));
  raw.push(REPLAY_OF_HEADER, r.id);

  const hostHeader = c.hostHeader || r.host;
  const portText = /:(\d+)$/.exec(hostHeader)?.[1];
  return {
    id: newRequestId(),
    req: new EdgeRequest(method, r.scheme, r.host, Number(portText) || (r.scheme === 'https' ? 443 : 80), path, query, '1.1', raw),
    conn: { clientIp: r.clientIp, clientPort: 0, serverIp: '', serverPort: 0, serverRegion: region, startedAt: new Date() },
    depth: 0,
    hostHeader,
    account: '',
    body: hasBody ? Readable.from([body], { objectMode: false }) : Readable.from([]),
    hasBody,
    bodyUsed: false,
    signal,
    replayOf: r.id,
  };
}

/** Sends the replay and reads its response (see the top of this file). */
export async function replay(deps: ReplayDeps, c: CapturedRequest, req: ReplayRequest, nodeId: string): Promise<ReplayResult> {
  const abort = new AbortController();
  const x = replayExchange(c, req, deps.region, abort.signal);
  const started = performance.now();
  const timer = setTimeout(() => abort.abort(), REPLAY_TIMEOUT_MS);
  if (deps.tracer !== undefined) x.trace = deps.tracer.replay(x, c.rec.id);
  const o = observeRequest(deps.observers, x, deps.region);
  const done = new PassThrough();
  o.watch(done);
  /** What the replay's trace records when it ends: status and error code. */
  let answer: [number, string | undefined] = [500, 'MG_INTERNAL'];
  try {
    const pool = deps.registry.lookupPublic(x.req.scheme, x.req.host);
    let g: GatewayResponse;
    if (pool === undefined) g = o.respond(gatewayError('MG_ENDPOINT_NOT_FOUND', `${x.req.scheme}://${x.req.host}`));
    else {
      o.routed(pool);
      g = o.respond(await deps.serve(pool, x));
    }
    if (g.upgraded) g.upgraded.destroy();
    const limit = Math.max(RESULT_BODY_BYTES, c.full?.maxBodyBytes ?? 0);
    const read = await readHead(g.body, limit, abort.signal);
    if (read === 'timeout') {
      answer = [504, 'MG_UPSTREAM_TIMEOUT'];
      throw new MeshgateError('MG_UPSTREAM_TIMEOUT', { detail: `the replay of ${c.rec.id} did not complete within ${REPLAY_TIMEOUT_MS / 1000} s` });
    }
    answer = [g.close ? 0 : g.status, g.errorCode];
    const headers: string[] = [];
    for (const k in g.headers) {
      const v = g.headers[k];
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) headers.push(k, String(one));
    }
    return {
      id: x.id,
      replayOf: c.rec.id,
      nodeId,
      region: deps.region,
      status: g.close ? 0 : g.status,
      errorCode: g.errorCode ?? '',
      headers: headerPairs(headers),
      body: read.body,
      bodySize: read.size,
      bodyTruncated: read.size > read.body.length,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      traceId: x.trace?.traceId ?? '',
    };
  } finally {
    clearTimeout(timer);
    x.trace?.answered(answer[0], answer[1]);
    done.destroy();
  }
}

/** Reads at most `limit` bytes of a response body, counting (and discarding) the rest. */
function readHead(body: GatewayResponse['body'], limit: number, signal: AbortSignal): Promise<{ body: Buffer; size: number } | 'timeout'> {
  if (body === null) return Promise.resolve({ body: Buffer.alloc(0), size: 0 });
  if (typeof body === 'string') {
    const b = Buffer.from(body);
    return Promise.resolve({ body: b.subarray(0, limit), size: b.length });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let size = 0;
    let settled = false;
    const finish = (r: { body: Buffer; size: number } | 'timeout') => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => {
      body.destroy();
      finish('timeout');
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    body.on('data', (c: Buffer) => {
      size += c.length;
      if (kept < limit) {
        const part = c.subarray(0, limit - kept);
        chunks.push(Buffer.from(part));
        kept += part.length;
      }
    });
    body.once('end', () => finish({ body: Buffer.concat(chunks, kept), size }));
    body.once('error', () => {});
    body.once('close', () => finish({ body: Buffer.concat(chunks, kept), size }));
  });
}
