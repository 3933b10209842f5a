/**
 * Observers of finished requests. The public listeners call `finished` once per request after
 * the response ended (or the client went away); with no observer registered the listeners skip
 * all of it. An observer must not throw and must not block: it records, it does not wait.
 */
import type { Logger } from '../../core/log.js';
import type { GatewayResponse } from '../forward/gateway-response.js';
import type { EdgeExchange } from '../forward/exchange.js';
import type { Pool } from '../endpoints/registry.js';
import type { RequestRecord } from './request-record.js';

export interface RequestObserver {
  /** True when this observer needs the policy decisions of each request (costs a little per rule). */
  readonly wantsDecisions?: boolean;
  /**
   * Called once the request is routed to a public pool, before the pipeline reads anything of
   * it. May replace `x.body` with a stream yielding the same bytes (the inspector's tee); must
   * not read the body itself.
   */
  routed?(x: EdgeExchange, pool: Pool): void;
  /**
   * Called with the response before its head is written; may return a replacement (e.g. one whose
   * body is teed into a capture). Must keep the body streaming.
   */
  response?(x: EdgeExchange, g: GatewayResponse): GatewayResponse;
  /** Called once per request, after the response ended. */
  finished(rec: RequestRecord, x: EdgeExchange): void;
}

export class RequestObservers {
  private list: RequestObserver[] = [];
  wantsDecisions = false;

  constructor(private readonly log: Logger) {}

  add(o: RequestObserver): void {
    this.list = [...this.list, o];
    this.wantsDecisions ||= o.wantsDecisions === true;
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  routed(x: EdgeExchange, pool: Pool): void {
    for (const o of this.list) {
      if (!o.routed) continue;
      try {
        o.routed(x, pool);
      } catch (e) {
        this.log.error('request observer failed on the request', { reqId: x.id, err: e as Error });
      }
    }
  }

  response(x: EdgeExchange, g: GatewayResponse): GatewayResponse {
    for (const o of this.list) {
      if (!o.response) continue;
      try {
        g = o.response(x, g);
      } catch (e) {
        this.log.error('request observer failed on the response', { reqId: x.id, err: e as Error });
      }
    }
    return g;
  }

  finished(rec: RequestRecord, x: EdgeExchange): void {
    for (const o of this.list) {
      try {
        o.finished(rec, x);
      } catch (e) {
        this.log.error('request observer failed', { reqId: x.id, err: e as Error });
      }
    }
  }
}
