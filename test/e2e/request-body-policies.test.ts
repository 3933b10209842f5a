/**
 * Policies that read the request body (verify-webhook, request-body-find-replace) through a
 * real edge, agent and upstream: the edge buffers only for them and only up to their limit,
 * forwards exactly the (possibly rewritten) body, and answers 413 beyond the limit.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { forwardingEdgeYaml, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';

const SECRET = 'webhook-secret-0123456789';

describe('request-body policies through a real edge, agent and upstream', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;

  before(async () => {
    edge = await startEdge(
      forwardingEdgeYaml(
        'https://hooks.internal',
        `
  - account: acme
    url: http://github.example.com
    traffic_policy: |
      on_http_request:
        - actions:
            - type: verify-webhook
              config: {provider: github, secret: "${SECRET}"}
            - type: forward-internal
              config: {url: "https://hooks.internal"}
  - account: acme
    url: http://scrub.example.com
    traffic_policy: |
      on_http_request:
        - actions:
            - type: request-body-find-replace
              config:
                replacements:
                  - {from: "secret-[0-9]+", to: "[redacted]"}
            - type: forward-internal
              config: {url: "https://hooks.internal"}
`,
      ),
    );
    const up = await startUpstream('hooks');
    await startAgent('agent-hooks', { upstreamPort: up.port, url: 'https://hooks.internal', edge, authtoken: 'tok_acme' });
  });
  after(stopAll);

  const sign = (body: string | Buffer) => 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');

  it('forwards a correctly signed GitHub webhook with its exact body', async () => {
    const body = JSON.stringify({ action: 'opened', number: 42 });
    const r = await send(edge.http, 'github.example.com', '/hook', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body) } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().body.sha256, createHash('sha256').update(body).digest('hex'));
  });

  it('refuses a bad signature with 403 MG_WEBHOOK_INVALID, and the upstream never sees it', async () => {
    const r = await send(edge.http, 'github.example.com', '/hook', { method: 'POST', body: '{"forged":true}', headers: { 'x-hub-signature-256': sign('something else') } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['meshgate-error-code'], 'MG_WEBHOOK_INVALID');
  });

  it('answers 413 MG_REQUEST_BODY_TOO_LARGE beyond the policy limit, and keeps serving', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'a');
    const r = await send(edge.http, 'github.example.com', '/hook', { method: 'POST', body: big, headers: { 'x-hub-signature-256': sign(big) } }).catch((e) => e as Error);
    if (!(r instanceof Error)) {
      assert.equal(r.status, 413);
      assert.equal(r.headers['meshgate-error-code'], 'MG_REQUEST_BODY_TOO_LARGE');
    }
    const ok = '{"small":1}';
    assert.equal((await send(edge.http, 'github.example.com', '/hook', { method: 'POST', body: ok, headers: { 'x-hub-signature-256': sign(ok) } })).status, 200);
  });

  it('rewrites the body before the upstream sees it, with a matching content-length', async () => {
    const r = await send(edge.http, 'scrub.example.com', '/ingest', { method: 'POST', body: 'token=secret-12345&user=ann', headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().body.data, 'token=[redacted]&user=ann');
    assert.equal(r.json().headers['content-length'], String('token=[redacted]&user=ann'.length));
  });

  it('still streams bodies for endpoints whose policy does not read them', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'b');
    const r = await send(edge.http, 'api.example.com', '/post', { method: 'POST', body: big });
    assert.equal(r.status, 200);
    assert.equal(r.json().body.size, big.length);
  });
});
