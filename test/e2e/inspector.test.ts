/**
 * The Traffic Inspector with real processes: an edge (admin API + console), agents of two
 * accounts, and a recording upstream in this process. Capture (metadata always, full capture
 * when turned on, truncation), the list filters, get, replay and modify-and-replay through the
 * endpoint's current policy (the upstream sees `meshgate-replay-of`), account isolation over
 * gRPC and the console's JSON API, the CLI (`meshgate inspect list|get`, `meshgate replay`),
 * a 50 MB body in both directions with bounded edge memory, and — in a 3-edge cluster — the
 * same list, get and replay from any edge.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { AdminClient, type UnaryMethod } from '../../services/admin/admin-client.js';
import type { Capture, InspectorServiceClient } from '../../services/gen/admin.js';
import { ACME_KEY, ADMIN_KEY, GLOBEX_KEY, startAdminCluster, type AdminEdge } from '../helpers/admin-cluster.js';
import { dynamicAdmin, refusal } from '../helpers/admin-dynamic.js';
import { client, eventually, send, startAgent, startEdge, type EdgeHandle } from '../helpers/gateway.js';
import { meshgate, meshgateRun, rssKiB, stopAll, tempFiles } from '../helpers/procs.js';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { patternBytes, startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

const AGENT_POLICY = `
on_http_request:
  - name: tag-api
    expressions: ["req.url.path.startsWith('/api')"]
    actions:
      - type: add-headers
        config: {headers: {x-tagged: "yes"}}
      - type: log
        config: {metadata: {route: api}}
  - name: never
    expressions: ["req.method == 'TRACE'"]
    actions: [{type: deny}]
`;

const edgeYaml = `
region: eu
node_id: eu-insp
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", admin: "127.0.0.1:0", console: "127.0.0.1:0"}
admin_api_key: ${ADMIN_KEY}
inspector: {records_per_endpoint: 200}
accounts:
  - {name: acme, authtokens: [tok_acme], api_keys: [${ACME_KEY}], domains: [cloud.example.com, deny.example.com]}
  - {name: globex, authtokens: [tok_globex], api_keys: [${GLOBEX_KEY}], inspect: {full: true}}
cloud_endpoints:
  - account: acme
    url: http://cloud.example.com
    traffic_policy: |
      on_http_request:
        - actions:
            - {type: add-headers, config: {headers: {x-policy: v1}}}
            - {type: forward-internal, config: {url: "http://acme.internal"}}
  - account: acme
    url: http://deny.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: custom-response, config: {status_code: 403, body: "not here"}}]
`;

type Client = AdminClient;
const adminClient = (addr: string, apiKey: string, account?: string): Client =>
  new AdminClient({ admin: addr, apiKey, account, profile: 'test', configFile: '', profileFound: false, sources: {}, deadlineMs: 15_000 });
/** One InspectorService call through the typed client. */
function ins<Req, Res>(c: Client, pick: (s: InspectorServiceClient) => UnaryMethod<Req, Res>, req: Req): Promise<Res> {
  return c.call(pick(c.inspector), req);
}
const list = (c: Client, f: Record<string, unknown> = {}) =>
  ins(c, (s) => s.listCaptures.bind(s), { endpoint: '', pathPrefix: '', method: '', status: '', startedAfter: '', startedBefore: '', pageSize: 0, pageToken: '', localOnly: false, ...f });
const get = (c: Client, id: string) => ins(c, (s) => s.getCapture.bind(s), { id });
const replay = (c: Client, id: string, mods: Record<string, unknown> = {}) => ins(c, (s) => s.replay.bind(s), { id, setHeaders: [], removeHeaders: [], ...mods });
const setCapture = (c: Client, endpoint: string, full: boolean, maxBodyBytes?: number) =>
  ins(c, (s) => s.updateCaptureSettings.bind(s), { endpoint, full, maxBodyBytes, reset: false });

