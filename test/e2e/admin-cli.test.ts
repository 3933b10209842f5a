/**
 * The admin CLI against a real edge: `bin/meshgate endpoints|domains|authtokens|api-keys|
 * accounts|server|config ...` as child processes talking gRPC to the edge's listen.admin, with
 * the connection from env (MESHGATE_ADMIN / MESHGATE_API_KEY) or from a profile file in a temp
 * dir. Changes made through the CLI show on the edge's public listener.
 */
import assert from 'node:assert/strict';
import { rmSync, statSync, writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, send, startEdge, type EdgeHandle } from '../helpers/gateway.js';
import { meshgateRun, stopAll } from '../helpers/procs.js';

const ADMIN_KEY = 'test-admin-key-0123456789';
const ACME_KEY = 'acme-api-key-0123456789';

const EDGE_YAML = `
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin_api_key: ${ADMIN_KEY}
accounts:
  - name: acme
    authtokens: [tok_acme]
    api_keys: [${ACME_KEY}]
    domains: [app.example.com, "*.apps.example.com"]
`;

const policy = (body: string): string => `on_http_request:\n  - actions: [{type: custom-response, config: {status_code: 200, body: "${body}"}}]\n`;

type Run = { code: number | null; stdout: string; stderr: string };

describe('admin CLI: managing an edge through its gRPC admin API', function () {
  this.timeout(120_000);
  let edge: EdgeHandle;
  let dir: string;
  let env: Record<string, string>;

  /** `meshgate ARGS` with the test's environment (plus `extra`); bounded. */
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<Run> => meshgateRun(args, { env: { ...env, ...extra }, timeoutMs: 30_000 });
  const ok = async (args: string[], extra: Record<string, string> = {}): Promise<Run> => {
    const r = await cli(args, extra);
    assert.equal(r.code, 0, `meshgate ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const body = async (host: string): Promise<string> => {
    const r = await send(edge.http, host, '/');
    return `${r.status} ${r.text}`;
  };

  before(async () => {
    edge = await startEdge(EDGE_YAML);
    assert.ok(edge.admin, 'the ready line lists listeners.admin');
    dir = mkdtempSync(join(tmpdir(), 'meshgate-admin-cli-'));
    writeFileSync(join(dir, 'v1.yml'), policy('v1'));
    writeFileSync(join(dir, 'v2.yml'), policy('v2'));
    writeFileSync(join(dir, 'internal.yml'), policy('internal'));
    writeFileSync(join(dir, 'bad.yml'), 'on_http_request:\n  - actions:\n      - type: teleport\n');
    env = {
      MESHGATE_ADMIN: edge.admin!,
      MESHGATE_API_KEY: ACME_KEY,
      MESHGATE_ACCOUNT: '',
      MESHGATE_PROFILE: '',
      MESHGATE_CONFIG: join(dir, 'cfg', 'config.yml'),
      XDG_CONFIG_HOME: join(dir, 'xdg'),
      HOME: dir,
    };
  });
  after(async () => {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (edge) rmSync(edge.dir, { recursive: true, force: true });
  });

  describe('endpoints', () => {
    let id = '';

    it('creates a cloud endpoint from a policy file, and the edge serves it', async () => {
      const r = await ok(['endpoints', 'create', '--url', 'http://app.example.com', '--traffic-policy-file', join(dir, 'v1.yml'), '--description', 'the app']);
      const m = /created cloud endpoint (ep_\w+) on http:\/\/app\.example\.com/.exec(r.stdout);
      assert.ok(m, r.stdout);
      id = m[1];
      await eventually('app.example.com answers v1', async () => (await body('app.example.com')) === '200 v1');
    });

    it('lists it in an aligned table and as snake_case JSON', async () => {
      const table = (await ok(['endpoints', 'list'])).stdout.split('\n');
      assert.match(table[0], /^ID\s+URL\s+TYPE\s+BINDING\s+POOL\s+REGION\s+DESCRIPTION$/);
      const row = table.find((l) => l.startsWith(id));
      assert.ok(row, table.join('\n'));
      assert.match(row, /http:\/\/app\.example\.com\s+cloud\s+public\s+-\s+all\s+the app$/);
      assert.equal(row.indexOf('http://'), table[0].indexOf('URL'), 'columns are aligned');

      const json = JSON.parse((await ok(['endpoints', 'list', '--json'])).stdout);
      assert.equal(json.next_page_token, '');
      const ep = json.endpoints.find((e: { id: string }) => e.id === id);
      assert.deepEqual(
        { url: ep.url, type: ep.type, binding: ep.binding, pooling_enabled: ep.pooling_enabled, traffic_policy: ep.traffic_policy, pools: ep.pools },
        { url: 'http://app.example.com', type: 'cloud', binding: 'public', pooling_enabled: false, traffic_policy: policy('v1'), pools: [] },
      );
      assert.ok('created_at' in ep && 'upstream_url' in ep && !('trafficPolicy' in ep));
    });

    it('filters with CEL and follows page tokens to show every endpoint', async () => {
      await ok(['endpoints', 'create', '--url', 'https://inner.internal', '--traffic-policy', policy('internal')]);
      const internal = JSON.parse((await ok(['endpoints', 'list', '--json', '--filter', "obj.binding == 'internal'"])).stdout);
      assert.deepEqual(internal.endpoints.map((e: { url: string }) => e.url), ['https://inner.internal']);
      assert.equal((await ok(['endpoints', 'list', '--filter', "obj.type == 'agent'"])).stdout.trim(), 'no endpoints match the filter');

      const all = (await ok(['endpoints', 'list', '--page-size', '1'])).stdout;
      assert.match(all, /http:\/\/app\.example\.com/);
      assert.match(all, /https:\/\/inner\.internal/);
      const one = await ok(['endpoints', 'list', '--page-size', '1', '--one-page', '--json']);
      const page = JSON.parse(one.stdout);
      assert.equal(page.endpoints.length, 1);
      assert.notEqual(page.next_page_token, '');
      const next = JSON.parse((await ok(['endpoints', 'list', '--page-size', '1', '--page-token', page.next_page_token, '--json'])).stdout);
      assert.equal(next.endpoints.length, 1);
      assert.notEqual(next.endpoints[0].id, page.endpoints[0].id);
    });

    it('gets one endpoint with its policy, as text and JSON', async () => {
      const r = await ok(['endpoints', 'get', id]);
      assert.match(r.stdout, new RegExp(`^id\\s+${id}$`, 'm'));
      assert.match(r.stdout, /^region\s+all \(cloud endpoint\)$/m);
      assert.match(r.stdout, /^traffic_policy:\n {2}on_http_request:/m);
      assert.equal(JSON.parse((await ok(['endpoints', 'get', id, '--json'])).stdout).description, 'the app');
    });

    it('updates the policy, and new requests get the new one', async () => {
      const r = await ok(['endpoints', 'update', id, '--traffic-policy-file', join(dir, 'v2.yml'), '--description', 'v2 now', '--pooling-enabled=true']);
      assert.match(r.stdout, new RegExp(`updated ${id} \\(traffic_policy, description, pooling_enabled\\)`));
      await eventually('app.example.com answers v2', async () => (await body('app.example.com')) === '200 v2');
      const ep = JSON.parse((await ok(['endpoints', 'get', id, '--json'])).stdout);
      assert.equal(ep.description, 'v2 now');
      assert.equal(ep.pooling_enabled, true);
      const off = JSON.parse((await ok(['endpoints', 'update', id, '--pooling-enabled', 'false', '--json'])).stdout);
      assert.equal(off.pooling_enabled, false);
    });

    it('deletes it: the edge stops serving it and get says not found', async () => {
      assert.match((await ok(['endpoints', 'delete', id])).stdout, new RegExp(`deleted endpoint ${id}`));
      await eventually('app.example.com is gone', async () => (await body('app.example.com')).startsWith('404'));
      const r = await cli(['endpoints', 'get', id]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /MG_RESOURCE_NOT_FOUND/);
    });
  });

  describe('domains, authtokens, API keys, accounts', () => {
    it('reserves, lists, gets and releases a domain', async () => {
      const c = await ok(['domains', 'create', 'new.example.org', '--description', 'for tests']);
      const id = /reserved new\.example\.org \((rd_\w+)\)/.exec(c.stdout)?.[1];
      assert.ok(id, c.stdout);
      const list = (await ok(['domains', 'list'])).stdout;
      assert.match(list, /^ID\s+DOMAIN\s+DESCRIPTION\s+CREATED$/m);
      assert.match(list, new RegExp(`^${id}\\s+new\\.example\\.org\\s+for tests`, 'm'));
      assert.match(list, /app\.example\.com/);
      assert.equal(JSON.parse((await ok(['domains', 'get', id, '--json'])).stdout).domain, 'new.example.org');
      assert.match((await ok(['domains', 'get', 'new.example.org'])).stdout, new RegExp(`^id\\s+${id}$`, 'm'));
      await ok(['endpoints', 'create', '--url', 'http://new.example.org', '--traffic-policy-file', join(dir, 'v1.yml')]);
      const inUse = await cli(['domains', 'delete', id]);
      assert.equal(inUse.code, 1, inUse.stderr);
      assert.match(inUse.stderr, /MG_RESOURCE_IN_USE/);
      const ep = JSON.parse((await ok(['endpoints', 'list', '--json', '--filter', "obj.url == 'http://new.example.org'"])).stdout).endpoints[0];
      await ok(['endpoints', 'delete', ep.id]);
      await ok(['domains', 'delete', id]);
      assert.doesNotMatch((await ok(['domains', 'list'])).stdout, /new\.example\.org/);
    });

    it('creates an authtoken, prints its secret once with a warning, lists and revokes it', async () => {
      const c = await ok(['authtokens', 'create', '--description', 'ci agents']);
      const [, id, token] = /created authtoken (at_\w+) for account acme\n(mgat_\S+)/.exec(c.stdout) ?? [];
      assert.ok(id && token, c.stdout);
      assert.match(c.stderr, /shown only once/);
      const list = (await ok(['authtokens', 'list'])).stdout;
      assert.match(list, new RegExp(`^${id}\\s+acme\\s+ci agents`, 'm'));
      assert.ok(!list.includes(token), 'list never shows the secret');
      await ok(['authtokens', 'delete', id]);
      assert.doesNotMatch((await ok(['authtokens', 'list'])).stdout, new RegExp(id));
    });

    it('creates an API key that works at once and stops working when revoked', async () => {
      const c = JSON.parse((await ok(['api-keys', 'create', '--description', 'script', '--json'])).stdout);
      assert.match(c.id, /^ak_/);
      assert.match(c.token, /^mgak_/);
      assert.equal(c.account, 'acme');
      assert.match((await ok(['server', 'info'], { MESHGATE_API_KEY: c.token })).stdout, /^account\s+acme$/m);
      assert.match((await ok(['api-keys', 'list'])).stdout, new RegExp(`^${c.id}\\s+acme\\s+script`, 'm'));
      await ok(['api-keys', 'delete', c.id]);
      const r = await cli(['server', 'info'], { MESHGATE_API_KEY: c.token });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /MG_API_KEY_INVALID/);
    });

    it('manages accounts with the admin key and acts on one with --account', async () => {
      const admin = { MESHGATE_API_KEY: ADMIN_KEY };
      await ok(['accounts', 'create', 'beta', '--description', 'second'], admin);
      assert.match((await ok(['accounts', 'list'], admin)).stdout, /^beta\s+second/m);
      assert.equal((await ok(['domains', 'list', '--account', 'beta'], admin)).stdout.trim(), 'no reserved domains');
      await ok(['domains', 'create', 'beta.example.com', '--account', 'beta'], admin);
      const beta = JSON.parse((await ok(['domains', 'list', '--json'], { ...admin, MESHGATE_ACCOUNT: 'beta' })).stdout);
      assert.deepEqual(beta.domains.map((d: { domain: string }) => d.domain), ['beta.example.com']);
      const denied = await cli(['accounts', 'list']);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /MG_PERMISSION_DENIED/);
      await ok(['accounts', 'delete', 'beta'], admin);
      assert.doesNotMatch((await ok(['accounts', 'list', '--json'], admin)).stdout, /"beta"/);
    });

    it('reports server info and health', async () => {
      const info = JSON.parse((await ok(['server', 'info', '--json'])).stdout);
      assert.equal(info.region, 'eu');
      assert.equal(info.store, 'embedded');
      assert.equal(typeof info.store_records, 'number');
      assert.match((await ok(['server', 'health'], { MESHGATE_API_KEY: '' })).stdout, /^SERVING/);
    });
  });

  describe('profiles', () => {
    it('config add-api-key writes a 0600 profile that later commands use with no flags or env', async () => {
      const cfg = join(dir, 'profiles', 'nested', 'config.yml');
      const noEnv = { MESHGATE_ADMIN: '', MESHGATE_API_KEY: '', MESHGATE_CONFIG: cfg };
      await ok(['config', 'add-api-key', 'other-key-0123456789', '--profile', 'other', '--admin', '127.0.0.1:1'], noEnv);
      const saved = await ok(['config', 'add-api-key', ACME_KEY, '--admin', edge.admin!], noEnv);
      assert.match(saved.stdout, /saved API key acme\*\*\*\*6789 in profile 'default'/);
      assert.equal(statSync(cfg).mode & 0o777, 0o600);
      const text = readFileSync(cfg, 'utf8');
      assert.match(text, /other:\n\s+admin: 127\.0\.0\.1:1\n\s+api_key: other-key-0123456789/, 'other profiles are kept');
      assert.match(text, new RegExp(`default:\\n\\s+admin: ${edge.admin!.replace(/\./g, '\\.')}\\n\\s+api_key: ${ACME_KEY}`));

      const list = await ok(['endpoints', 'list'], noEnv);
      assert.match(list.stdout, /https:\/\/inner\.internal/);
      const show = (await ok(['config', 'show'], noEnv)).stdout;
      assert.match(show, /^api key\s+acme\*\*\*\*6789\s+\(from profile 'default'/m);
      assert.ok(!show.includes(ACME_KEY), 'the key is masked');
      // flags and env win over the profile
      const other = await cli(['server', 'info', '--profile', 'other'], noEnv);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /127\.0\.0\.1:1 \(from profile 'other'/);
      await ok(['server', 'info', '--profile', 'other', '--admin', edge.admin!, '--api-key', ACME_KEY], noEnv);
    });

    it('finds the profile file under XDG_CONFIG_HOME when MESHGATE_CONFIG is not set', async () => {
      const noEnv = { MESHGATE_ADMIN: '', MESHGATE_API_KEY: '', MESHGATE_CONFIG: '' };
      await ok(['config', 'add-api-key', ACME_KEY, '--admin', edge.admin!], noEnv);
      assert.equal(statSync(join(dir, 'xdg', 'meshgate', 'config.yml')).mode & 0o777, 0o600);
      await ok(['domains', 'list'], noEnv);
    });
  });

  describe('errors name the problem, and the edge keeps serving', () => {
    afterEach(async () => {
      assert.match((await ok(['server', 'health'])).stdout, /^SERVING/);
    });

    it('refuses a bad policy naming traffic_policy and MG_POLICY_INVALID (exit 1)', async () => {
      const r = await cli(['endpoints', 'create', '--url', 'https://bad.internal', '--traffic-policy-file', join(dir, 'bad.yml')]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /traffic_policy/);
      assert.match(r.stderr, /teleport/);
      assert.match(r.stderr, /\[MG_POLICY_INVALID\]/);
    });

    it('refuses a public URL on a domain the account has not reserved', async () => {
      const r = await cli(['endpoints', 'create', '--url', 'https://elsewhere.example.net', '--traffic-policy-file', join(dir, 'v1.yml')]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /url: /);
      assert.match(r.stderr, /\[MG_DOMAIN_NOT_RESERVED\]/);
    });

    it('says not found for an unknown id', async () => {
      for (const args of [['endpoints', 'get', 'ep_nope'], ['endpoints', 'delete', 'ep_nope'], ['domains', 'delete', 'rd_nope'], ['authtokens', 'delete', 'at_nope']]) {
        const r = await cli(args);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /id: .*nope.*\[MG_RESOURCE_NOT_FOUND\]/);
      }
    });

    it('refuses a bad API key', async () => {
      const r = await cli(['endpoints', 'list'], { MESHGATE_API_KEY: 'not-a-key-0123456789' });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /\[MG_API_KEY_INVALID\]/);
    });

    it('names the address and how to set it when no edge answers', async () => {
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      const r = await cli(['endpoints', 'list'], { MESHGATE_ADMIN: `127.0.0.1:${port}` });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} \\(from MESHGATE_ADMIN\\)`));
      assert.match(r.stderr, /--admin host:port/);
      assert.match(r.stderr, /\[MG_EDGE_UNREACHABLE\]/);
    });

    it('exits 2 naming the flag or argument for bad command lines', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['endpoints', 'list', '--bogus'], /--bogus/],
        [['endpoints', 'get'], /ID: .*is missing/],
        [['endpoints', 'create', '--traffic-policy-file', join(dir, 'v1.yml')], /--url/],
        [['endpoints', 'create', '--url', 'https://x.internal'], /--traffic-policy-file/],
        [['endpoints', 'create', '--url', 'https://x.internal', '--traffic-policy-file', join(dir, 'missing.yml')], /--traffic-policy-file: .*'[^']*missing\.yml': no such file/],
        [['endpoints', 'update', 'ep_x'], /nothing to change/],
        [['endpoints', 'update', 'ep_x', '--pooling-enabled=maybe'], /--pooling-enabled: .*true or false/],
        [['endpoints', 'list', '--page-size', 'lots'], /--page-size/],
        [['endpoints', 'frobnicate'], /unknown subcommand 'frobnicate'/],
        [['domains', 'delete'], /ID: /],
        [['accounts', 'create'], /NAME: /],
        [['server', 'info', '--admin', 'nowhere'], /--admin: .*'nowhere' is not host:port/],
        [['server', 'info', '--profile', 'ghost'], /--profile: .*no profile 'ghost'/],
        [['server', 'info'], /--api-key/],
      ];
      for (const [args, re] of cases) {
        const extra: Record<string, string> = args.join(' ') === 'server info' ? { MESHGATE_API_KEY: '' } : {};
        const r = await cli(args, extra);
        assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
        assert.match(r.stderr, re, args.join(' '));
      }
    });
  });
});
