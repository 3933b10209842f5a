/**
 * The edge's Prometheus metrics (served at `/metrics` on the console listener):
 *
 *   meshgate_http_requests_total{endpoint,url,served_region,status,code}   counter
 *   meshgate_http_request_duration_seconds{endpoint,url}                    histogram
 *   meshgate_rate_limit_decisions_total{endpoint,limit,decision}            counter
 *   meshgate_pool_members{account,url}                                      gauge
 *   meshgate_endpoints{type,location}                                       gauge (location: local | remote)
 *   meshgate_tunnel_sessions                                                gauge
 *   meshgate_presence_endpoints{peer,region}                                gauge
 *   meshgate_presence_lag_seconds{peer,region}                              gauge: time since the peer was last heard
 *   meshgate_presence_rtt_seconds{peer,region}                              gauge
 *   meshgate_presence_peer_suspected{peer,region}                           gauge 0/1
 *   meshgate_admin_store_records                                            gauge
 *
 * Request series are labelled by the endpoint the request was addressed to (`endpoint`, `url`:
 * the entry endpoint, '' when no endpoint matched) and the region of the member that answered.
 */
import type { RequestObserver } from '../edge/observe/request-observers.js';
import type { RequestRecord } from '../edge/observe/request-record.js';
import { MetricsRegistry } from './metrics.js';

export interface EdgeMetricsSources {
  /** Every endpoint the edge knows (local and remote), for pools and counts. */
  endpoints(): Array<{ account: string; url: string; type: string; local: boolean }>;
  tunnelSessions(): number;
  peers(): Array<{ nodeId: string; region: string; endpoints: number; lastHeardMs: number; rttMs: number | undefined; suspected: boolean }>;
  storeRecords(): number;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class EdgeMetrics implements RequestObserver {
  readonly registry = new MetricsRegistry();
  readonly requests = this.registry.counter('meshgate_http_requests_total', 'HTTP requests answered, by entry endpoint, region of the member that answered, status and meshgate error code', ['endpoint', 'url', 'served_region', 'status', 'code']);
  readonly latency = this.registry.histogram('meshgate_http_request_duration_seconds', 'Time from request arrival to the end of the response', ['endpoint', 'url'], LATENCY_BUCKETS);
  readonly rateLimits = this.registry.counter('meshgate_rate_limit_decisions_total', 'rate-limit action decisions', ['endpoint', 'limit', 'decision']);

  constructor(sources: EdgeMetricsSources, now: () => number = () => performance.now()) {
    const r = this.registry;
    const pools = r.gauge('meshgate_pool_members', 'Members of each pool (local and remote agent endpoints, cloud endpoints)', ['account', 'url']);
    const endpoints = r.gauge('meshgate_endpoints', 'Endpoints known to this edge', ['type', 'location']);
    const sessions = r.gauge('meshgate_tunnel_sessions', 'Agent tunnel sessions connected to this edge');
    const presence = r.gauge('meshgate_presence_endpoints', 'Agent endpoints held for each peer edge', ['peer', 'region']);
    const lag = r.gauge('meshgate_presence_lag_seconds', 'Seconds since each peer edge was last heard (presence staleness bound)', ['peer', 'region']);
    const rtt = r.gauge('meshgate_presence_rtt_seconds', 'Last measured round-trip time to each peer edge', ['peer', 'region']);
    const suspected = r.gauge('meshgate_presence_peer_suspected', '1 while a peer edge is suspected dead', ['peer', 'region']);
    const records = r.gauge('meshgate_admin_store_records', 'Records in the admin store (all kinds, tombstones included)');
    r.onCollect(() => {
      for (const g of [pools, endpoints, presence, lag, rtt, suspected]) g.reset();
      const poolSizes = new Map<string, { account: string; url: string; n: number }>();
      const counts = new Map<string, number>();
      for (const e of sources.endpoints()) {
        const key = `${e.account}\u0001${e.url}`;
        const p = poolSizes.get(key);
        if (p) p.n++;
        else poolSizes.set(key, { account: e.account, url: e.url, n: 1 });
        const ck = `${e.type}\u0001${e.local ? 'local' : 'remote'}`;
        counts.set(ck, (counts.get(ck) ?? 0) + 1);
      }
      for (const p of poolSizes.values()) pools.set([p.account, p.url], p.n);
      for (const [k, n] of counts) endpoints.set(k.split('\u0001'), n);
      sessions.set([], sources.tunnelSessions());
      const t = now();
      for (const p of sources.peers()) {
        presence.set([p.nodeId, p.region], p.endpoints);
        lag.set([p.nodeId, p.region], Math.max(0, (t - p.lastHeardMs) / 1000));
        if (p.rttMs !== undefined) rtt.set([p.nodeId, p.region], p.rttMs / 1000);
        suspected.set([p.nodeId, p.region], p.suspected ? 1 : 0);
      }
      records.set([], sources.storeRecords());
    });
  }

  finished(rec: RequestRecord): void {
    const id = rec.entry?.id ?? '';
    const url = rec.entry?.url ?? '';
    this.requests.inc([id, url, rec.served?.region ?? '', String(rec.status), rec.errorCode]);
    this.latency.observe([id, url], rec.durationMs / 1000);
  }

  rateDecision(endpointId: string, limit: string, limited: boolean): void {
    this.rateLimits.inc([endpointId, limit, limited ? 'limited' : 'allowed']);
  }

  render(): string {
    return this.registry.render();
  }
}
