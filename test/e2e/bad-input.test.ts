/**
 * Bad input gets a clear error naming what is wrong, and the edge keeps serving: bad policies,
 * flags, authtokens and configs, garbage on the tunnel and public ports.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { send, startAgent, startEdge, startUpstream, type EdgeHandle, forwardingEdgeYaml } from '../helpers/gateway.js';
import { meshgateRun, stopAll, tempFiles } from '../helpers/procs.js';

const EDGE = forwardingEdgeYaml('https://foo.internal', `
  - account: acme
    url: http://broken.example.com
    traffic_policy: |
      on_http_request:
        - expressions: ["req.headers['x-missing'][0] == 'yes'"]
          actions: [{type: custom-response, config: {body: "unreachable"}}]
        - actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]
`);

describe('bad input: clear errors, and the edge keeps serving', function () {
  this.timeout(90_000);
  let edge: EdgeHandle;
  let upPort: number;
  let dir: string;

  before(async () => {
    edge = await startEdge(EDGE);
    upPort = (await startUpstream('foo-1')).port;
    await startAgent('agent-foo', { upstreamPort: upPort, url: 'https://foo.internal', edge, authtoken: 'tok_acme' });
    dir = tempFiles({
      'malformed.yml': 'on_http_request:\n  - actions: [\n    - type: deny\n',
      'unknown-action.yml': 'on_http_request:\n  - actions:\n      - type: teleport\n',
      'bad-cel.yml': "on_http_request:\n  - expressions: [\"req.methodd == 'GET'\"]\n    actions:\n      - type: deny\n",
    });
  });
  after(stopAll);
  afterEach(async () => {
    const r = await send(edge.http, 'api.example.com', '/get');
    assert.equal(r.status, 200, 'the edge still serves the existing endpoint');
  });

  const agentRun = (...args: string[]) => meshgateRun(['agent', 'http', String(upPort), '--edge', edge.tunnel, '--authtoken', 'tok_acme', ...args]);

  it('refuses a malformed policy file with its line number', async () => {
    const r = await agentRun('--url', 'https://p1.internal', '--traffic-policy-file', join(dir, 'malformed.yml'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MG_POLICY_INVALID/);
    assert.match(r.stderr, /line \d+/);
  });

  it('refuses an unknown action, naming its path', async () => {
    const r = await agentRun('--url', 'https://p2.internal', '--traffic-policy-file', join(dir, 'unknown-action.yml'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /on_http_request\[0\]\.actions\[0\]\.type/);
    assert.match(r.stderr, /teleport/);
  });

  it('refuses bad CEL, naming the expression', async () => {
    const r = await agentRun('--url', 'https://p3.internal', '--traffic-policy-file', join(dir, 'bad-cel.yml'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /on_http_request\[0\]\.expressions\[0\]/);
    assert.match(r.stderr, /methodd/);
  });

  it('refuses a bad authtoken, naming --authtoken', async () => {
    const r = await meshgateRun(['agent', 'http', String(upPort), '--url', 'https://p4.internal', '--edge', edge.tunnel, '--authtoken', 'wrong']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MG_AUTHTOKEN_INVALID/);
    assert.match(r.stderr, /--authtoken/);
  });

  it('rejects bad flags with exit code 2 naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['agent', 'http', '8080', '--edge', edge.tunnel, '--authtoken', 't'], /--url/],
      [['agent', 'http', '8080', '--url', 'https://x.internal', '--edge', 'nowhere', '--authtoken', 't'], /--edge/],
      [['agent', 'http', '8080', '--url', 'https://x.internal', '--bogus'], /--bogus/],
      [['agent', 'http', 'not a port', '--url', 'https://x.internal', '--edge', edge.tunnel, '--authtoken', 't'], /upstream/],
      [['edge'], /--config/],
      [['demo-upstream', '--port', 'eighty'], /--port/],
    ];
    for (const [args, re] of cases) {
      const r = await meshgateRun(args);
      assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });

  it('rejects a bad endpoint URL naming --url and the problem', async () => {
    const r = await agentRun('--url', 'https://foo.internal/some/path');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--url/);
    assert.match(r.stderr, /no path/);
    const r2 = await agentRun('--url', 'https://a.*.example.com');
    assert.match(r2.stderr, /only allowed as the whole first label/);
  });

  it('refuses to start an edge with an invalid config, listing every problem with its line', async () => {
    const d = tempFiles({
      'edge.yaml': `region: eu\nlisten:\n  http: nowhere\n  tunel: 127.0.0.1:1\naccounts:\n  - name: acme\ncloud_endpoints:\n  - account: nobody\n    url: https://api.example.com\n    traffic_policy: "on_http_request: [{actions: [{type: deny}], expressions: ['1 +']}]"\n`,
    });
    const r = await meshgateRun(['edge', '--config', join(d, 'edge.yaml')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MG_CONFIG_INVALID/);
    assert.match(r.stderr, /listen\.http \(line 3\): 'nowhere' is not host:port/);
    assert.match(r.stderr, /listen\.tunel \(line 4\): unknown field/);
    assert.match(r.stderr, /cloud_endpoints\[0\]\.account \(line 8\): unknown account 'nobody'/);
  });

  it('answers MG_POLICY_RUNTIME_ERROR when a policy expression fails at run time', async () => {
    const r = await send(edge.http, 'broken.example.com', '/get');
    assert.equal(r.status, 500);
    assert.equal(r.headers['meshgate-error-code'], 'MG_POLICY_RUNTIME_ERROR');
    assert.match(JSON.parse(r.text).error.message, /on_http_request\[0\]\.expressions\[0\]/);
    const ok = await send(edge.http, 'broken.example.com', '/get', { headers: { 'x-missing': 'yes' } });
    assert.equal(ok.text, 'unreachable', 'the same policy still works when the header is there');
  });

  it('answers MG_UPSTREAM_CONNECT_FAILED when the agent cannot reach its upstream', async () => {
    const dead = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    await startAgent('agent-dead', { upstreamPort: dead, url: 'http://dead.acme.test', edge, authtoken: 'tok_acme' });
    const r = await send(edge.http, 'dead.acme.test', '/get');
    assert.equal(r.status, 502);
    assert.equal(r.headers['meshgate-error-code'], 'MG_UPSTREAM_CONNECT_FAILED');
    assert.match(JSON.parse(r.text).error.message, /ECONNREFUSED/);
  });

  it('survives garbage on the tunnel port and answers garbage HTTP with 400', async () => {
    const [host, port] = edge.tunnel.split(':');
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(port), host, () => s.write('GET / HTTP/1.1\r\n\r\n' + 'x'.repeat(5000)));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
    });
    const [hh, hp] = edge.http.split(':');
    const answer = await new Promise<string>((resolve) => {
      let out = '';
      const s = net.connect(Number(hp), hh, () => s.write('BLAH\x00 / FOO\r\n\r\n'));
      s.on('data', (d) => (out += d));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.match(answer, /meshgate-error-code: MG_REQUEST_INVALID/);
  });
});
