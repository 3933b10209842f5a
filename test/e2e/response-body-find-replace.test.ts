/**
 * response-body-find-replace through a real edge, agent and upstream: the client gets the
 * rewritten body with an exact content-length (also from a chunked upstream; a gzip-encoded one
 * is decoded, rewritten and encoded again),
 * a body over max_body_size is refused with 502 (fail closed), and with compress-response the
 * body is replaced first, then compressed.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { request } from 'undici';
import { client, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';

const SECRET_TEXT = 'card 4111-1111-1111-1234 and card 5500-0000-0000-0004, ok';
const REDACTED = 'card ****-1234 and card ****-0004, ok';

/** An upstream in this process: a chunked body (no content-length), or a gzip-encoded one. */
function scriptedUpstream(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const parts = SECRET_TEXT.match(/.{1,7}/g)!;
      let i = 0;
      const next = () => {
        if (i === parts.length) return res.end();
        res.write(parts[i++]);
        setTimeout(next, 2);
      };
      return next();
    }
    if (req.url === '/gzip') {
      const body = zlib.gzipSync(SECRET_TEXT);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': body.length });
      return res.end(body);
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

describe('response-body-find-replace through a real edge', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;
  let scripted: Awaited<ReturnType<typeof scriptedUpstream>>;

  before(async () => {
    scripted = await scriptedUpstream();
    const mask = `
                  - {from: '\\d{4}-\\d{4}-\\d{4}-(\\d{4})', to: "****-$1"}`;
    edge = await startEdge(`
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:
  - account: acme
    url: http://echo.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://echo.internal"}}]
      on_http_response:
        - expressions: ["!req.url.path.startsWith('/bytes/')"]
          actions:
            - type: response-body-find-replace
              config:
                replacements:
                  - {from: '"replica": "echo"', to: '"replica": "\${conn.server_region}-hidden"'}
        - expressions: ["req.url.path.startsWith('/bytes/')"]
          actions:
            - type: response-body-find-replace
              config:
                max_body_size: 4096
                replacements: [{from: "meshgate", to: "MESHGATE"}]
  - account: acme
    url: http://scripted.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://scripted.internal"}}]
      on_http_response:
        - actions:
            - type: response-body-find-replace
              config:
                replacements:${mask}
  - account: acme
    url: http://zip.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://scripted.internal"}}]
      on_http_response:
        - actions:
            - {type: compress-response}
            - type: response-body-find-replace
              config:
                replacements:${mask}
`);
    const echo = await startUpstream('echo');
    await Promise.all([
      startAgent('agent-echo', { upstreamPort: echo.port, url: 'https://echo.internal', edge, authtoken: 'tok_acme' }),
      startAgent('agent-scripted', { upstreamPort: scripted.port, url: 'https://scripted.internal', edge, authtoken: 'tok_acme' }),
    ]);
  });

  after(async () => {
    await stopAll();
    await new Promise((r) => scripted.server.close(r));
  });

  const get = async (host: string, path: string, headers: Record<string, string> = {}) => {
    const r = await request(`http://${edge.http}${path}`, { headers: { host, ...headers }, dispatcher: client });
    return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
  };

  it('rewrites an upstream body and fixes its content-length', async () => {
    const r = await get('echo.example.com', '/get');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(r.body.length));
    assert.equal(JSON.parse(r.body.toString()).replica, 'eu-hidden');
    assert.equal(r.headers['x-replica'], 'echo', 'headers pass through');
  });

  it('rewrites a chunked upstream body and answers it with a content-length', async () => {
    const r = await get('scripted.example.com', '/chunked');
    assert.equal(r.body.toString(), REDACTED);
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(REDACTED)));
    assert.equal(r.headers['transfer-encoding'], undefined);
  });

  it('decodes a gzip upstream body, rewrites it and sends it gzip-encoded again', async () => {
    const r = await get('scripted.example.com', '/gzip', { 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(zlib.gunzipSync(r.body).toString(), REDACTED);
  });

  it('replaces first, then compresses, with compress-response in the same phase', async () => {
    for (const path of ['/chunked', '/gzip']) {
      const r = await get('zip.example.com', path, { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], 'gzip', path);
      assert.equal(r.headers['content-length'], undefined, path);
      assert.equal(zlib.gunzipSync(r.body).toString(), REDACTED, path);
    }
  });

  it('answers 502 MG_RESPONSE_BODY_TOO_LARGE above max_body_size, and still serves bodies under it', async () => {
    const big = await send(edge.http, 'echo.example.com', '/bytes/5000');
    assert.equal(big.status, 502);
    assert.equal(big.headers['meshgate-error-code'], 'MG_RESPONSE_BODY_TOO_LARGE');
    const small = await get('echo.example.com', '/bytes/18');
    assert.equal(small.status, 200);
    assert.equal(small.body.toString(), 'MESHGATE-MESHGATE-');
    assert.equal(small.headers['content-length'], '18');
  });
});