/** The capture of the one request sent to `path` (waits until the edge recorded it). */
async function captureOf(c: Client, path: string): Promise<Capture> {
  let found: Capture | undefined;
  await eventually(`a capture of ${path}`, async () => {
    found = (await list(c, { pathPrefix: path })).captures.find((x) => x.path === path);
    return found !== undefined;
  });
  return found!;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const unique = () => Math.random().toString(36).slice(2, 10);

describe('traffic inspector (edge, agents and upstream as real processes)', function () {
  this.timeout(120_000);
  let edge: EdgeHandle;
  let up: RecordingUpstream;
  let consoleAddr = '';
  let acme: Client;
  let globex: Client;
  let root: Client;
  let acmeEndpointId = '';
  let collector: OtlpReceiver;

  before(async () => {
    up = await startRecordingUpstream();
    // traced (every request, exported every 50 ms), so captures and replays carry trace ids
    collector = await OtlpReceiver.start();
    edge = await startEdge(edgeYaml, {}, 'edge', { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
    consoleAddr = edge.proc.logs().find((l) => l.msg === 'ready')!.listeners.console;
    const dir = tempFiles({
      'policy.yml': AGENT_POLICY,
      'agent.yml': `
edge: ${edge.tunnel}
authtoken: tok_acme
endpoints:
  - {name: public, url: "http://acme.example.com", upstream: {url: ${up.port}}, traffic_policy_file: policy.yml}
  - {name: internal, url: "http://acme.internal", upstream: {url: ${up.port}}}
`,
    });
    await meshgate('acme-agent', ['agent', 'start', '--config', join(dir, 'agent.yml')]).ready();
    await startAgent('globex-agent', { upstreamPort: up.port, url: 'http://globex.example.com', edge, authtoken: 'tok_globex' });
    acme = adminClient(edge.admin!, ACME_KEY);
    globex = adminClient(edge.admin!, GLOBEX_KEY);
    root = adminClient(edge.admin!, ADMIN_KEY);
    await eventually('both agents serve', async () => (await send(edge.http, 'acme.example.com', '/ping')).status === 200 && (await send(edge.http, 'globex.example.com', '/ping')).status === 200);
  });
  after(async () => {
    for (const c of [acme, globex, root]) c?.close();
    await stopAll();
    await up?.close();
    await collector?.close();
    if (edge) rmSync(edge.dir, { recursive: true, force: true });
  });

  describe('capture', () => {
    it('keeps the metadata of every request — status, latency, region, member, policy decisions — without headers or bodies', async () => {
      const path = `/api/meta-${unique()}`;
      const r = await send(edge.http, 'acme.example.com', `${path}?x=1`, { method: 'POST', body: 'secret-body', headers: { 'x-secret': 'do-not-keep' } });
      assert.equal(r.status, 200);
      const c = await captureOf(acme, path);
      assert.equal(c.capture, 'metadata');
      assert.equal(c.method, 'POST');
      assert.equal(c.host, 'acme.example.com');
      assert.equal(c.query, 'x=1');
      assert.equal(c.status, 200);
      assert.ok(c.durationMs > 0);
      assert.equal(c.region, 'eu');
      assert.equal(c.nodeId, 'eu-insp');
      assert.equal(c.account, 'acme');
      assert.equal(c.endpoint?.url, 'http://acme.example.com');
      assert.equal(c.servedBy?.type, 'agent');
      assert.equal(c.servedBy?.region, 'eu');
      acmeEndpointId = c.endpoint!.id;
      assert.deepEqual(
        c.decisions.map((d) => `${d.kind} ${d.path} ${d.name}${d.kind === 'rule' ? ` ${d.matched}` : ''}`),
        ['rule on_http_request[0] tag-api true', 'action on_http_request[0].actions[0] add-headers', 'action on_http_request[0].actions[1] log', 'rule on_http_request[1] never false'],
      );
      assert.deepEqual(JSON.parse(c.logs[0].metadataJson), { route: 'api' });
      const detail = await get(acme, c.id);
      assert.equal(detail.request, undefined, 'no headers or body kept');
      assert.equal(detail.response, undefined);
    });

    it('keeps headers and bodies once full capture is on for the endpoint (by id or URL), stored and applied at once', async () => {
      const s = await setCapture(acme, acmeEndpointId, true, 4096);
      assert.deepEqual([s.endpoint, s.full, s.maxBodyBytes, s.source], ['http://acme.example.com', true, 4096, 'endpoint']);
      const path = `/api/full-${unique()}`;
      const body = JSON.stringify({ hello: 'world', n: [1, 2, 3] });
      await send(edge.http, 'acme.example.com', path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-custom': 'one' } });
      const c = await get(acme, (await captureOf(acme, path)).id);
      assert.equal(c.capture, 'full');
      const h = (name: string) => c.request!.headers.filter((x) => x.name.toLowerCase() === name).map((x) => x.value);
      assert.deepEqual(h('x-custom'), ['one']);
      assert.deepEqual(h('host'), ['acme.example.com']);
      assert.equal(c.request!.body.toString(), body);
      assert.equal(c.request!.bodySize, Buffer.byteLength(body));
      assert.equal(c.request!.bodyTruncated, false);
      const answered = JSON.parse(c.response!.body.toString());
      assert.equal(answered.sha256, sha(body), 'the response body as the client got it');
      assert.ok(c.response!.headers.some((x) => x.name === 'content-type' && x.value === 'application/json'));
    });

    it('keeps the first max_body_bytes of a longer body and marks the cut', async () => {
      await setCapture(acme, 'http://acme.example.com', true, 100);
      const path = `/api/trunc-${unique()}`;
      const body = 'x'.repeat(5000);
      await send(edge.http, 'acme.example.com', path, { method: 'PUT', body });
      const c = await get(acme, (await captureOf(acme, path)).id);
      assert.equal(c.request!.body.length, 100);
      assert.equal(c.request!.bodySize, 5000);
      assert.equal(c.request!.bodyTruncated, true);
      assert.equal(c.request!.bodyIncomplete, false);
      assert.equal(c.response!.bodyTruncated, true, 'the 150-byte JSON answer is cut at 100 too');
      await setCapture(acme, 'http://acme.example.com', true, 10_240);
    });

    it('drains a captured body the policy answered without reading, so the keep-alive connection serves the next request', async () => {
      await setCapture(acme, 'http://deny.example.com', true, 1024);
      const body = 'b'.repeat(256 * 1024);
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) {
        const r = await send(edge.http, 'deny.example.com', `/deny-${i}`, { method: 'POST', body });
        assert.equal(r.status, 403);
        assert.equal(r.text, 'not here');
      }
      assert.ok(performance.now() - t0 < 5_000);
      const c = await get(acme, (await captureOf(acme, '/deny-2')).id);
      assert.equal(c.request!.bodySize, body.length, 'the body was read to its end (and counted)');
      assert.equal(c.request!.body.length, 1024);
      assert.equal(c.response!.body.toString(), 'not here');
    });

    it('follows the account default of edge.yaml (globex: full) until an endpoint setting overrides it', async () => {
      const s = await ins(globex, (x) => x.getCaptureSettings.bind(x), { endpoint: 'http://globex.example.com' });
      assert.deepEqual([s.full, s.maxBodyBytes, s.source], [true, 10_240, 'config']);
      const path = `/g-${unique()}`;
      await send(edge.http, 'globex.example.com', path, { method: 'POST', body: 'globex body' });
      const c = await get(globex, (await captureOf(globex, path)).id);
      assert.equal(c.request!.body.toString(), 'globex body');
    });
  });

  describe('list', () => {
    const tag = unique();
    let t0 = '';
    before(async () => {
      t0 = new Date(Date.now() - 5).toISOString();
      await send(edge.http, 'acme.example.com', `/f-${tag}/a/1`);
      await send(edge.http, 'acme.example.com', `/f-${tag}/a/2`, { headers: { 'x-status': '404' } });
      await send(edge.http, 'acme.example.com', `/f-${tag}/b/1`, { method: 'DELETE', headers: { 'x-status': '503' } });
      await send(edge.http, 'cloud.example.com', `/f-${tag}/c/1`);
      await eventually('4 captures', async () => (await list(acme, { pathPrefix: `/f-${tag}/` })).captures.length === 4);
    });
    const paths = async (f: Record<string, unknown>) => (await list(acme, { pathPrefix: `/f-${tag}/`, ...f })).captures.map((c) => c.path.slice(`/f-${tag}`.length));

    it('lists newest first and filters by path, status, method, endpoint and time', async () => {
      assert.deepEqual(await paths({}), ['/c/1', '/b/1', '/a/2', '/a/1']);
      assert.deepEqual(await paths({ pathPrefix: `/f-${tag}/a/` }), ['/a/2', '/a/1']);
      assert.deepEqual(await paths({ status: '4xx' }), ['/a/2']);
      assert.deepEqual(await paths({ status: '500-599' }), ['/b/1']);
      assert.deepEqual(await paths({ method: 'delete' }), ['/b/1']);
      assert.deepEqual(await paths({ endpoint: 'http://cloud.example.com' }), ['/c/1']);
      assert.deepEqual(await paths({ endpoint: acmeEndpointId }), ['/b/1', '/a/2', '/a/1']);
      assert.deepEqual(await paths({ startedBefore: t0 }), []);
      assert.deepEqual(await paths({ startedAfter: t0 }), ['/c/1', '/b/1', '/a/2', '/a/1']);
    });

    it('pages with next_page_token without repeating or skipping', async () => {
      const first = await list(acme, { pathPrefix: `/f-${tag}/`, pageSize: 3 });
      assert.equal(first.captures.length, 3);
      assert.ok(first.nextPageToken);
      const second = await list(acme, { pathPrefix: `/f-${tag}/`, pageSize: 3, pageToken: first.nextPageToken });
      assert.deepEqual(second.captures.map((c) => c.path), [`/f-${tag}/a/1`]);
      assert.equal(second.nextPageToken, '');
    });

    it('refuses a bad filter naming the field', async () => {
      const d = dynamicAdmin(edge.admin!, ACME_KEY);
      try {
        const r = await refusal(d.inspector('ListCaptures', { status: 'teapot' }));
        assert.deepEqual([r.code, r.mg, r.field], [3 /* INVALID_ARGUMENT */, 'MG_ADMIN_REQUEST_INVALID', 'status']);
      } finally {
        d.close();
      }
    });
  });

  describe('replay', () => {
    it('sends the captured request again through the endpoint\'s current policy, marked meshgate-replay-of', async () => {
      await setCapture(acme, 'http://cloud.example.com', true);
      const path = `/r-${unique()}`;
      const body = 'replay me, byte for byte';
      await send(edge.http, 'cloud.example.com', `${path}?q=1`, { method: 'POST', body, headers: { 'x-custom': 'kept' } });
      const original = await up.waitFor((s) => s.url === `${path}?q=1`);
      assert.equal(original.headers['x-policy'], 'v1');
      const c = await captureOf(acme, path);

      // change the cloud endpoint's policy: the replay must run the new one
      const d = dynamicAdmin(edge.admin!, ACME_KEY);
      try {
        const eps = await d.endpoints('ListEndpoints', { filter: "obj.url == 'http://cloud.example.com'" });
        const ep = eps.endpoints[0];
        await d.endpoints('UpdateEndpoint', { id: ep.id, traffic_policy: ep.traffic_policy.replace('x-policy: v1', 'x-policy: v2') });
      } finally {
        d.close();
      }
      const r = await replay(acme, c.id);
      assert.equal(r.replayOf, c.id);
      assert.equal(r.status, 200);
      assert.equal(r.nodeId, 'eu-insp');
      assert.equal(JSON.parse(r.body.toString()).replayOf, c.id);
      const again = await up.waitFor((s) => s.headers['meshgate-replay-of'] === c.id);
      assert.equal(again.method, 'POST');
      assert.equal(again.url, `${path}?q=1`);
      assert.equal(again.sha256, sha(body));
      assert.equal(again.headers['x-custom'], 'kept');
      assert.equal(again.headers['x-policy'], 'v2', 'the current policy ran');
      // the replay is captured like any request, pointing at the original
      const captured = await get(acme, r.id);
      assert.equal(captured.replayOf, c.id);
      assert.ok(captured.request!.headers.some((h) => h.name === 'meshgate-replay-of' && h.value === c.id));
      // and traced as a trace of its own, rooted at a `replay POST` span naming the original
      assert.match(c.traceId, /^[0-9a-f]{32}$/, 'the original request was traced');
      assert.match(r.traceId, /^[0-9a-f]{32}$/);
      assert.notEqual(r.traceId, c.traceId);
      assert.equal(captured.traceId, r.traceId);
      assert.equal(String(again.headers.traceparent).split('-')[1], r.traceId, 'the upstream got the replay trace context');
      await collector.waitFor('the replay trace', () => collector.trace(r.traceId).some((s) => s.name === 'replay POST') && collector.trace(r.traceId).some((s) => s.name === 'tunnel send'));
      const spans = collector.trace(r.traceId);
      const rootSpan = spans.find((s) => s.name === 'replay POST')!;
      assert.equal(rootSpan.parentSpanId, '');
      assert.deepEqual([rootSpan.attributes['meshgate.replay_of'], rootSpan.attributes['url.path'], rootSpan.attributes['http.response.status_code']], [c.id, path, 200]);
      assert.ok(spans.some((s) => s.name === 'policy on_http_request' && s.parentSpanId === rootSpan.spanId), JSON.stringify(spans.map((s) => s.name)));
    });

    it('replays with a changed method, path, headers and body', async () => {
      const path = `/api/m-${unique()}`;
      await send(edge.http, 'acme.example.com', path, { method: 'POST', body: 'old body', headers: { 'x-custom': 'old', 'x-drop': 'me' } });
      const c = await captureOf(acme, path);
      const r = await replay(acme, c.id, {
        method: 'PATCH',
        path: `${path}/changed?y=2`,
        setHeaders: [{ name: 'X-Custom', value: 'new' }, { name: 'x-added', value: 'a' }],
        removeHeaders: ['X-Drop'],
        body: Buffer.from('the new body'),
      });
      assert.equal(r.status, 200);
      const seen = await up.waitFor((s) => s.headers['meshgate-replay-of'] === c.id);
      assert.equal(seen.method, 'PATCH');
      assert.equal(seen.url, `${path}/changed?y=2`);
      assert.equal(seen.headers['x-custom'], 'new');
      assert.equal(seen.headers['x-added'], 'a');
      assert.equal(seen.headers['x-drop'], undefined);
      assert.equal(seen.head, 'the new body');
      assert.equal(seen.headers['content-length'], String('the new body'.length));
      assert.equal(seen.headers['x-tagged'], 'yes', "the endpoint's policy ran on the replay");
    });

    it('refuses to replay a metadata-only or truncated capture, unless the call gives the body', async () => {
      await setCapture(acme, 'http://acme.example.com', false);
      const meta = `/api/nomore-${unique()}`;
      await send(edge.http, 'acme.example.com', meta);
      const m = await captureOf(acme, meta);
      const d = dynamicAdmin(edge.admin!, ACME_KEY);
      try {
        const r1 = await refusal(d.inspector('Replay', { id: m.id }));
        assert.deepEqual([r1.code, r1.mg, r1.field], [9 /* FAILED_PRECONDITION */, 'MG_REPLAY_INCOMPLETE', 'id']);
        assert.match(r1.details, /only metadata was captured/);

        await setCapture(acme, 'http://acme.example.com', true, 10);
        const cut = `/api/cut-${unique()}`;
        await send(edge.http, 'acme.example.com', cut, { method: 'POST', body: 'longer than ten bytes' });
        const t = await captureOf(acme, cut);
        const r2 = await refusal(d.inspector('Replay', { id: t.id }));
        assert.deepEqual([r2.code, r2.mg, r2.field], [9, 'MG_REPLAY_INCOMPLETE', 'body']);
        const ok = await replay(acme, t.id, { body: Buffer.from('a whole body') });
        assert.equal(ok.status, 200);
        assert.equal((await up.waitFor((s) => s.headers['meshgate-replay-of'] === t.id)).head, 'a whole body');
        assert.equal((await send(edge.http, 'acme.example.com', '/ping')).status, 200, 'the edge still serves');
      } finally {
        d.close();
        await setCapture(acme, 'http://acme.example.com', true, 10_240);
      }
    });
  });

  describe('account isolation', () => {
    let acmeId = '';
    let globexId = '';
    before(async () => {
      const a = `/iso-${unique()}`;
      const g = `/iso-${unique()}`;
      await send(edge.http, 'acme.example.com', a);
      await send(edge.http, 'globex.example.com', g);
      acmeId = (await captureOf(acme, a)).id;
      globexId = (await captureOf(globex, g)).id;
    });

    it("shows an API key only its own account's captures, over gRPC", async () => {
      assert.ok((await list(globex)).captures.every((c) => c.account === 'globex'));
      assert.ok((await list(acme)).captures.every((c) => c.account === 'acme'));
      const d = dynamicAdmin(edge.admin!, GLOBEX_KEY);
      try {
        for (const call of [d.inspector('GetCapture', { id: acmeId }), d.inspector('Replay', { id: acmeId })]) {
          const r = await refusal(call);
          assert.deepEqual([r.code, r.mg], [5 /* NOT_FOUND */, 'MG_RESOURCE_NOT_FOUND']);
        }
        const r = await refusal(d.inspector('UpdateCaptureSettings', { endpoint: acmeEndpointId, full: false }));
        assert.equal(r.mg, 'MG_RESOURCE_NOT_FOUND', "another account's endpoint id is unknown");
      } finally {
        d.close();
      }
      const all = (await list(root, { pageSize: 1000 })).captures;
      assert.ok(all.some((c) => c.id === acmeId) && all.some((c) => c.id === globexId), 'the bootstrap admin key sees every account');
      const named = adminClient(edge.admin!, ADMIN_KEY, 'globex');
      try {
        assert.ok((await list(named)).captures.every((c) => c.account === 'globex'), 'or the account it names');
      } finally {
        named.close();
      }
    });

    it('does the same on the console JSON API, and refuses a request without a key', async () => {
      const api = async (path: string, key?: string, init: { method?: string; body?: string } = {}) => {
        const r = await request(`http://${consoleAddr}${path}`, { method: (init.method ?? 'GET') as 'GET', body: init.body, headers: key ? { authorization: `Bearer ${key}` } : {} });
        return { status: r.statusCode, json: (await r.body.json()) as any };
      };
      const none = await api('/api/inspect/captures');
      assert.equal(none.status, 401);
      assert.equal(none.json.error.code, 'MG_API_KEY_INVALID');
      assert.equal((await api('/api/inspect/captures', 'wrong-key-0123456789')).status, 401);
      const g = await api('/api/inspect/captures?pageSize=1000', GLOBEX_KEY);
      assert.equal(g.status, 200);
      assert.ok(g.json.captures.length > 0 && g.json.captures.every((c: any) => c.account === 'globex'));
      assert.equal((await api(`/api/inspect/captures/${acmeId}`, GLOBEX_KEY)).status, 404);
      assert.equal((await api(`/api/inspect/captures/${acmeId}/replay`, GLOBEX_KEY, { method: 'POST', body: '{}' })).status, 404);
      const mine = await api(`/api/inspect/captures/${globexId}`, GLOBEX_KEY);
      assert.equal(mine.status, 200);
      assert.equal(mine.json.id, globexId);
      const who = await api('/api/inspect/whoami', GLOBEX_KEY);
      assert.deepEqual(who.json, { account: 'globex', admin: false, nodeId: 'eu-insp', region: 'eu' });
      const eps = await api('/api/inspect/endpoints', GLOBEX_KEY);
      assert.deepEqual(eps.json.endpoints.map((e: any) => e.url), ['http://globex.example.com']);
    });
  });

  describe('CLI', () => {
    let env: Record<string, string>;
    let id = '';
    const path = `/api/cli-${unique()}`;
    before(async () => {
      env = { MESHGATE_ADMIN: edge.admin!, MESHGATE_API_KEY: ACME_KEY, MESHGATE_ACCOUNT: '', MESHGATE_PROFILE: '', MESHGATE_CONFIG: join(edge.dir, 'no-such-config.yml') };
      await send(edge.http, 'acme.example.com', path, { method: 'POST', body: '{"from":"cli"}', headers: { 'content-type': 'application/json', 'x-custom': 'cli' } });
      id = (await captureOf(acme, path)).id;
    });
    const cli = async (args: string[]) => meshgateRun(args, { env, timeoutMs: 30_000 });

    it('`meshgate inspect list` shows the captured requests as a table, filtered', async () => {
      const r = await cli(['inspect', 'list', '--path', path, '--status', '2xx']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0], /^ID\s+TIME\s+METHOD\s+URL\s+STATUS\s+DURATION\s+REGION\s+SERVED BY\s+CAPTURE$/);
      assert.equal(lines.length, 2);
      assert.match(lines[1], new RegExp(`^${id}\\s+\\S+ \\S+\\s+POST\\s+acme\\.example\\.com${path}\\s+200\\s+.*\\s+eu\\s+agent eu\\s+full$`));
      const j = await cli(['inspect', 'list', '--endpoint', 'http://acme.example.com', '--limit', '2', '--json']);
      assert.equal(j.code, 0, j.stderr);
      assert.equal(JSON.parse(j.stdout).captures.length, 2);
      const bad = await cli(['inspect', 'list', '--since', 'soon']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--since/);
    });

    it('`meshgate inspect get` shows headers, bodies and the policy decisions', async () => {
      const r = await cli(['inspect', 'get', id]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^id\\s+${id}$`, 'm'));
      assert.match(r.stdout, /^request\s+POST http:\/\/acme\.example\.com\/api\/cli-/m);
      assert.match(r.stdout, /✓ on_http_request\[0\] tag-api \(matched\)/);
      assert.match(r.stdout, /^ {2}x-custom: cli$/m);
      assert.match(r.stdout, /^ {2}\{"from":"cli"\}$/m);
      const j = JSON.parse((await cli(['inspect', 'get', id, '--json'])).stdout);
      assert.equal(j.request.body_text, '{"from":"cli"}');
      const missing = await cli(['inspect', 'get', 'req_nope']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /MG_RESOURCE_NOT_FOUND/);
    });

    it('`meshgate replay ID --set-header` replays it, and the upstream gets the changed header', async () => {
      const r = await cli(['replay', id, '--set-header', 'X-Custom: from-cli', '--set-header', 'x-more: 1']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^replayed ${id} as req_\\w+ on eu-insp \\(eu\\): 200 in `));
      const seen = await up.waitFor((s) => s.headers['meshgate-replay-of'] === id);
      assert.equal(seen.headers['x-custom'], 'from-cli');
      assert.equal(seen.headers['x-more'], '1');
      assert.equal(seen.head, '{"from":"cli"}');
      const bad = await cli(['replay', id, '--set-header', 'no-colon']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--set-header/);
    });

    it('`meshgate inspect capture` shows and changes the capture settings', async () => {
      const r = await cli(['inspect', 'capture', '--endpoint', 'http://acme.example.com', '--max-body-bytes', '2048']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^capture\s+full: headers and the first 2048 bytes of each body$/m);
      assert.match(r.stdout, /^source\s+endpoint$/m);
      const reset = await cli(['inspect', 'capture', '--endpoint', 'http://globex.example.com', '--reset']);
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stdout, /^source\s+default$/m);
      await setCapture(acme, 'http://acme.example.com', true, 10_240);
    });
  });

  describe('a 50 MB body', () => {
    const SIZE = 50 * 1024 * 1024;

    it('is captured truncated at the limit, streams end to end both ways, and the edge memory stays bounded', async function () {
      this.timeout(90_000);
      await setCapture(acme, 'http://acme.example.com', true, 10_240);
      const pid = edge.proc.pid;
      const before = rssKiB(pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 20);
      try {
        // upload: 50 MB streamed from a generator, the upstream hashes what arrives
        const expected = createHash('sha256');
        for (const c of patternBytes(SIZE)) expected.update(c);
        const upPath = `/api/upload-${unique()}`;
        const res = await request(`http://${edge.http}${upPath}`, {
          method: 'POST',
          headers: { host: 'acme.example.com', 'content-type': 'application/octet-stream', 'content-length': String(SIZE) },
          body: Readable.from(patternBytes(SIZE)),
          dispatcher: client,
        });
        const answer = (await res.body.json()) as { bytes: number; sha256: string };
        assert.equal(res.statusCode, 200);
        assert.equal(answer.bytes, SIZE);
        assert.equal(answer.sha256, expected.digest('hex'), 'every byte arrived upstream, in order');

        // download: 50 MB streamed from the upstream, hashed here
        const downPath = `/big/${SIZE}`;
        const dl = await request(`http://${edge.http}${downPath}`, { headers: { host: 'acme.example.com' }, dispatcher: client });
        const got = createHash('sha256');
        let n = 0;
        for await (const c of dl.body) {
          got.update(c as Buffer);
          n += (c as Buffer).length;
        }
        assert.equal(n, SIZE);
        const want = createHash('sha256');
        for (const c of patternBytes(SIZE)) want.update(c);
        assert.equal(got.digest('hex'), want.digest('hex'));
        clearInterval(sampler);
        const after = rssKiB(pid);
        const growth = (peak - before) / 1024;
        console.log(`      edge RSS: before ${(before / 1024).toFixed(1)} MiB, peak ${(peak / 1024).toFixed(1)} MiB (+${growth.toFixed(1)}), after ${(after / 1024).toFixed(1)} MiB, for 2 × 50 MiB streamed with full capture`);

        const upCap = await get(acme, (await captureOf(acme, upPath)).id);
        assert.equal(upCap.request!.body.length, 10_240);
        assert.equal(upCap.request!.bodySize, SIZE);
        assert.equal(upCap.request!.bodyTruncated, true);
        assert.deepEqual(upCap.request!.body, Buffer.concat([...patternBytes(SIZE)].slice(0, 1)).subarray(0, 10_240));
        const downCap = await get(acme, (await captureOf(acme, downPath)).id);
        assert.equal(downCap.response!.body.length, 10_240);
        assert.equal(downCap.response!.bodySize, SIZE);
        assert.equal(downCap.response!.bodyTruncated, true);

        // The edge's own streaming (HTTP/2 windows of the tunnel, buffers awaiting GC) costs ~35-40 MiB
        // here with or without capture (measured); a capture holding the upload would add 50 MiB more.
        assert.ok(growth < 64, `the edge grew by ${growth.toFixed(1)} MiB while streaming 2 × 50 MiB: it must not hold the bodies`);
      } finally {
        clearInterval(sampler);
      }
    });
  });
});

