/**
 * http-request through a real edge, agents and upstreams: the auth sub-request pattern against an
 * internal endpoint served by an agent (with its own policy), timeouts and retries against slow
 * and failing upstreams, on_error continue vs halt, the response phase, loopback URLs allowed by
 * edge.yaml (and others refused), and the nesting limit of an endpoint calling itself.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { eventually, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll, tempFiles } from '../helpers/procs.js';

/** An upstream in this process that counts the requests it sees per path. */
function countingUpstream(): Promise<{ server: http.Server; port: number; hits: Map<string, number>; cancelled: Set<string> }> {
  const hits = new Map<string, number>();
  const cancelled = new Set<string>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    req.resume();
    if (path === '/hang') {
      // never answers; records when the agent gives up on it
      res.on('close', () => cancelled.add(path));
      return;
    }
    if (path.startsWith('/flaky/')) {
      // fails twice, then answers
      res.writeHead(n <= 2 ? 503 : 200, { 'content-type': 'text/plain' });
      return res.end(n <= 2 ? 'busy' : `ok after ${n}`);
    }
    if (path === '/always503') {
      res.writeHead(503);
      return res.end('down');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ via: 'loopback', path }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, hits, cancelled })));
}

const R = 'actions.ngrok.http_request';

describe('http-request through a real edge, agents and upstreams', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;
  let counting: Awaited<ReturnType<typeof countingUpstream>>;

  before(async () => {
    counting = await countingUpstream();
    const ep = (host: string, policy: string) => `  - account: acme\n    url: ${host}\n    traffic_policy: |\n${policy.replace(/^/gm, '      ')}\n`;
    const show = (body: string) => `  - actions: [{type: custom-response, config: {body: "${body}"}}]`;
    edge = await startEdge(`
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
accounts: [{name: acme, authtokens: [tok_acme]}]
http_request: {allow_external: true, allowed_hosts: [127.0.0.1]}
cloud_endpoints:
${ep(
  'http://gate.example.com',
  `on_http_request:
  - actions:
      - type: http-request
        config:
          url: https://auth.internal/check
          headers: {authorization: "\${getReqHeader('authorization').join(',')}"}
  - expressions: ["${R}.res.status_code != 200"]
    actions: [{type: custom-response, config: {status_code: 401, body: "auth said \${${R}.res.status_code}"}}]
  - actions:
      - {type: add-headers, config: {headers: {x-auth-replica: "\${${R}.res.body.decodeJson().replica}"}}}
      - {type: forward-internal, config: {url: "https://app.internal"}}`,
)}${ep(
  'http://slow.example.com',
  `on_http_request:
  - expressions: ["req.url.path != '/hang'"]
    actions:
      - {type: http-request, config: {url: "https://app.internal/delay/5", timeout: 1s}}
  - expressions: ["req.url.path == '/hang'"]
    actions:
      - {type: http-request, config: {url: "https://flaky.internal/hang", timeout: 1s}}
${show(`\${${R}.error.code}|\${${R}.res.status_code}`)}`,
)}${ep(
  'http://slowhalt.example.com',
  `on_http_request:
  - actions:
      - {type: http-request, config: {url: "https://app.internal/delay/5", timeout: 1s, on_error: halt}}
${show('unreachable on timeout')}`,
)}${ep(
  'http://retry.example.com',
  `on_http_request:
  - actions:
      - type: http-request
        config: {url: "https://flaky.internal\${req.url.path}", timeout: 5s, retry_condition: "last_attempt.res.status_code >= 500"}
${show(`\${size(${R}.attempts)} \${${R}.res.status_code} \${${R}.res.body}`)}`,
)}${ep(
  'http://offline.example.com',
  `on_http_request:
  - actions:
      - {type: http-request, config: {url: "https://nobody.internal/"}}
${show(`continued: \${${R}.error.code}`)}`,
)}${ep(
  'http://offlinehalt.example.com',
  `on_http_request:
  - actions:
      - {type: http-request, config: {url: "https://nobody.internal/", on_error: halt}}
${show('unreachable when offline')}`,
)}${ep(
  'http://ext.example.com',
  `on_http_request:
  - expressions: ["req.url.path == '/allowed'"]
    actions:
      - {type: http-request, config: {url: "http://127.0.0.1:${counting.port}/ext", query_params: [{key: from, value: "\${req.host}"}]}}
  - expressions: ["req.url.path == '/refused'"]
    actions:
      - {type: http-request, config: {url: "http://localhost:${counting.port}/ext"}}
${show(`\${${R}.error.code}|\${${R}.res.body}`)}`,
)}${ep(
  'http://loop.example.com',
  `on_http_request:
  - actions:
      - {type: http-request, config: {url: "https://loop.internal/"}}
${show(`\${${R}.res.body}`)}`,
)}${ep(
  'https://loop.internal',
  `on_http_request:
  - actions:
      - {type: http-request, config: {url: "https://loop.internal/"}}
${show(`[\${${R}.res.body}|\${${R}.error.code}]`)}`,
)}${ep(
  'http://audit.example.com',
  `on_http_request:
  - actions: [{type: forward-internal, config: {url: "https://app.internal"}}]
on_http_response:
  - actions:
      - {type: http-request, config: {url: "https://app.internal/status/202", method: POST, body: "\${res.status_code}"}}
      - {type: add-headers, config: {headers: {x-side-status: "\${${R}.res.status_code}"}}}`,
)}`);
    const dir = tempFiles({
      'auth.yml': `on_http_request:
  - expressions: ["getReqHeader('authorization') != ['Bearer good']"]
    actions: [{type: custom-response, config: {status_code: 401, body: "no"}}]
`,
    });
    const [auth, app] = await Promise.all([startUpstream('auth'), startUpstream('app')]);
    await Promise.all([
      startAgent('agent-auth', { upstreamPort: auth.port, url: 'https://auth.internal', edge, authtoken: 'tok_acme', policyFile: join(dir, 'auth.yml') }),
      startAgent('agent-app', { upstreamPort: app.port, url: 'https://app.internal', edge, authtoken: 'tok_acme' }),
      startAgent('agent-flaky', { upstreamPort: counting.port, url: 'https://flaky.internal', edge, authtoken: 'tok_acme' }),
    ]);
  });

  after(async () => {
    await stopAll();
    await new Promise((r) => counting.server.close(r));
  });

  it('forwards when the auth sub-request answers 200, passing on a value from its body', async () => {
    const r = await send(edge.http, 'gate.example.com', '/orders', { headers: { authorization: 'Bearer good' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().replica, 'app');
    assert.equal(r.json().path, '/orders');
    assert.equal(r.json().headers['x-auth-replica'], 'auth');
  });

  it('answers 401 when the auth sub-request answers 401, and the app never sees the request', async () => {
    const r = await send(edge.http, 'gate.example.com', '/orders', { headers: { authorization: 'Bearer bad' } });
    assert.equal(r.status, 401);
    assert.equal(r.text, 'auth said 401');
    assert.equal(r.headers['x-replica'], undefined);
    const none = await send(edge.http, 'gate.example.com', '/orders');
    assert.equal(none.status, 401);
    assert.equal((await send(edge.http, 'gate.example.com', '/', { headers: { authorization: 'Bearer good' } })).status, 200);
  });

  it('gives up after the timeout (continue: the error is visible to later rules)', async () => {
    const t0 = performance.now();
    const r = await send(edge.http, 'slow.example.com', '/');
    const took = performance.now() - t0;
    assert.equal(r.status, 200);
    assert.equal(r.text, 'MG_HTTP_REQUEST_TIMEOUT|0');
    assert.ok(took >= 900 && took < 3000, `took ${Math.round(took)} ms`);
  });

  it('ends the request with 504 MG_HTTP_REQUEST_TIMEOUT on timeout with on_error: halt, and keeps serving', async () => {
    const r = await send(edge.http, 'slowhalt.example.com', '/');
    assert.equal(r.status, 504);
    assert.equal(r.headers['meshgate-error-code'], 'MG_HTTP_REQUEST_TIMEOUT');
    assert.equal((await send(edge.http, 'gate.example.com', '/', { headers: { authorization: 'Bearer good' } })).status, 200);
  });

  it('cancels the side call at the upstream when it times out', async () => {
    const r = await send(edge.http, 'slow.example.com', '/hang');
    assert.equal(r.text, 'MG_HTTP_REQUEST_TIMEOUT|0');
    assert.equal(counting.hits.get('/hang'), 1);
    await eventually('the upstream request was cancelled', async () => counting.cancelled.has('/hang'), 5_000);
  });

  it('retries a failing upstream while retry_condition holds, until it answers', async () => {
    const r = await send(edge.http, 'retry.example.com', '/flaky/a');
    assert.equal(r.text, '3 200 ok after 3');
    assert.equal(counting.hits.get('/flaky/a'), 3);
  });

  it('stops after 3 retries of an upstream that keeps failing', async () => {
    const r = await send(edge.http, 'retry.example.com', '/always503');
    assert.equal(r.text, '4 503 down');
    assert.equal(counting.hits.get('/always503'), 4);
  });

  it('on_error: continue lets later rules see a failed call; halt answers 502 MG_HTTP_REQUEST_FAILED', async () => {
    const cont = await send(edge.http, 'offline.example.com', '/');
    assert.equal(cont.status, 200);
    assert.equal(cont.text, 'continued: MG_HTTP_REQUEST_FAILED');
    const halt = await send(edge.http, 'offlinehalt.example.com', '/');
    assert.equal(halt.status, 502);
    assert.equal(halt.headers['meshgate-error-code'], 'MG_HTTP_REQUEST_FAILED');
    assert.match(halt.json().error.message, /nobody\.internal/);
  });

  it('calls a loopback URL the edge allows, and refuses one it does not', async () => {
    const ok = await send(edge.http, 'ext.example.com', '/allowed');
    assert.equal(ok.text, `|${JSON.stringify({ via: 'loopback', path: '/ext' })}`);
    assert.equal(counting.hits.get('/ext'), 1);
    const refused = await send(edge.http, 'ext.example.com', '/refused');
    assert.equal(refused.text, 'MG_HTTP_REQUEST_NOT_ALLOWED|');
    assert.equal(counting.hits.get('/ext'), 1);
  });

  it('stops an endpoint calling itself after 3 nested side calls', async () => {
    const r = await send(edge.http, 'loop.example.com', '/');
    assert.equal(r.status, 200);
    assert.equal(r.text, '[[[|MG_HTTP_REQUEST_LOOP]|]|]');
  });

  it('runs in on_http_response too', async () => {
    const r = await send(edge.http, 'audit.example.com', '/get');
    assert.equal(r.status, 200);
    assert.equal(r.json().replica, 'app');
    assert.equal(r.headers['x-side-status'], '202');
  });
});
