/**
 * The observed path of a public request: decisions recorded when an observer wants them, the
 * response passed through the observers before its head is written, and one RequestRecord when
 * the response has ended (or the client went away). Used by the public listeners only when an
 * observer is registered; otherwise they write responses directly.
 */
import type { Http2ServerResponse } from 'node:http2';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EdgeExchange } from '../forward/exchange.js';
import type { GatewayResponse } from '../forward/gateway-response.js';
import type { RequestObservers } from './request-observers.js';
import type { Pool } from '../endpoints/registry.js';
import { servedBy, type RequestRecord } from './request-record.js';

export interface ObservedRequest {
  /** Call once the request has a pool, before the pipeline serves it. */
  routed(pool: Pool): void;
  /** Call with the response instead of writing it; returns what must be written. */
  respond(g: GatewayResponse): GatewayResponse;
  /** Call once the response is on its way: the record is made when `closed` fires. */
  watch(closable: ServerResponse | Http2ServerResponse | Duplex): void;
}

export function observeRequest(obs: RequestObservers, x: EdgeExchange, region: string): ObservedRequest {
  const startedAt = Date.now();
  const t0 = performance.now();
  const head = { method: x.req.method, scheme: x.req.scheme, host: x.req.host, path: x.req.path, query: x.req.query };
  if (obs.wantsDecisions) x.decisions = [];
  let answer: GatewayResponse | undefined;
  let recorded = false;
  const record = () => {
    if (recorded) return;
    recorded = true;
    const g = answer;
    const rec: RequestRecord = {
      id: x.id,
      startedAt,
      durationMs: performance.now() - t0,
      ...head,
      status: g === undefined || g.close ? 0 : g.upgraded ? 101 : g.status,
      errorCode: g?.errorCode ?? '',
      region,
      clientIp: x.conn.clientIp,
      entry: x.entry ? servedBy(x.entry) : undefined,
      served: x.served ? servedBy(x.served) : undefined,
      logs: x.logs ?? [],
      decisions: x.decisions,
      traceId: x.trace?.traceId ?? '',
    };
    obs.finished(rec, x);
  };
  return {
    routed(pool) {
      obs.routed(x, pool);
    },
    respond(g) {
      answer = obs.response(x, g);
      return answer;
    },
    watch(closable) {
      closable.once('close', record);
    },
  };
}