describe('traffic inspector across a 3-edge cluster', function () {
  this.timeout(120_000);
  let edges: Record<string, AdminEdge>;
  let up: RecordingUpstream;
  const clients: Client[] = [];
  const on = (region: string, key = ACME_KEY): Client => {
    const c = adminClient(edges[region].admin, key);
    clients.push(c);
    return c;
  };
  const URL = 'http://shop.apps.example.com';

  before(async () => {
    up = await startRecordingUpstream();
    edges = await startAdminCluster();
    await startAgent('cluster-agent', { upstreamPort: up.port, url: URL, edge: edges.eu, authtoken: 'tok_acme' });
    for (const r of ['eu', 'us', 'jp']) await eventually(`${r} serves the agent`, async () => (await send(edges[r].http, 'shop.apps.example.com', '/ping')).status === 200, 15_000);
    await setCapture(on('us'), URL, true);
    for (const r of ['eu', 'us', 'jp']) {
      await eventually(`${r} applies full capture`, async () => (await ins(on(r), (x) => x.getCaptureSettings.bind(x), { endpoint: URL })).full, 10_000);
    }
  });
  after(async () => {
    clients.forEach((c) => c.close());
    await stopAll();
    await up?.close();
    for (const e of Object.values(edges ?? {})) rmSync(e.dir, { recursive: true, force: true });
  });

  it('lists the requests every edge received, from any edge, and gets one held by another edge', async () => {
    const tag = unique();
    for (const r of ['eu', 'us', 'jp']) await send(edges[r].http, 'shop.apps.example.com', `/x-${tag}/${r}`, { method: 'POST', body: `from ${r}` });
    const jp = on('jp');
    let caps: Capture[] = [];
    await eventually('3 captures listed from jp', async () => {
      caps = (await list(jp, { pathPrefix: `/x-${tag}/` })).captures;
      return caps.length === 3;
    });
    assert.deepEqual(caps.map((c) => `${c.path.split('/').pop()}@${c.nodeId}/${c.region}`).sort(), ['eu@eu-1/eu', 'jp@jp-1/jp', 'us@us-1/us']);
    assert.ok(caps.every((c) => c.servedBy?.region === 'eu'), 'the agent is on eu: us and jp relayed');
    const fromUs = caps.find((c) => c.nodeId === 'us-1')!;
    const got = await get(on('eu'), fromUs.id);
    assert.equal(got.request!.body.toString(), 'from us');
    assert.equal(got.nodeId, 'us-1');
    const localOnly = (await list(jp, { pathPrefix: `/x-${tag}/`, localOnly: true })).captures;
    assert.deepEqual(localOnly.map((c) => c.nodeId), ['jp-1']);
    const other = (await list(on('eu', GLOBEX_KEY), { pathPrefix: `/x-${tag}/` })).captures;
    assert.equal(other.length, 0, 'peers keep the account scope');
  });

  it('replays from any edge on the edge that captured the request', async () => {
    const path = `/y-${unique()}`;
    await send(edges.jp.http, 'shop.apps.example.com', path, { method: 'PUT', body: 'held by jp' });
    const c = await captureOf(on('eu'), path);
    assert.equal(c.nodeId, 'jp-1');
    const r = await replay(on('us'), c.id, { setHeaders: [{ name: 'x-via', value: 'us' }] });
    assert.equal(r.nodeId, 'jp-1');
    assert.equal(r.region, 'jp');
    assert.equal(r.status, 200);
    const seen = await up.waitFor((s) => s.headers['meshgate-replay-of'] === c.id);
    assert.equal(seen.head, 'held by jp');
    assert.equal(seen.headers['x-via'], 'us');
    const d = dynamicAdmin(edges.us.admin, GLOBEX_KEY);
    try {
      assert.equal((await refusal(d.inspector('Replay', { id: c.id }))).mg, 'MG_RESOURCE_NOT_FOUND', 'another account cannot replay it through a peer');
    } finally {
      d.close();
    }
  });

  it('answers with what the others have when an edge is down, naming it if it is still known', async () => {
    const path = `/z-${unique()}`;
    await send(edges.eu.http, 'shop.apps.example.com', path);
    edges.jp.proc.kill('SIGKILL');
    await edges.jp.proc.exited;
    const t0 = performance.now();
    const res = await list(on('us'), { pathPrefix: path });
    const ms = performance.now() - t0;
    assert.deepEqual(res.captures.map((c) => c.nodeId), ['eu-1']);
    assert.ok(ms < 5_000, `bounded by the peer timeout (${ms.toFixed(0)} ms)`);
    assert.ok(res.unreachableNodes.every((n) => n === 'jp-1@jp'));
  });
});
