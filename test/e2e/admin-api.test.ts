/**
 * The gRPC admin API against a real three-edge cluster (separate processes), driven by a client
 * built only from proto/admin.proto: create/list/update/delete of cloud endpoints with pools,
 * replication to every edge within 1 s (embedded store), restart of every edge with the data
 * dirs kept, account isolation, refused bad input with nothing written, authtoken revocation,
 * and 100 policy updates under continuous load without a dropped request.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, send, startAgent, startUpstream } from '../helpers/gateway.js';
import { ACME_KEY, ADMIN_KEY, adminEdgeYaml, customPolicy, GLOBEX_KEY, startAdminCluster, type AdminEdge } from '../helpers/admin-cluster.js';
import { meshgate, stopAll, tempFiles } from '../helpers/procs.js';
import { dynamicAdmin, grpc, refusal, type DynamicAdmin } from '../helpers/admin-dynamic.js';

describe('admin API (gRPC, client from admin.proto only, three edges, embedded store)', function () {
  this.timeout(120_000);
  let edges: Record<string, AdminEdge>;
  let acme: Record<string, DynamicAdmin>;
  let globex: DynamicAdmin;
  let dataDirs: Record<string, string>;

  before(async () => {
    dataDirs = Object.fromEntries(['eu', 'us', 'jp'].map((r) => [r, join(tempFiles({}), 'data')]));
    edges = await startAdminCluster(Object.fromEntries(Object.entries(dataDirs).map(([r, d]) => [r, { dataDir: d }])));
    acme = Object.fromEntries(Object.entries(edges).map(([r, e]) => [r, dynamicAdmin(e.admin, ACME_KEY)]));
    globex = dynamicAdmin(edges.us.admin, GLOBEX_KEY);
    await eventually('the cluster knows all three edges', async () => (await acme.eu.server('GetServerInfo')).peers.length === 2);
  });
  after(async () => {
    for (const c of Object.values(acme ?? {})) c.close();
    globex?.close();
    await stopAll();
  });

  it('creates a cloud endpoint on eu that serves on us and jp within 1 s', async () => {
    const t0 = performance.now();
    const ep = await acme.eu.endpoints('CreateEndpoint', { url: 'http://shop.apps.example.com', traffic_policy: customPolicy('shop v1'), description: 'shop front' });
    assert.match(ep.id, /^ep_/);
    assert.equal(ep.type, 'cloud');
    assert.equal(ep.binding, 'public');
    assert.equal(ep.url, 'http://shop.apps.example.com');
    const seen: Record<string, number> = {};
    await Promise.all(['us', 'jp'].map(async (r) => {
      await eventually(`${r} serves the new endpoint`, async () => (await send(edges[r].http, 'shop.apps.example.com')).text === 'shop v1', 5_000, 10);
      seen[r] = performance.now() - t0;
    }));
    for (const [r, ms] of Object.entries(seen)) assert.ok(ms < 1_000, `${r} served it after ${ms.toFixed(0)} ms`);
    const got = await acme.jp.endpoints('GetEndpoint', { id: ep.id });
    assert.equal(got.traffic_policy, customPolicy('shop v1'));
    assert.equal(got.description, 'shop front');
  });

  it('lists cloud and agent endpoints with a CEL filter, and shows pool members in pools', async () => {
    const up = await startUpstream('admin-up');
    await startAgent('admin-agent', { upstreamPort: up.port, url: 'https://foo.internal', edge: edges.eu, authtoken: 'tok_acme' });
    const a = await acme.eu.endpoints('CreateEndpoint', { url: 'http://pool.apps.example.com', traffic_policy: customPolicy('pool a'), pooling_enabled: true });
    const b = await acme.us.endpoints('CreateEndpoint', { url: 'http://pool.apps.example.com', traffic_policy: customPolicy('pool b'), pooling_enabled: true });
    await eventually('jp sees both pool members', async () => (await acme.jp.endpoints('GetEndpoint', { id: a.id })).pools.includes(b.id));
    assert.deepEqual((await acme.jp.endpoints('GetEndpoint', { id: b.id })).pools, [a.id]);

    await eventually('jp lists the agent endpoint from presence', async () => {
      const agents = (await acme.jp.endpoints('ListEndpoints', { filter: "obj.type == 'agent'" })).endpoints;
      return agents.length === 1 && agents[0].region === 'eu' && agents[0].node_id === 'eu-1' && agents[0].url === 'https://foo.internal';
    });
    const cloudPublic = (await acme.jp.endpoints('ListEndpoints', { filter: "obj.type == 'cloud' && 'public' == obj.binding" })).endpoints;
    assert.ok(cloudPublic.length >= 3 && cloudPublic.every((e: any) => e.type === 'cloud' && e.binding === 'public'));
    const pooled = (await acme.jp.endpoints('ListEndpoints', { filter: 'size(obj.pools) > 0' })).endpoints.map((e: any) => e.id).sort();
    assert.deepEqual(pooled, [a.id, b.id].sort());

    // paging walks every endpoint exactly once
    const all = (await acme.eu.endpoints('ListEndpoints', {})).endpoints.map((e: any) => e.id);
    const paged: string[] = [];
    let token = '';
    for (let i = 0; i < 20; i++) {
      const page = await acme.eu.endpoints('ListEndpoints', { page_size: 2, page_token: token });
      paged.push(...page.endpoints.map((e: any) => e.id));
      token = page.next_page_token;
      if (!token) break;
    }
    assert.deepEqual(paged, all);
    const badFilter = await refusal(acme.eu.endpoints('ListEndpoints', { filter: 'obj.type ==' }));
    assert.equal(badFilter.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(badFilter.field, 'filter');
  });

  it('updates the policy everywhere and deletes the endpoint everywhere', async () => {
    const ep = await acme.us.endpoints('CreateEndpoint', { url: 'http://upd.apps.example.com', traffic_policy: customPolicy('before') });
    await eventually('all edges serve it', async () => (await Promise.all(Object.values(edges).map((e) => send(e.http, 'upd.apps.example.com')))).every((r) => r.text === 'before'));
    const updated = await acme.jp.endpoints('UpdateEndpoint', { id: ep.id, traffic_policy: customPolicy('after'), description: 'changed' });
    assert.equal(updated.description, 'changed');
    assert.ok(updated.updated_at > ep.updated_at);
    await eventually('all edges serve the new policy', async () => (await Promise.all(Object.values(edges).map((e) => send(e.http, 'upd.apps.example.com')))).every((r) => r.text === 'after'), 2_000);
    await acme.eu.endpoints('DeleteEndpoint', { id: ep.id });
    await eventually('no edge serves it', async () => (await Promise.all(Object.values(edges).map((e) => send(e.http, 'upd.apps.example.com')))).every((r) => r.status === 404), 2_000);
    assert.equal((await refusal(acme.us.endpoints('GetEndpoint', { id: ep.id }))).code, grpc.status.NOT_FOUND);
  });

  it('refuses bad input with the right code and field, and writes nothing', async () => {
    const before = (await acme.eu.endpoints('ListEndpoints', {})).endpoints.length;
    const cases: Array<[string, Record<string, unknown>, number, string, string]> = [
      ['invalid policy', { url: 'http://x.apps.example.com', traffic_policy: 'on_http_request:\n  - expressions: ["req.methodd == 1"]\n    actions: [{type: deny}]\n' }, grpc.status.INVALID_ARGUMENT, 'MG_POLICY_INVALID', 'traffic_policy'],
      ['policy without a terminating action', { url: 'http://x.apps.example.com', traffic_policy: 'on_http_request:\n  - actions: [{type: add-headers, config: {headers: {a: b}}}]\n' }, grpc.status.INVALID_ARGUMENT, 'MG_POLICY_INVALID', 'traffic_policy'],
      ['bad URL', { url: 'http://exa mple.com/path', traffic_policy: customPolicy('x') }, grpc.status.INVALID_ARGUMENT, 'MG_ENDPOINT_URL_INVALID', 'url'],
      ['unreserved domain', { url: 'http://not-mine.example.org', traffic_policy: customPolicy('x') }, grpc.status.FAILED_PRECONDITION, 'MG_DOMAIN_NOT_RESERVED', 'url'],
      ['pool conflict', { url: 'http://shop.apps.example.com', traffic_policy: customPolicy('x') }, grpc.status.ALREADY_EXISTS, 'MG_POOL_CONFLICT', 'pooling_enabled'],
      ['bad binding', { url: 'http://y.apps.example.com', binding: 'internal', traffic_policy: customPolicy('x') }, grpc.status.INVALID_ARGUMENT, 'MG_BINDING_INVALID', 'binding'],
    ];
    for (const [what, req, code, mg, field] of cases) {
      const r = await refusal(acme.eu.endpoints('CreateEndpoint', req));
      assert.equal(r.code, code, `${what}: ${r.details}`);
      assert.equal(r.mg, mg, what);
      assert.equal(r.field, field, what);
      assert.ok(r.details.includes(field), `${what}: the message names ${field}: ${r.details}`);
    }
    const policy = await refusal(acme.eu.endpoints('CreateEndpoint', cases[0][1]));
    assert.match(policy.details, /on_http_request\[0\]\.expressions\[0\]/);
    assert.equal((await acme.eu.endpoints('ListEndpoints', {})).endpoints.length, before, 'nothing was written');
    assert.equal((await send(edges.eu.http, 'shop.apps.example.com')).text, 'shop v1', 'the edge still serves');
  });

  it('isolates accounts: another key cannot see, change, route to or reserve what acme owns', async () => {
    const ep = (await acme.eu.endpoints('ListEndpoints', { filter: "obj.url == 'http://shop.apps.example.com'" })).endpoints[0];
    assert.equal((await refusal(globex.endpoints('GetEndpoint', { id: ep.id }))).code, grpc.status.NOT_FOUND);
    assert.equal((await refusal(globex.endpoints('UpdateEndpoint', { id: ep.id, description: 'mine now' }))).code, grpc.status.NOT_FOUND);
    assert.equal((await refusal(globex.endpoints('DeleteEndpoint', { id: ep.id }))).code, grpc.status.NOT_FOUND);
    assert.equal((await globex.endpoints('ListEndpoints', {})).endpoints.length, 0);
    assert.equal((await globex.domains('ListDomains')).domains.map((d: any) => d.domain).join(), 'globex.example.com');
    const taken = await refusal(globex.domains('CreateDomain', { domain: '*.apps.example.com' }));
    assert.equal(taken.code, grpc.status.ALREADY_EXISTS);
    const onAcme = await refusal(globex.endpoints('CreateEndpoint', { url: 'http://evil.apps.example.com', traffic_policy: customPolicy('x') }));
    assert.equal(onAcme.code, grpc.status.FAILED_PRECONDITION);
    // globex's cloud endpoint cannot reach acme's https://foo.internal
    await globex.endpoints('CreateEndpoint', { url: 'http://globex.example.com', traffic_policy: 'on_http_request:\n  - actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]\n' });
    await eventually('globex endpoint online on us', async () => (await send(edges.us.http, 'globex.example.com')).status !== 404);
    const r = await send(edges.us.http, 'globex.example.com');
    assert.equal(r.status, 502);
    assert.equal(r.headers['meshgate-error-code'], 'MG_FORWARD_TARGET_OFFLINE');
    // keys: wrong key, account key on the admin-only service
    assert.equal((await refusal(dynamicAdmin(edges.eu.admin, 'nope-not-a-key').endpoints('ListEndpoints'))).code, grpc.status.UNAUTHENTICATED);
    assert.equal((await refusal(acme.eu.accounts('ListAccounts'))).code, grpc.status.PERMISSION_DENIED);
    const admin = dynamicAdmin(edges.eu.admin, ADMIN_KEY, 'globex');
    assert.equal((await admin.endpoints('ListEndpoints')).endpoints.length, 1, 'the admin key acts on the named account');
    admin.close();
  });

  it('revokes an authtoken created through the API: its agent is disconnected on another edge and exits', async () => {
    const created = await acme.eu.authtokens('CreateAuthtoken', { description: 'ci agent' });
    assert.match(created.token, /^mgat_/);
    const listed = (await acme.jp.authtokens('ListAuthtokens')).credentials;
    await eventually('the token replicated', async () => (await acme.jp.authtokens('ListAuthtokens')).credentials.some((c: any) => c.id === created.id));
    assert.ok(listed.every((c: any) => c.token === ''), 'list never shows secrets');
    const up = await startUpstream('revoke-up');
    const agent = await startAgent('revoke-agent', { upstreamPort: up.port, url: 'http://api.example.com', edge: edges.jp, authtoken: created.token });
    await eventually('jp serves the agent', async () => (await send(edges.jp.http, 'api.example.com')).status === 200);
    await acme.us.authtokens('DeleteAuthtoken', { id: created.id });
    const code = await Promise.race([agent.proc.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    assert.notEqual(code, 'still running');
    assert.notEqual(code, 0);
    assert.ok(agent.proc.stderr.join('\n').includes('MG_AUTHTOKEN_INVALID'));
    await eventually('jp no longer serves it', async () => (await send(edges.jp.http, 'api.example.com')).status === 404);
  });

  it('drops no request while the policy is updated 100 times in a row', async () => {
    const ep = await acme.eu.endpoints('CreateEndpoint', { url: 'http://load.apps.example.com', traffic_policy: customPolicy('v0') });
    await eventually('eu serves it', async () => (await send(edges.eu.http, 'load.apps.example.com')).text === 'v0');
    let stop = false;
    let sent = 0;
    const bad: string[] = [];
    const bodies = new Set<string>();
    const loaders = Array.from({ length: 4 }, async () => {
      while (!stop && sent < 50_000) {
        sent++;
        const r = await send(edges.eu.http, 'load.apps.example.com').catch((e) => ({ status: 0, text: String(e) }) as const);
        if (r.status !== 200 || !/^v\d+$/.test(r.text)) bad.push(`${r.status} ${r.text.slice(0, 80)}`);
        else bodies.add(r.text);
      }
    });
    for (let i = 1; i <= 100; i++) await acme.us.endpoints('UpdateEndpoint', { id: ep.id, traffic_policy: customPolicy(`v${i}`) });
    await eventually('eu serves the last version', async () => (await send(edges.eu.http, 'load.apps.example.com')).text === 'v100', 3_000);
    stop = true;
    await Promise.all(loaders);
    assert.deepEqual(bad, [], `${bad.length} of ${sent} requests failed`);
    assert.ok(sent > 100, `only ${sent} requests were sent`);
    assert.ok(bodies.size > 2, `the load saw ${bodies.size} policy versions`);
  });

  it('keeps endpoints, keys and domains across a restart of every edge', async () => {
    const domain = await acme.eu.domains('CreateDomain', { domain: 'restart.example.com', description: 'kept' });
    const key = await acme.eu.apiKeys('CreateApiKey', { description: 'kept key' });
    const ep = await acme.eu.endpoints('CreateEndpoint', { url: 'http://restart.example.com', traffic_policy: customPolicy('still here') });
    await eventually('replicated to jp', async () => (await acme.jp.endpoints('ListEndpoints', { filter: `obj.id == '${ep.id}'` })).endpoints.length === 1);
    const countBefore = (await acme.eu.endpoints('ListEndpoints', { filter: "obj.type == 'cloud'" })).endpoints.length;
    for (const c of Object.values(acme)) c.close();
    await Promise.all(Object.values(edges).map((e) => e.proc.stop()));

    edges = await startAdminCluster(Object.fromEntries(Object.entries(dataDirs).map(([r, d]) => [r, { dataDir: d }])));
    acme = Object.fromEntries(Object.entries(edges).map(([r, e]) => [r, dynamicAdmin(e.admin, ACME_KEY)]));
    for (const r of ['eu', 'us', 'jp']) {
      assert.equal((await send(edges[r].http, 'restart.example.com')).text, 'still here', `${r} serves the endpoint after restart`);
      assert.equal((await acme[r].endpoints('ListEndpoints', { filter: "obj.type == 'cloud'" })).endpoints.length, countBefore, `${r} has every cloud endpoint`);
      assert.ok((await acme[r].domains('ListDomains')).domains.some((d: any) => d.id === domain.id));
    }
    const byNewKey = dynamicAdmin(edges.jp.admin, key.token);
    assert.equal((await byNewKey.server('GetServerInfo')).account, 'acme', 'an API key created before the restart still works');
    byNewKey.close();
  });
});

describe('admin store bad input at start', function () {
  this.timeout(30_000);
  after(() => stopAll());

  it('refuses a corrupt data dir file by name instead of starting empty', async () => {
    const dir = tempFiles({ 'data/store.json': '{not json' });
    const yaml = adminEdgeYaml('eu', [], { dataDir: join(dir, 'data') });
    const p = meshgate('corrupt-store', ['edge', '--config', join(tempFiles({ 'edge.yaml': yaml }), 'edge.yaml')]);
    const code = await p.exited;
    assert.notEqual(code, 0);
    assert.match(p.stderr.join('\n'), /data_dir.*store\.json is not valid JSON/);
  });
});
