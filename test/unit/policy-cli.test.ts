import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../services/cli/commands/policy.js';
import { isMeshgateError } from '../../services/core/errors.js';

/** Runs `meshgate policy ARGS` in-process, capturing stdout. */
async function policyCmd(args: string[]): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await run(args);
    return { code, out: chunks.join('') };
  } finally {
    process.stdout.write = write;
  }
}

describe('meshgate policy command', () => {
  let dir: string;
  let good: string;
  let bad: string;
  let agentOnly: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-policy-'));
    good = join(dir, 'good.yml');
    bad = join(dir, 'bad.yml');
    agentOnly = join(dir, 'agent.yml');
    writeFileSync(
      good,
      `on_http_request:
  - expressions: ["req.url.path.startsWith('/foo')"]
    actions: [{type: forward-internal, config: {url: "https://foo.internal", on_error: continue}}]
  - actions: [{type: custom-response, config: {status_code: 403, body: "nope"}}]
`,
    );
    writeFileSync(bad, `on_http_request:\n  - expressions: ["reqq.x"]\n    actions: [{type: deny}]\n  - actions: [{type: dney}]\n`);
    writeFileSync(agentOnly, `on_http_request:\n  - expressions: ["req.method == 'DELETE'"]\n    actions: [{type: deny}]\n`);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('validate', () => {
    it('prints FILE: ok and exits 0 when every file is valid', async () => {
      const r = await policyCmd(['validate', good]);
      assert.equal(r.code, 0);
      assert.equal(r.out, `${good}: ok\n`);
    });

    it('prints FILE:LINE: path: message per issue and exits 1', async () => {
      const r = await policyCmd(['validate', good, bad]);
      assert.equal(r.code, 1);
      const lines = r.out.trim().split('\n');
      assert.equal(lines[0], `${good}: ok`);
      assert.equal(lines[1], `${bad}:2: on_http_request[0].expressions[0]: undeclared reference 'reqq' (column 1)`);
      assert.match(lines[2], new RegExp(`^${bad}:4: on_http_request\\[1\\]\\.actions\\[0\\]\\.type: unknown action type 'dney'`));
      assert.equal(lines.length, 3);
    });

    it('checks as a cloud endpoint by default, and as an agent endpoint with --endpoint-type agent', async () => {
      const cloud = await policyCmd(['validate', agentOnly]);
      assert.equal(cloud.code, 1);
      assert.match(cloud.out, /cloud endpoint must end every request/);
      const agent = await policyCmd(['validate', '--endpoint-type', 'agent', agentOnly]);
      assert.equal(agent.code, 0, agent.out);
    });

    it('infers protocol and binding from --url', async () => {
      const tcpConnect = join(dir, 'tcp-connect.yml');
      writeFileSync(tcpConnect, 'on_tcp_connect:\n  - actions: [{type: deny}]\n');
      const internal = await policyCmd(['validate', '--endpoint-type', 'agent', '--url', 'https://foo.internal', tcpConnect]);
      assert.equal(internal.code, 1);
      assert.match(internal.out, /not supported for internal https endpoints/);
      const pub = await policyCmd(['validate', '--endpoint-type', 'agent', '--url', 'https://foo.example.com', tcpConnect]);
      assert.equal(pub.code, 0, pub.out);
    });

    it('reports an unreadable file as an issue of that file', async () => {
      const missing = join(dir, 'missing.yml');
      const r = await policyCmd(['validate', missing]);
      assert.equal(r.code, 1);
      assert.match(r.out, new RegExp(`^${missing}: cannot read: .*ENOENT`));
    });

    it('refuses a bad --endpoint-type with MG_FLAG_INVALID naming the flag', async () => {
      await assert.rejects(policyCmd(['validate', '--endpoint-type', 'edge', good]), (e: unknown) => {
        assert.ok(isMeshgateError(e));
        assert.equal(e.code, 'MG_FLAG_INVALID');
        assert.equal(e.field, '--endpoint-type');
        return true;
      });
    });
  });

  describe('test', () => {
    it('prints the matched rules, actions and outcome of a request as JSON', async () => {
      const r = await policyCmd(['test', good, '--request', 'GET https://api.example.com/foo/1 -H x-api:foo']);
      assert.equal(r.code, 0);
      const result = JSON.parse(r.out);
      assert.deepEqual(result.on_http_request.matched, ['on_http_request[0]']);
      assert.deepEqual(result.on_http_request.outcome, { kind: 'forwarded', url: 'https://foo.internal' });
      assert.equal(result.final.status, 200);
    });

    it('simulates an offline target with --offline (failover falls through)', async () => {
      const r = await policyCmd(['test', good, '--request', 'GET https://api.example.com/foo', '--offline', 'foo.internal']);
      const result = JSON.parse(r.out);
      assert.deepEqual(result.on_http_request.matched, ['on_http_request[0]', 'on_http_request[1]']);
      assert.equal(result.final.status, 403);
      assert.equal(result.final.body, 'nope');
    });

    it('prints the issues and exits 1 for an invalid policy', async () => {
      const r = await policyCmd(['test', bad, '--request', 'GET https://api.example.com/']);
      assert.equal(r.code, 1);
      assert.match(r.out, /undeclared reference 'reqq'/);
    });

    it('refuses a malformed --request', async () => {
      await assert.rejects(policyCmd(['test', good, '--request', 'GET not-a-url']), (e: unknown) => isMeshgateError(e) && e.field === '--request');
    });
  });

  it('exits 2 for an unknown subcommand', async () => {
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      assert.equal((await policyCmd(['lint', good])).code, 2);
    } finally {
      process.stderr.write = stderr;
    }
  });
});
