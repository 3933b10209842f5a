/** compress-response through a real edge, agent and upstream: the client gets a compressed body that decodes to the upstream's answer. */
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { request } from 'undici';
import { client, forwardingEdgeYaml, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';

describe('compress-response through a real edge', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;
  before(async () => {
    edge = await startEdge(
      forwardingEdgeYaml(
        'https://zip.internal',
        `
  - account: acme
    url: http://zip.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://zip.internal"}}]
      on_http_response:
        - actions: [{type: compress-response}]
`,
      ),
    );
    const up = await startUpstream('zip');
    await startAgent('agent-zip', { upstreamPort: up.port, url: 'https://zip.internal', edge, authtoken: 'tok_acme' });
  });
  after(stopAll);

  const get = async (path: string, acceptEncoding?: string) => {
    const r = await request(`http://${edge.http}${path}`, { headers: { host: 'zip.example.com', ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) }, dispatcher: client });
    return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
  };

  for (const [accept, decode] of [['gzip', zlib.gunzipSync], ['br', zlib.brotliDecompressSync], ['deflate', zlib.inflateSync]] as const) {
    it(`answers ${accept} when the client asks for it`, async () => {
      const r = await get('/get', accept);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], accept);
      assert.match(String(r.headers.vary), /accept-encoding/i);
      assert.equal(JSON.parse(decode(r.body).toString()).replica, 'zip');
    });
  }

  it('leaves the body alone when the client accepts no compression', async () => {
    const r = await get('/get');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(JSON.parse(r.body.toString()).replica, 'zip');
  });

  it('streams a large body compressed (4 MiB of a repeating pattern shrinks and decodes whole)', async () => {
    const r = await get(`/bytes/${4 * 1024 * 1024}`, 'gzip');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.ok(r.body.length < 256 * 1024, `compressed to ${r.body.length} bytes`);
    assert.equal(zlib.gunzipSync(r.body).length, 4 * 1024 * 1024);
  });
});
