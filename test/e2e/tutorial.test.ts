/**
 * The ngrok multi-cloud API gateway tutorial on one edge, with real processes: two replicas
 * of foo pooled on https://foo.internal, one bar on https://bar.internal, a cloud endpoint
 * routing by path and one routing by header.
 */
import assert from 'node:assert/strict';
import { send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';

export const TUTORIAL_EDGE = `
region: eu
node_id: eu-1
listen:
  http: 127.0.0.1:0
  https: 127.0.0.1:0
  tunnel: 127.0.0.1:0
accounts:
  - name: acme
    authtokens: [tok_acme]
cloud_endpoints:
  - account: acme
    url: https://api.example.com
    traffic_policy: |
      on_http_request:
        - expressions: ["req.url.path.startsWith('/foo')"]
          actions:
            - type: forward-internal
              config: {url: "https://foo.internal"}
        - expressions: ["req.url.path.startsWith('/bar')"]
          actions:
            - type: forward-internal
              config: {url: "https://bar.internal"}
        - actions:
            - type: custom-response
              config: {status_code: 403, body: "no route for this path"}
  - account: acme
    url: https://headers.example.com
    traffic_policy_file: header-routing.yml
`;

export const HEADER_POLICY = `
on_http_request:
  - expressions: ["'x-api' in req.headers"]
    actions:
      - type: forward-internal
        config:
          url: "https://\${req.headers['x-api'][0]}.internal"
  - actions:
      - type: custom-response
        config:
          status_code: 403
          body: "send an x-api header"
`;

describe('tutorial: cloud endpoint routing to internal endpoint pools (one edge)', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;

  before(async () => {
    edge = await startEdge(TUTORIAL_EDGE, { 'header-routing.yml': HEADER_POLICY });
    const [foo1, foo2, bar1] = await Promise.all([startUpstream('foo-1'), startUpstream('foo-2'), startUpstream('bar-1')]);
    await Promise.all([
      startAgent('agent-foo-1', { upstreamPort: foo1.port, url: 'https://foo.internal', edge, authtoken: 'tok_acme', pooling: true }),
      startAgent('agent-foo-2', { upstreamPort: foo2.port, url: 'https://foo.internal', edge, authtoken: 'tok_acme', pooling: true }),
      startAgent('agent-bar-1', { upstreamPort: bar1.port, url: 'https://bar.internal', edge, authtoken: 'tok_acme' }),
    ]);
  });
  after(stopAll);

  it('balances /foo across both replicas of the foo pool', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await send(edge.https!, 'api.example.com', `/foo/get?i=${i}`, { scheme: 'https' });
      assert.equal(r.status, 200, r.text);
      const replica = r.json().replica as string;
      seen.set(replica, (seen.get(replica) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['foo-1', 'foo-2']);
    for (const n of seen.values()) assert.ok(n >= 10, `uneven split ${JSON.stringify([...seen])}`);
  });

  it('routes /bar to bar.internal and anything else to the 403 custom response', async () => {
    const bar = await send(edge.https!, 'api.example.com', '/bar/get', { scheme: 'https' });
    assert.equal(bar.status, 200);
    assert.equal(bar.json().replica, 'bar-1');
    assert.equal(bar.json().path, '/bar/get');
    const other = await send(edge.https!, 'api.example.com', '/baz', { scheme: 'https' });
    assert.equal(other.status, 403);
    assert.equal(other.text, 'no route for this path');
    assert.equal(other.headers['meshgate-error-code'], undefined, 'a custom response is not a gateway error');
  });

  it('routes by the x-api header with ${} interpolation and answers 403 without it', async () => {
    const foo = await send(edge.https!, 'headers.example.com', '/get', { scheme: 'https', headers: { 'x-api': 'foo' } });
    assert.equal(foo.status, 200);
    assert.match(foo.json().replica, /^foo-[12]$/);
    const bar = await send(edge.https!, 'headers.example.com', '/get', { scheme: 'https', headers: { 'X-Api': 'bar' } });
    assert.equal(bar.json().replica, 'bar-1');
    const none = await send(edge.https!, 'headers.example.com', '/get', { scheme: 'https' });
    assert.equal(none.status, 403);
    assert.equal(none.text, 'send an x-api header');
  });

  it('answers 502 with a meshgate-error-code when the header names an internal URL with no endpoint', async () => {
    const r = await send(edge.https!, 'headers.example.com', '/get', { scheme: 'https', headers: { 'x-api': 'nothing' } });
    assert.equal(r.status, 502);
    assert.equal(r.headers['meshgate-error-code'], 'MG_FORWARD_TARGET_OFFLINE');
    assert.match(JSON.parse(r.text).error.message, /nothing\.internal/);
  });

  it('passes the forwarding host and X-Forwarded-* headers to the upstream', async () => {
    const r = await send(edge.https!, 'api.example.com', '/foo/headers', { scheme: 'https', headers: { 'x-forwarded-for': '203.0.113.9' } });
    const h = r.json().headers;
    assert.match(h.host, /^api\.example\.com(:\d+)?$/);
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.match(h['x-forwarded-host'], /^api\.example\.com/);
    assert.equal(h['meshgate-endpoint-id'], undefined, 'tunnel metadata never reaches the upstream');
  });

  it('answers 404 MG_ENDPOINT_NOT_FOUND for an unknown host, and for https hosts on the http listener', async () => {
    const r = await send(edge.http, 'nope.example.com', '/');
    assert.equal(r.status, 404);
    assert.equal(r.headers['meshgate-error-code'], 'MG_ENDPOINT_NOT_FOUND');
    const wrongScheme = await send(edge.http, 'api.example.com', '/foo');
    assert.equal(wrongScheme.status, 404);
  });
});
