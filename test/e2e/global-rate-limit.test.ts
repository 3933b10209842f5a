/**
 * rate-limit with `scope: global` (a meshgate extension): one sliding window shared by every
 * edge through Redis. Three edges, a real redis-server, 300 requests spread over the edges
 * against a capacity of 100.
 */
import assert from 'node:assert/strict';
import { clusterEdgeYaml, send, startEdge, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const policy = (scope: string) => `
on_http_request:
  - actions:
      - type: rate-limit
        config:
          name: api-${scope}
          algorithm: sliding_window
          capacity: 100
          rate: 60s
          scope: ${scope}
          bucket_key: ["'everyone'"]
      - type: custom-response
        config: {status_code: 200, body: "ok"}
`;

function edgeYaml(region: string, redis: string, seeds: string[]): string {
  return clusterEdgeYaml(region, seeds, '', {
    redis,
    endpoints: `
  - {account: acme, url: "http://global.example.com", traffic_policy_file: global.yml}
  - {account: acme, url: "http://local.example.com", traffic_policy_file: local.yml}`,
  });
}

describe('rate-limit scope: global across three edges (real redis-server)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let edges: EdgeHandle[];

  before(async () => {
    redis = await startRedisServer();
    const files = { 'global.yml': policy('global'), 'local.yml': policy('local') };
    const eu = await startEdge(edgeYaml('eu', redis.url, []), files, 'rl-eu');
    const seed = String(eu.proc.logs().find((l) => l.msg === 'ready')!.listeners.peer);
    edges = [eu, ...(await Promise.all(['us', 'jp'].map((r) => startEdge(edgeYaml(r, redis.url, [seed]), files, `rl-${r}`))))];
  });
  after(async () => {
    await stopAll();
    await redis.stop();
  });

  const spray = async (host: string, n: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i += 30) {
      const batch = Array.from({ length: Math.min(30, n - i) }, (_, j) => send(edges[(i + j) % 3].http, host, '/'));
      for (const r of await Promise.all(batch)) statuses.push(r.status);
    }
    return statuses;
  };

  it('allows 100±5 of 300 requests spread over three edges against a capacity of 100', async () => {
    const statuses = await spray('global.example.com', 300);
    const allowed = statuses.filter((s) => s === 200).length;
    console.log(`      global: ${allowed} of 300 allowed, ${statuses.filter((s) => s === 429).length} answered 429`);
    assert.ok(Math.abs(allowed - 100) <= 5, `allowed ${allowed}`);
    assert.equal(allowed + statuses.filter((s) => s === 429).length, 300);
    const limited = await send(edges[1].http, 'global.example.com', '/');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['meshgate-error-code'], 'MG_RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });

  it('counts per edge with scope: local (each edge allows its own 100)', async () => {
    const statuses = await spray('local.example.com', 330);
    assert.equal(statuses.filter((s) => s === 200).length, 300);
  });

  it('falls back to counting per edge when Redis is down, and says so', async () => {
    await redis.kill();
    const r = await send(edges[0].http, 'global.example.com', '/');
    assert.ok(r.status === 200 || r.status === 429, `status ${r.status}`);
    await edges[0].proc.waitLine((l) => l.includes('global rate limits are counted per edge'), 5_000);
    await redis.start();
  });
});
