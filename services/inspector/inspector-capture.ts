/**
 * The Traffic Inspector's request observer: what each public request leaves in the edge's
 * CaptureStore.
 *
 * - Metadata, always: the RequestRecord the listeners make anyway (method, URL, status,
 *   latency, region, entry and serving member, policy decisions, logs, trace id). Cost per
 *   request: one small object and a ring slot; no header or body is copied.
 * - Full capture, when the request's account/endpoint has it on (capture-settings.ts): the
 *   request headers as received, the response headers as sent, and the first `max_body_bytes`
 *   of both bodies, copied while they stream (body-tee.ts) — never buffered beyond that.
 *
 * Requests that reached no endpoint (unknown host) belong to no account and are not kept.
 * Upgrades (WebSocket) keep metadata only: their "body" is a socket.
 */
import type { Readable } from 'node:stream';
import type { Pool } from '../edge/endpoints/registry.js';
import type { EdgeExchange } from '../edge/forward/exchange.js';
import type { GatewayResponse } from '../edge/forward/gateway-response.js';
import type { RequestObserver } from '../edge/observe/request-observers.js';
import type { RequestRecord } from '../edge/observe/request-record.js';
import { BodyCopy, teeBody } from './body-tee.js';
import { MAX_HEADER_BYTES, type CaptureStore, type FullCapture } from './capture-store.js';
import type { CaptureSettingsTable } from './capture-settings.js';

interface Pending {
  full: FullCapture;
  /** The request body's tee, when the request streams one. */
  reqTee?: Readable;
}

export class InspectorCapture implements RequestObserver {
  /** The console shows every rule and action of a request. */
  readonly wantsDecisions = true;
  private readonly pending = new WeakMap<EdgeExchange, Pending>();

  constructor(
    private readonly store: CaptureStore,
    private readonly settings: CaptureSettingsTable,
  ) {}

  routed(x: EdgeExchange, pool: Pool): void {
    const url = pool.members[0]?.url.url;
    if (url === undefined || this.store.maxCaptureBytes === 0) return;
    const s = this.settings.resolve(pool.account, url);
    if (!s.full) return;
    const [reqHeaders, reqHeadersTruncated] = capHeaders(x.req.rawHeaders);
    const full: FullCapture = { maxBodyBytes: s.maxBodyBytes, reqHeaders, reqHeadersTruncated, reqBody: null, resHeaders: [], resHeadersTruncated: false, resBody: null, bytes: 0 };
    const p: Pending = { full };
    if (x.req.body !== undefined) {
      full.reqBody = BodyCopy.of(x.req.body, s.maxBodyBytes);
    } else if (x.hasBody && x.upgrade === undefined) {
      full.reqBody = new BodyCopy(s.maxBodyBytes);
      p.reqTee = x.body = teeBody(x.body, full.reqBody);
    }
    this.pending.set(x, p);
  }

  response(x: EdgeExchange, g: GatewayResponse): GatewayResponse {
    const p = this.pending.get(x);
    if (p === undefined || g.close) return g;
    const full = p.full;
    const raw: string[] = [];
    for (const k in g.headers) {
      const v = g.headers[k];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const one of v) raw.push(k, String(one));
      else raw.push(k, String(v));
    }
    [full.resHeaders, full.resHeadersTruncated] = capHeaders(raw);
    if (g.upgraded !== undefined || g.body === null) return g;
    if (typeof g.body === 'string') {
      full.resBody = BodyCopy.of(g.body, full.maxBodyBytes);
      return g;
    }
    full.resBody = new BodyCopy(full.maxBodyBytes);
    return { ...g, body: teeBody(g.body, full.resBody) };
  }

  finished(rec: RequestRecord, x: EdgeExchange): void {
    const p = this.pending.get(x);
    if (p !== undefined) {
      this.pending.delete(x);
      // Answered without reading the body (a policy's own answer): drain it as Node would have,
      // so a keep-alive connection can carry the next request.
      if (p.reqTee !== undefined && p.reqTee.readableFlowing === null) p.reqTee.resume();
    }
    if (!x.account || rec.entry === undefined) return;
    const full = p?.full;
    if (full !== undefined) full.bytes = sizeOf(full);
    this.store.add({ rec, account: x.account, url: rec.entry.url, hostHeader: x.hostHeader, replayOf: x.replayOf ?? '', full, dropped: false });
  }
}

/** Header pairs kept within MAX_HEADER_BYTES; the flag says whether some were left out. */
function capHeaders(raw: readonly string[]): [string[], boolean] {
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    bytes += raw[i].length + raw[i + 1].length;
    if (bytes > MAX_HEADER_BYTES) return [raw.slice(0, i), true];
  }
  return [raw.slice(), false];
}

/** Bytes a full capture may hold: headers, plus each body's limit while it still streams. */
function sizeOf(f: FullCapture): number {
  let n = 256;
  for (const h of f.reqHeaders) n += h.length;
  for (const h of f.resHeaders) n += h.length;
  for (const b of [f.reqBody, f.resBody]) if (b !== null) n += b.ended ? b.kept : b.limit;
  return n;
}
