/**
 * Metrics, health and access events of a real edge (separate processes: edge, agent, upstream):
 * `/metrics` parses as Prometheus text and its counters match the traffic sent; `/readyz` fails
 * while the edge drains; one access event per request carries the `log` action's metadata.
 */
import assert from 'node:assert/strict';
import { request } from 'undici';
import { eventually, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';
import { parsePrometheus, sample, type Sample } from '../helpers/prometheus.js';

const POLICY = `
on_http_request:
  - actions:
      - type: log
        config: {metadata: {tenant: "\${req.headers[?'x-tenant'].orValue(['none'])[0]}"}}
  - expressions: ["req.url.path == '/limited'"]
    actions:
      - type: rate-limit
        config: {name: tight, algorithm: sliding_window, capacity: 3, rate: 60s, bucket_key: [conn.client_ip]}
`;

async function get(url: string): Promise<{ status: number; text: string; type: string }> {
  const r = await request(url);
  return { status: r.statusCode, text: await r.body.text(), type: String(r.headers['content-type'] ?? '') };
}

describe('observability: /metrics, /healthz, /readyz and access events (real edge, agent, upstream)', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;
  let consoleAddr: string;
  after(() => stopAll());

  before(async () => {
    edge = await startEdge(`
region: eu
node_id: eu-obs
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", console: "127.0.0.1:0"}
access_log: stdout
accounts: [{name: acme, authtokens: [tok_acme]}]
`, { 'agent-policy.yml': POLICY });
    consoleAddr = edge.proc.logs().find((l) => l.msg === 'ready')!.listeners.console;
    const up = await startUpstream('obs-up');
    await startAgent('obs-agent', { upstreamPort: up.port, url: 'http://api.example.com', edge, authtoken: 'tok_acme', policyFile: `${edge.dir}/agent-policy.yml` });
  });

  it('answers /healthz and /readyz while serving', async () => {
    assert.equal((await get(`http://${consoleAddr}/healthz`)).status, 200);
    const ready = await get(`http://${consoleAddr}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.text), { status: 'ready' });
    assert.equal((await get(`http://${consoleAddr}/nope`)).status, 404);
  });

  it('serves /metrics as Prometheus text whose counters match the traffic sent', async () => {
    const before = parsePrometheus((await get(`http://${consoleAddr}/metrics`)).text);
    const count = (samples: Sample[], labels: Record<string, string>) => sample(samples, 'meshgate_http_requests_total', labels)?.value ?? 0;
    const ok0 = count(before, { url: 'http://api.example.com', status: '200' });

    for (let i = 0; i < 7; i++) assert.equal((await send(edge.http, 'api.example.com', '/get', { headers: { 'x-tenant': 'blue' } })).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await send(edge.http, 'api.example.com', '/status', { headers: { 'x-demo-status': '503' } })).status, 503);
    for (let i = 0; i < 3; i++) assert.equal((await send(edge.http, 'nobody.example.com')).status, 404);
    const limited = [];
    for (let i = 0; i < 5; i++) limited.push((await send(edge.http, 'api.example.com', '/limited')).status);
    assert.deepEqual(limited, [200, 200, 200, 429, 429]);

    const page = await get(`http://${consoleAddr}/metrics`);
    assert.match(page.type, /^text\/plain; version=0\.0\.4/);
    const m = parsePrometheus(page.text);
    assert.equal(count(m, { url: 'http://api.example.com', status: '200' }) - ok0, 7 + 3, '200s: 7 /get and 3 allowed /limited');
    assert.equal(count(m, { url: 'http://api.example.com', status: '503', code: '' }), 2, 'upstream 503s carry no gateway code');
    assert.equal(count(m, { url: '', status: '404', code: 'MG_ENDPOINT_NOT_FOUND' }), 3);
    assert.equal(count(m, { url: 'http://api.example.com', status: '429', code: 'MG_RATE_LIMITED' }), 2);
    assert.equal(sample(m, 'meshgate_http_requests_total', { url: 'http://api.example.com', status: '200' })?.labels.served_region, 'eu');
    assert.equal(sample(m, 'meshgate_rate_limit_decisions_total', { limit: 'tight', decision: 'allowed' })?.value, 3);
    assert.equal(sample(m, 'meshgate_rate_limit_decisions_total', { limit: 'tight', decision: 'limited' })?.value, 2);

    // the histogram's count is every request to the endpoint, and its buckets never decrease
    const total = m.filter((s) => s.name === 'meshgate_http_requests_total' && s.labels.url === 'http://api.example.com').reduce((a, s) => a + s.value, 0);
    assert.equal(sample(m, 'meshgate_http_request_duration_seconds_count', { url: 'http://api.example.com' })?.value, total);
    const buckets = m.filter((s) => s.name === 'meshgate_http_request_duration_seconds_bucket' && s.labels.url === 'http://api.example.com');
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'cumulative buckets');
    assert.equal(buckets.at(-1)?.labels.le, '+Inf');
    assert.equal(buckets.at(-1)?.value, total);

    assert.equal(sample(m, 'meshgate_tunnel_sessions', {})?.value, 1);
    assert.equal(sample(m, 'meshgate_pool_members', { url: 'http://api.example.com', account: 'acme' })?.value, 1);
    assert.equal(sample(m, 'meshgate_endpoints', { type: 'agent', location: 'local' })?.value, 1);
  });

  it('writes one access event per request with the log action metadata', async () => {
    const r = await send(edge.http, 'api.example.com', '/get?x=1', { headers: { 'x-tenant': 'green' } });
    const event = await eventually('the access event', async () => edge.proc.stdout.some((l) => l.includes(`"id":"${r.headers['x-request-id'] ?? ''}"`) || l.includes('"tenant":"green"')));
    assert.ok(event >= 0);
    const line = edge.proc.stdout.find((l) => l.includes('"tenant":"green"'))!;
    const e = JSON.parse(line);
    assert.equal(e.event_type, 'http_request_complete.v0');
    assert.equal(e.http.request.method, 'GET');
    assert.equal(e.http.request.url, 'http://api.example.com/get?x=1');
    assert.equal(e.http.response.status_code, 200);
    assert.equal(e.conn.server_region, 'eu');
    assert.equal(e.served_by.type, 'agent');
    assert.deepEqual(e.traffic_policy.logs[0].metadata, { tenant: 'green' });
    const events = edge.proc.stdout.filter((l) => l.startsWith('{') && l.includes('http_request_complete'));
    assert.equal(events.length, 7 + 2 + 3 + 5 + 1, 'one event per request sent so far');
  });

  it('fails /readyz while draining, and still finishes the request in flight', async () => {
    const slow = send(edge.http, 'api.example.com', '/delay/1');
    await new Promise((r) => setTimeout(r, 150));
    edge.proc.child.kill('SIGTERM');
    await eventually('readyz reports draining', async () => {
      const r = await get(`http://${consoleAddr}/readyz`);
      return r.status === 503 && JSON.parse(r.text).status === 'draining';
    }, 3_000, 20);
    assert.equal((await slow).status, 200);
    await edge.proc.exited;
  });
});
