import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { run as policyCommand } from '../../services/cli/commands/policy.js';
import { compileExpression, EvalContext, isCelError } from '../../services/policy/cel/index.js';
import { compilePolicy, parseRequestSpec, SecretVaults, simulateConnect, simulateRequest, type PolicyEndpoint } from '../../services/policy/index.js';
import { CLOUD, endpoint, exchange, FakeHost } from './policy-fixtures.js';

const ACME = new SecretVaults({ upstream: { 'api-key': 'k-acme-123', password: 'correct-horse' }, empty: {} });
const GLOBEX = new SecretVaults({ upstream: { 'api-key': 'k-globex-999' } });

function evalWith(source: string, ep: PolicyEndpoint): unknown {
  const r = compileExpression(source, 'on_http_request');
  if (!r.ok) assert.fail(`${source}: ${r.message}`);
  return r.expr.evaluate(new EvalContext(exchange('https://api.example.com/'), ep, undefined));
}

function refused(source: string, pattern: RegExp): void {
  const r = compileExpression(source, 'on_http_request');
  assert.equal(r.ok, false, `${source} compiled`);
  if (!r.ok) assert.match(r.message, pattern);
}

function request(text: string) {
  const r = parseRequestSpec(text);
  if (!r.ok) assert.fail(r.message);
  return r.spec;
}

