import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secretFlags } from '../../services/cli/commands/policy.js';
import { MeshgateError } from '../../services/core/errors.js';
import { parseEdgeConfig } from '../../services/edge/config.js';

const LISTEN = 'listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}\n';

function issuesOf(yaml: string, dir = '/nonexistent'): string[] {
  try {
    parseEdgeConfig(yaml, dir);
  } catch (e) {
    assert.ok(e instanceof MeshgateError && e.code === 'MG_CONFIG_INVALID', String(e));
    return e.issues.map((i) => `${i.path}${i.line ? `@${i.line}` : ''}: ${i.message}`);
  }
  return [];
}

describe('edge.yaml accounts[].vaults (secrets.get)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-vaults-'));
  writeFileSync(join(dir, 'ops.txt'), 'from-a-file\n');
  writeFileSync(join(dir, 'empty.txt'), '');
  process.env.MESHGATE_TEST_VAULT_TOKEN = 'from-the-env';
  process.env.MESHGATE_TEST_VAULT_EMPTY = '';
  after(() => {
    delete process.env.MESHGATE_TEST_VAULT_TOKEN;
    delete process.env.MESHGATE_TEST_VAULT_EMPTY;
  });

  it('resolves literals, env: and file: (relative to edge.yaml) once, at load', () => {
    const c = parseEdgeConfig(
      `${LISTEN}accounts:\n  - name: acme\n    vaults:\n      upstream:\n        token: env:MESHGATE_TEST_VAULT_TOKEN\n        ops: file:ops.txt\n        tag: "eu-west"\n  - name: globex\n`,
      dir,
    );
    const acme = c.accounts[0].vaults;
    assert.equal(acme.get('upstream', 'token'), 'from-the-env');
    assert.equal(acme.get('upstream', 'ops'), 'from-a-file', 'one final newline is dropped');
    assert.equal(acme.get('upstream', 'tag'), 'eu-west');
    assert.equal(acme.hasVault('upstream'), true);
    assert.equal(c.accounts[1].vaults.hasVault('upstream'), false, 'vaults are per account');
    process.env.MESHGATE_TEST_VAULT_TOKEN = 'changed later';
    assert.equal(acme.get('upstream', 'token'), 'from-the-env');
    process.env.MESHGATE_TEST_VAULT_TOKEN = 'from-the-env';
    assert.ok(!JSON.stringify(c).includes('from-the-env'), 'the config never serializes values');
  });

  it('reports every problem with its path and line, without echoing values', () => {
    const issues = issuesOf(
      [
        LISTEN + 'accounts:',
        '  - name: acme',
        '    vaults:',
        '      upstream:',
        '        unset: env:MESHGATE_TEST_VAULT_NOPE',
        '        blank: env:MESHGATE_TEST_VAULT_EMPTY',
        '        gone: file:missing.txt',
        '        hollow: file:empty.txt',
        '        number: 123456789',
        '        "": x',
        '        bad name: x',
        '        nothing: ""',
        '        weird: env:1X',
        '      "bad/vault": {a: b}',
        '      flat: s3cr3t-value',
        '  - name: globex',
        '    vaults: [a]',
      ].join('\n'),
      dir,
    );
    assert.deepEqual(issues, [
      'accounts[0].vaults.upstream.unset@6: environment variable MESHGATE_TEST_VAULT_NOPE is not set',
      'accounts[0].vaults.upstream.blank@7: environment variable MESHGATE_TEST_VAULT_EMPTY is empty',
      "accounts[0].vaults.upstream.gone@8: cannot read 'missing.txt': ENOENT",
      "accounts[0].vaults.upstream.hollow@9: file 'empty.txt' is empty",
      'accounts[0].vaults.upstream.number@10: must be a string (quote it), env:VAR or file:PATH, got a number',
      "accounts[0].vaults.upstream.@11: '' is not a valid name: letters, digits, _ . - (at most 64, starting with a letter or digit)",
      "accounts[0].vaults.upstream.bad name@12: 'bad name' is not a valid name: letters, digits, _ . - (at most 64, starting with a letter or digit)",
      'accounts[0].vaults.upstream.nothing@13: must not be empty',
      "accounts[0].vaults.upstream.weird@14: '1X' is not an environment variable name",
      "accounts[0].vaults.bad/vault@15: 'bad/vault' is not a valid name: letters, digits, _ . - (at most 64, starting with a letter or digit)",
      'accounts[0].vaults.flat@16: must be a mapping of secret name → value (a string, env:VAR or file:PATH), got a string',
      'accounts[1].vaults@18: must be a mapping of vault name → {secret name: value}, got a list',
    ]);
    assert.ok(!issues.join('\n').includes('123456789') && !issues.join('\n').includes('s3cr3t'));
  });

  it('meshgate policy test --secret takes VAULT/NAME=VALUE, with env: and file: like edge.yaml', () => {
    assert.equal(secretFlags([]), undefined);
    assert.deepEqual(secretFlags(['api/token=abc=def', 'api/ops=file:ops.txt', 'db/pw=env:MESHGATE_TEST_VAULT_TOKEN'], dir), {
      api: { token: 'abc=def', ops: 'from-a-file' },
      db: { pw: 'from-the-env' },
    });
    const flagError = (flags: string[], pattern: RegExp) =>
      assert.throws(
        () => secretFlags(flags, dir),
        (e: unknown) => e instanceof MeshgateError && e.code === 'MG_FLAG_INVALID' && e.field === '--secret' && pattern.test(e.message) && !e.message.includes('hunter2'),
      );
    flagError(['token=hunter2'], /expected VAULT\/NAME=VALUE .*got 'token=…'/);
    flagError(['api/token'], /expected VAULT\/NAME=VALUE/);
    flagError(['api/to ken=hunter2'], /'to ken' is not a valid name/);
    flagError(['api/token=env:MESHGATE_TEST_VAULT_NOPE'], /api\/token: environment variable MESHGATE_TEST_VAULT_NOPE is not set/);
    flagError(['api/token='], /api\/token: must not be empty/);
  });
});
