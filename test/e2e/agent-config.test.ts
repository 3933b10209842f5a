/**
 * `meshgate agent start --config agent.yml`: several endpoints from one agent, an agent
 * endpoint's own Traffic Policy (run by the edge, both phases), and HTTP/2 clients on the
 * https listener.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { join } from 'node:path';
import { send, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { meshgate, meshgateRun, stopAll, tempFiles } from '../helpers/procs.js';

const EDGE = `
region: eu
listen: {http: "127.0.0.1:0", https: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:
  - account: acme
    url: https://api.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://svc.internal"}}]
`;

const AGENT_POLICY = `
on_http_request:
  - name: no admin
    expressions: ["req.url.path.startsWith('/admin')"]
    actions: [{type: deny, config: {status_code: 401}}]
on_http_response:
  - name: friendly 404
    expressions: ["res.status_code == 404"]
    actions: [{type: custom-response, config: {status_code: 404, body: "not here (from the agent endpoint policy)"}}]
`;

describe('agent start --config agent.yml, agent endpoint policies, HTTP/2 ingress', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;

  before(async () => {
    edge = await startEdge(EDGE);
    const [a, b] = await Promise.all([startUpstream('svc-1'), startUpstream('www-1')]);
    const dir = tempFiles({
      'agent-policy.yml': AGENT_POLICY,
      'agent.yml': `
edge: ${edge.tunnel}
authtoken: tok_acme
endpoints:
  - name: svc
    url: https://svc.internal
    upstream: {url: ${a.port}}
    pooling_enabled: true
    traffic_policy_file: agent-policy.yml
  - name: www
    url: http://www.acme.test
    upstream: "http://127.0.0.1:${b.port}"
`,
    });
    const agent = meshgate('agent', ['agent', 'start', '--config', join(dir, 'agent.yml')]);
    const ready = await agent.ready();
    assert.deepEqual(ready.endpoints.map((e: { url: string }) => e.url).sort(), ['http://www.acme.test', 'https://svc.internal']);
  });
  after(stopAll);

  it('serves every endpoint of the config file', async () => {
    assert.equal((await send(edge.https!, 'api.example.com', '/get', { scheme: 'https' })).json().replica, 'svc-1');
    assert.equal((await send(edge.http, 'www.acme.test', '/get')).json().replica, 'www-1');
  });

  it("runs the agent endpoint's own request phase after the cloud endpoint forwarded to it", async () => {
    const r = await send(edge.https!, 'api.example.com', '/admin/users', { scheme: 'https' });
    assert.equal(r.status, 401);
    assert.equal(r.text, '');
  });

  it("runs the agent endpoint's response phase over the upstream's answer", async () => {
    const r = await send(edge.https!, 'api.example.com', '/status/404', { scheme: 'https' });
    assert.equal(r.status, 404);
    assert.equal(r.text, 'not here (from the agent endpoint policy)');
    assert.equal((await send(edge.https!, 'api.example.com', '/status/418', { scheme: 'https' })).status, 418);
  });

  it('serves HTTP/2 clients on the https listener', async () => {
    const session = http2.connect(`https://${edge.https}`, { rejectUnauthorized: false, servername: 'api.example.com' });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': '/get?h2=1', ':authority': 'api.example.com' });
        let data = '';
        req.setEncoding('utf8');
        req.on('data', (d) => (data += d));
        req.on('end', () => resolve(data));
        req.on('error', reject);
      });
      const j = JSON.parse(body);
      assert.equal(j.replica, 'svc-1');
      assert.equal(j.query.h2, '1');
      assert.equal(j.headers['x-forwarded-proto'], 'https');
    } finally {
      session.close();
    }
  });

  it('refuses an agent.yml with problems, listing each with its line', async () => {
    const dir = tempFiles({ 'agent.yml': 'endpoints:\n  - url: https://x.internal\n    upstream: {url: "ftp://nope"}\n  - urll: https://y.internal\n' });
    const r = await meshgateRun(['agent', 'start', '--config', join(dir, 'agent.yml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /endpoints\[0\]\.upstream\.url \(line 3\)/);
    assert.match(r.stderr, /endpoints\[1\]\.urll \(line 4\): unknown field/);
    assert.match(r.stderr, /endpoints\[1\]\.url \(line 4\): is required/);
  });
});