describe('secrets.get(vault, name)', () => {
  it("returns a secret of the endpoint's account", () => {
    assert.equal(evalWith("secrets.get('upstream', 'api-key')", endpoint('cloud', { secrets: ACME })), 'k-acme-123');
    assert.equal(evalWith("'Bearer ' + secrets.get('upstream', 'api-key')", endpoint('cloud', { secrets: GLOBEX })), 'Bearer k-globex-999');
  });

  it('is a runtime error naming the vault or secret, never showing a value', () => {
    const fails = (src: string, ep: PolicyEndpoint, pattern: RegExp) =>
      assert.throws(
        () => evalWith(src, ep),
        (e: unknown) => isCelError(e) && pattern.test((e as Error).message) && !/k-acme|correct-horse/.test((e as Error).message),
      );
    fails("secrets.get('upstream', 'nope')", endpoint('cloud', { secrets: ACME }), /secrets\.get: vault 'upstream' has no secret 'nope'/);
    fails("secrets.get('empty', 'x')", endpoint('cloud', { secrets: ACME }), /vault 'empty' has no secret 'x'/);
    fails("secrets.get('billing', 'api-key')", endpoint('cloud', { secrets: ACME }), /secrets\.get: this account has no vault 'billing'/);
    fails("secrets.get('upstream', 'api-key')", endpoint('cloud'), /this account has no vault 'upstream'/);
  });

  it('refuses misuse at load', () => {
    refused("secrets.get('upstream')", /no matching overload for 'SecretsNs\.get\(string\)'/);
    refused("secrets.get(1, 'a')", /no matching overload/);
    refused("secrets.list('upstream')", /no matching overload|list/);
    refused("secrets.get('a', 'b') == 1", /no such overload|no matching overload/);
    refused('endpoint.secrets == null', /unknown field 'secrets' on endpoint/);
    assert.ok(compileExpression("secrets.get('a', 'b') != ''", 'on_tcp_connect', 'bool').ok, 'available in on_tcp_connect');
  });

  it('keeps each account to its own vaults when one compiled policy serves several endpoints', async () => {
    const r = compilePolicy(
      `on_http_request:\n  - actions:\n      - type: custom-response\n        config: {status_code: 200, body: "\${secrets.get('upstream', 'api-key')}"}\n`,
      CLOUD,
    );
    assert.ok(r.ok);
    if (!r.ok) return;
    const run = async (ep: PolicyEndpoint) => {
      const out = await r.policy.runRequest(exchange('https://api.example.com/'), ep, new FakeHost());
      return out.kind === 'respond' ? out.response.body : out;
    };
    const [a, g, none] = await Promise.all([run(endpoint('cloud', { secrets: ACME })), run(endpoint('cloud', { secrets: GLOBEX })), run(endpoint('cloud'))]);
    assert.equal(a, 'k-acme-123');
    assert.equal(g, 'k-globex-999');
    assert.deepEqual(none, {
      kind: 'error',
      code: 'MG_POLICY_RUNTIME_ERROR',
      message: "on_http_request[0].actions[0].config.body: in ${secrets.get('upstream', 'api-key')}: secrets.get: this account has no vault 'upstream' (column 1)",
    });
  });

  it('feeds action configs in policy test: add-headers and basic-auth credentials', async () => {
    const r = compilePolicy(
      [
        'on_http_request:',
        '  - actions:',
        '      - type: basic-auth',
        `        config: {credentials: ["ops:\${secrets.get('upstream', 'password')}"]}`,
        '      - type: add-headers',
        `        config: {headers: {x-api-key: "\${secrets.get('upstream', 'api-key')}"}}`,
      ].join('\n'),
      { endpointType: 'agent', protocol: 'https', binding: 'public' },
    );
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    if (!r.ok) return;
    const secrets = { upstream: { 'api-key': 'k-1', password: 'correct-horse' } };
    const ep = endpoint('agent');
    const good = await simulateRequest(r.policy, request(`GET https://api.example.com/ -H 'authorization: Basic ${Buffer.from('ops:correct-horse').toString('base64')}'`), { endpoint: ep, secrets });
    assert.deepEqual(good.on_http_request.outcome, { kind: 'pass' });
    assert.deepEqual(good.upstream_request?.headers['x-api-key'], ['k-1']);
    const bad = await simulateRequest(r.policy, request(`GET https://api.example.com/ -H 'authorization: Basic ${Buffer.from('ops:wrong-horse').toString('base64')}'`), { endpoint: ep, secrets });
    assert.equal('status' in bad.final && bad.final.status, 401);
    const missing = await simulateRequest(r.policy, request(`GET https://api.example.com/ -H 'authorization: Basic ${Buffer.from('ops:correct-horse').toString('base64')}'`), { endpoint: ep, secrets: { other: {} } });
    assert.equal(missing.on_http_request.outcome.kind, 'error');
    assert.match(JSON.stringify(missing.on_http_request.outcome), /MG_POLICY_RUNTIME_ERROR.*this account has no vault 'upstream'/);
  });

  it('works in on_tcp_connect (policy test --connect)', async () => {
    const r = compilePolicy(
      `on_tcp_connect:\n  - expressions: ["secrets.get('net', 'allow') != conn.client_ip"]\n    actions: [{type: deny}]\n`,
      { endpointType: 'agent', protocol: 'tcp', binding: 'public' },
    );
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    if (!r.ok) return;
    const allowed = await simulateConnect(r.policy, 'tcp://db.example.com:5432', { clientIp: '198.51.100.4', secrets: { net: { allow: '198.51.100.4' } } });
    assert.deepEqual(allowed.final, { connect: 'upstream' });
    const denied = await simulateConnect(r.policy, 'tcp://db.example.com:5432', { clientIp: '198.51.100.5', secrets: { net: { allow: '198.51.100.4' } } });
    assert.equal('close' in denied.final, true);
  });

  it('meshgate policy test --secret answers secrets.get (repeatable), and without it the run shows the runtime error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshgate-secrets-'));
    const file = join(dir, 'policy.yml');
    writeFileSync(file, `on_http_request:\n  - actions: [{type: custom-response, config: {body: "\${secrets.get('a', 'x')}+\${secrets.get('b', 'y')}"}}]\n`);
    const capture = async (args: string[]) => {
      const chunks: string[] = [];
      const write = process.stdout.write;
      process.stdout.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stdout.write;
      try {
        return { code: await policyCommand(args), out: chunks.join('') };
      } finally {
        process.stdout.write = write;
      }
    };
    const ok = await capture(['test', file, '--request', 'GET https://api.example.com/', '--secret', 'a/x=one', '--secret', 'b/y=two']);
    assert.equal(ok.code, 0);
    assert.equal(JSON.parse(ok.out).final.body, 'one+two');
    const none = await capture(['test', file, '--request', 'GET https://api.example.com/']);
    assert.equal(JSON.parse(none.out).final.error, 'MG_POLICY_RUNTIME_ERROR');
    assert.match(JSON.parse(none.out).on_http_request.outcome.message, /this account has no vault 'a'/);
  });

  it('never shows values when the endpoint view is logged or serialized', () => {
    const ep = endpoint('cloud', { secrets: ACME });
    const json = JSON.stringify(ep);
    assert.ok(!json.includes('k-acme-123') && !json.includes('correct-horse'), json);
    assert.match(json, /"secrets":"\[2 vaults\]"/);
    const shown = inspect(ep, { depth: 5, showHidden: true });
    assert.ok(!shown.includes('k-acme-123') && !shown.includes('correct-horse'), shown);
    assert.ok(Object.isFrozen(ACME));
  });
});
