/**
 * Endpoint pools on one edge: conflicts refused at registration, internal endpoints unreachable
 * from the public listeners, account isolation, wildcard precedence, heterogeneous pools.
 */
import assert from 'node:assert/strict';
import { send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { meshgateRun, stopAll } from '../helpers/procs.js';

const EDGE = `
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
accounts:
  - {name: acme, authtokens: [tok_acme]}
  - {name: globex, authtokens: [tok_globex]}
cloud_endpoints:
  - account: acme
    url: http://acme.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]
  - account: globex
    url: http://globex.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]
  - account: acme
    url: http://mixed.example.com
    pooling_enabled: true
    traffic_policy: |
      on_http_request:
        - actions: [{type: custom-response, config: {status_code: 200, body: "from-cloud"}}]
`;

describe('endpoint pools on one edge', function () {
  this.timeout(90_000);
  let edge: EdgeHandle;
  let up: { a: number; b: number };

  before(async () => {
    edge = await startEdge(EDGE);
    const [a, b] = await Promise.all([startUpstream('acme-foo'), startUpstream('globex-foo')]);
    up = { a: a.port, b: b.port };
    await startAgent('acme-foo', { upstreamPort: up.a, url: 'https://foo.internal', edge, authtoken: 'tok_acme' });
  });
  after(stopAll);

  const refused = async (args: string[]) => {
    const r = await meshgateRun(['agent', 'http', ...args, '--edge', edge.tunnel]);
    assert.equal(r.code, 1, `expected exit 1, got ${r.code}\n${r.stderr}`);
    return r.stderr;
  };

  it('refuses a second endpoint on a taken URL without pooling, naming the fix', async () => {
    const err = await refused([String(up.a), '--url', 'https://foo.internal', '--authtoken', 'tok_acme']);
    assert.match(err, /MG_POOL_CONFLICT/);
    assert.match(err, /--pooling-enabled/);
  });

  it('refuses a pooled endpoint when the endpoint already online has pooling off', async () => {
    const err = await refused([String(up.a), '--url', 'https://foo.internal', '--authtoken', 'tok_acme', '--pooling-enabled']);
    assert.match(err, /MG_POOL_CONFLICT/);
    assert.match(err, /already online does not have pooling enabled/);
  });

  it('refuses pool members with a different scheme on the same host and port', async () => {
    const err = await refused([String(up.a), '--url', 'http://foo.internal:443', '--authtoken', 'tok_acme', '--pooling-enabled']);
    assert.match(err, /MG_POOL_SCHEME_MISMATCH/);
  });

  it('keeps internal endpoints unreachable from the public listeners', async () => {
    const r = await send(edge.http, 'foo.internal', '/get');
    assert.equal(r.status, 404);
    assert.equal(r.headers['meshgate-error-code'], 'MG_ENDPOINT_NOT_FOUND');
  });

  it("namespaces internal URLs per account: globex never reaches acme's foo.internal", async () => {
    const before = await send(edge.http, 'globex.example.com', '/get');
    assert.equal(before.status, 502);
    assert.equal(before.headers['meshgate-error-code'], 'MG_FORWARD_TARGET_OFFLINE');
    const { proc } = await startAgent('globex-foo', { upstreamPort: up.b, url: 'https://foo.internal', edge, authtoken: 'tok_globex' });
    for (let i = 0; i < 10; i++) {
      assert.equal((await send(edge.http, 'globex.example.com', '/get')).json().replica, 'globex-foo');
      assert.equal((await send(edge.http, 'acme.example.com', '/get')).json().replica, 'acme-foo');
    }
    await proc.stop();
  });

  it('refuses a public URL that another account holds, even with pooling', async () => {
    const { proc } = await startAgent('acme-www', { upstreamPort: up.a, url: 'https://www.acme.test', edge, authtoken: 'tok_acme', pooling: true });
    const err = await refused([String(up.b), '--url', 'https://www.acme.test', '--authtoken', 'tok_globex', '--pooling-enabled']);
    assert.match(err, /MG_POOL_CONFLICT/);
    assert.match(err, /another account/);
    await proc.stop();
  });

  it('routes to the most specific endpoint: exact host before wildcard, wildcard at any depth', async () => {
    const wild = await startAgent('wild', { upstreamPort: up.a, url: 'http://*.apps.acme.test', edge, authtoken: 'tok_acme' });
    const exact = await startAgent('exact', { upstreamPort: up.b, url: 'http://x.apps.acme.test', edge, authtoken: 'tok_acme' });
    assert.equal((await send(edge.http, 'x.apps.acme.test', '/get')).json().replica, 'globex-foo');
    assert.equal((await send(edge.http, 'deep.y.apps.acme.test', '/get')).json().replica, 'acme-foo');
    assert.equal((await send(edge.http, 'apps.acme.test', '/get')).status, 404);
    await Promise.all([wild.proc.stop(), exact.proc.stop()]);
  });

  it('pools an agent endpoint with a cloud endpoint and runs the chosen member\'s own policy', async () => {
    const { proc } = await startAgent('mixed', { upstreamPort: up.a, url: 'http://mixed.example.com', edge, authtoken: 'tok_acme', pooling: true });
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = await send(edge.http, 'mixed.example.com', '/get');
      seen.add(r.text === 'from-cloud' ? 'cloud' : r.json().replica);
    }
    assert.deepEqual([...seen].sort(), ['acme-foo', 'cloud']);
    await proc.stop();
    // The pool shrinks to the cloud member alone once the agent is gone.
    for (let i = 0; i < 10; i++) assert.equal((await send(edge.http, 'mixed.example.com', '/get')).text, 'from-cloud');
  });

  it('withdraws an endpoint as soon as its agent disconnects', async () => {
    const { proc } = await startAgent('short', { upstreamPort: up.a, url: 'http://short.acme.test', edge, authtoken: 'tok_acme' });
    assert.equal((await send(edge.http, 'short.acme.test', '/get')).status, 200);
    await proc.stop();
    const r = await send(edge.http, 'short.acme.test', '/get');
    assert.equal(r.status, 404);
    assert.equal(r.headers['meshgate-error-code'], 'MG_ENDPOINT_NOT_FOUND');
    assert.equal((await send(edge.http, 'acme.example.com', '/get')).status, 200, 'other endpoints keep serving');
  });
});
