/**
 * secrets.get with real processes: an edge whose edge.yaml gives two accounts vaults (one value
 * from the edge's environment, one from a file beside edge.yaml), a cloud endpoint that takes
 * basic-auth credentials and the upstream's API key from its account's vault, and an agent
 * endpoint of the other account that can read only its own.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { meshgateRun, stopAll, tempFiles } from '../helpers/procs.js';

const API_KEY = 'acme-key-from-env-7f3a';
const OPS_PASSWORD = 'correct-horse-from-file';
const BILLING_TOKEN = 'acme-billing-token-91c2';

const EDGE = `
region: eu
listen: {http: "127.0.0.1:0", https: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
accounts:
  - name: acme
    authtokens: [tok_acme]
    vaults:
      upstream:
        api-key: env:MESHGATE_E2E_UPSTREAM_KEY
        ops-password: file:secrets/ops-password
      billing:
        token: ${BILLING_TOKEN}
  - name: globex
    authtokens: [tok_globex]
    vaults:
      upstream:
        api-key: globex-key-1d9e
cloud_endpoints:
  - account: acme
    url: https://api.example.com
    traffic_policy: |
      on_http_request:
        - actions:
            - type: basic-auth
              config: {credentials: ["ops:\${secrets.get('upstream', 'ops-password')}"]}
            - type: remove-headers
              config: {headers: [authorization]}
            - type: add-headers
              config: {headers: {x-api-key: "\${secrets.get('upstream', 'api-key')}"}}
            - type: forward-internal
              config: {url: "https://app.internal"}
`;

const GLOBEX_POLICY = `
on_http_request:
  - expressions: ["req.url.path == '/steal'"]
    actions:
      - type: custom-response
        config: {status_code: 200, body: "\${secrets.get('billing', 'token')}"}
  - actions:
      - type: add-headers
        config: {headers: {x-api-key: "\${secrets.get('upstream', 'api-key')}"}}
`;

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('secrets.get: vaults from edge.yaml (env: and file: values), scoped to the account', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;

  before(async () => {
    edge = await startEdge(EDGE, { 'secrets/ops-password': `${OPS_PASSWORD}\n` }, 'edge-secrets', { MESHGATE_E2E_UPSTREAM_KEY: API_KEY });
    const [app, globex] = await Promise.all([startUpstream('app'), startUpstream('globex-app')]);
    const policyDir = tempFiles({ 'globex.yml': GLOBEX_POLICY });
    await Promise.all([
      startAgent('agent-app', { upstreamPort: app.port, url: 'https://app.internal', edge, authtoken: 'tok_acme' }),
      startAgent('agent-globex', { upstreamPort: globex.port, url: 'https://globex.example.com', edge, authtoken: 'tok_globex', policyFile: join(policyDir, 'globex.yml') }),
    ]);
  });
  after(stopAll);

  it('checks basic-auth against the file: secret and sends the env: secret upstream', async () => {
    const r = await send(edge.https!, 'api.example.com', '/orders', { scheme: 'https', headers: { authorization: basic('ops', OPS_PASSWORD) } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().replica, 'app');
    assert.equal(r.json().headers['x-api-key'], API_KEY);
    assert.equal(r.json().headers.authorization, undefined);

    const wrong = await send(edge.https!, 'api.example.com', '/orders', { scheme: 'https', headers: { authorization: basic('ops', `${OPS_PASSWORD}\n`) } });
    assert.equal(wrong.status, 401, 'the final newline of the file is not part of the secret');
    assert.equal(wrong.headers['meshgate-error-code'], 'MG_BASIC_AUTH_FAILED');
  });

  it("gives an agent endpoint its own account's vault and refuses another account's, naming the vault", async () => {
    const own = await send(edge.https!, 'globex.example.com', '/x', { scheme: 'https' });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.json().replica, 'globex-app');
    assert.equal(own.json().headers['x-api-key'], 'globex-key-1d9e');

    const steal = await send(edge.https!, 'globex.example.com', '/steal', { scheme: 'https' });
    assert.equal(steal.status, 500);
    assert.equal(steal.headers['meshgate-error-code'], 'MG_POLICY_RUNTIME_ERROR');
    assert.match(steal.json().error.message, /this account has no vault 'billing'/);
    assert.ok(!steal.text.includes(BILLING_TOKEN));

    // the edge keeps serving both accounts afterwards
    const again = await send(edge.https!, 'api.example.com', '/orders', { scheme: 'https', headers: { authorization: basic('ops', OPS_PASSWORD) } });
    assert.equal(again.status, 200);
  });

  it('never writes secret values to its logs', () => {
    const logs = edge.proc.stderr.join('\n') + edge.proc.stdout.join('\n');
    for (const v of [API_KEY, OPS_PASSWORD, BILLING_TOKEN, 'globex-key-1d9e']) assert.ok(!logs.includes(v), `${v} in the edge's output`);
  });

  it('refuses to start when a vault value cannot be read, naming the entry', async () => {
    const dir = tempFiles({ 'edge.yaml': EDGE });
    const r = await meshgateRun(['edge', '--config', join(dir, 'edge.yaml')], { env: { MESHGATE_E2E_UPSTREAM_KEY: '' }, timeoutMs: 15_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /MG_CONFIG_INVALID/);
    assert.match(r.stderr, /accounts\[0\]\.vaults\.upstream\.api-key.*environment variable MESHGATE_E2E_UPSTREAM_KEY is empty/);
    assert.match(r.stderr, /accounts\[0\]\.vaults\.upstream\.ops-password.*cannot read 'secrets\/ops-password': ENOENT/);
  });
});
