import assert from 'node:assert/strict';
import { boolFlag, normalizeBoolFlag, positionals } from '../../services/cli/admin-command.js';
import { endpointDetails, endpointTable } from '../../services/cli/commands/endpoints.js';
import { cell, formatFields, formatTable, snakeCase, toSnakeJson, truncate } from '../../services/cli/output.js';
import { isMeshgateError } from '../../services/core/errors.js';
import type { Endpoint } from '../../services/gen/admin.js';

const EP: Endpoint = {
  id: 'ep_1',
  url: 'https://api.example.com',
  type: 'cloud',
  binding: 'public',
  poolingEnabled: true,
  trafficPolicy: 'on_http_request:\n  - actions: [{type: deny}]\n',
  description: 'main API',
  metadata: '',
  region: '',
  nodeId: '',
  pools: ['ep_2', 'ep_3'],
  upstreamUrl: '',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-02T00:00:00.000Z',
};

describe('admin CLI output formatting', () => {
  it('aligns table columns to the widest cell, three spaces apart, no trailing spaces', () => {
    assert.equal(
      formatTable(['ID', 'URL', 'NOTE'], [
        ['ep_1', 'https://a.example.com', ''],
        ['ep_22', 'https://b.internal', 'x'],
      ]),
      ['ID      URL                     NOTE', 'ep_1    https://a.example.com', 'ep_22   https://b.internal      x'].join('\n'),
    );
    assert.equal(formatTable(['A', 'B'], []), 'A   B');
  });

  it('keeps each row on one line whatever the cells hold', () => {
    assert.equal(cell('a\nb\tc\u001b[31m'), 'a b c [31m');
    assert.equal(formatTable(['X'], [['multi\nline']]).split('\n').length, 2);
    assert.equal(cell(undefined), '');
  });

  it('truncates long text with an ellipsis', () => {
    assert.equal(truncate('abcdef', 4), 'abc…');
    assert.equal(truncate('abc', 3), 'abc');
    assert.equal(truncate('ééééé', 3), 'éé…');
  });

  it('formats key/value blocks with multi-line values indented under their key', () => {
    assert.equal(formatFields([['id', 'ep_1'], ['description', ''], ['policy', 'a: 1\nb: 2\n']]), 'id            ep_1\ndescription\npolicy:\n  a: 1\n  b: 2');
  });

  it('prints proto messages as JSON with snake_case names, defaults included', () => {
    assert.equal(snakeCase('poolingEnabled'), 'pooling_enabled');
    assert.deepEqual(toSnakeJson({ endpoints: [{ nodeId: '', pools: [], poolingEnabled: false }], nextPageToken: '', skipped: undefined }), {
      endpoints: [{ node_id: '', pools: [], pooling_enabled: false }],
      next_page_token: '',
    });
  });

  it('shows endpoints with the pool size, all regions for cloud endpoints and the agent region', () => {
    const agent: Endpoint = { ...EP, id: 'ep_agent', url: 'https://foo.internal', type: 'agent', binding: 'internal', poolingEnabled: false, pools: [], region: 'eu', description: 'x'.repeat(60) };
    const lines = endpointTable([EP, agent]).split('\n');
    assert.equal(lines[0], 'ID         URL                       TYPE    BINDING    POOL   REGION   DESCRIPTION');
    assert.equal(lines[1], 'ep_1       https://api.example.com   cloud   public     2      all      main API');
    assert.equal(lines[2], `ep_agent   https://foo.internal      agent   internal   -      eu       ${'x'.repeat(39)}…`);
  });

  it('shows one endpoint with its pool members and its policy last', () => {
    const text = endpointDetails(EP);
    assert.match(text, /^pooling\s+enabled \(with ep_2, ep_3\)$/m);
    assert.match(text, /^region\s+all \(cloud endpoint\)$/m);
    assert.ok(text.endsWith('traffic_policy:\n  on_http_request:\n    - actions: [{type: deny}]'), text);
  });
});

describe('admin CLI arguments', () => {
  const parsed = (positionals: string[]) => ({ values: {}, positionals });
  const code = (fn: () => unknown): { code: string; field?: string } => {
    try {
      fn();
    } catch (e) {
      assert.ok(isMeshgateError(e));
      return { code: e.code, field: e.field };
    }
    assert.fail('did not throw');
  };

  it('names a missing or an extra positional argument', () => {
    assert.deepEqual(positionals(parsed(['ep_1']), 'u', ['ID']), ['ep_1']);
    assert.deepEqual(code(() => positionals(parsed([]), 'u', ['ID'])), { code: 'MG_FLAG_INVALID', field: 'ID' });
    assert.deepEqual(code(() => positionals(parsed(['a', 'b']), 'u', ['ID'])), { code: 'MG_FLAG_INVALID', field: 'b' });
    assert.deepEqual(positionals(parsed([]), 'u', ['KEY'], true), []);
  });

  it('lets a boolean flag be bare, =value or followed by true|false', () => {
    assert.deepEqual(normalizeBoolFlag(['--p', 'ep_1'], 'p'), ['--p=true', 'ep_1']);
    assert.deepEqual(normalizeBoolFlag(['--p', 'false', 'x'], 'p'), ['--p=false', 'x']);
    assert.deepEqual(normalizeBoolFlag(['--p=false'], 'p'), ['--p=false']);
    assert.deepEqual(normalizeBoolFlag(['--', '--p'], 'p'), ['--', '--p']);
    assert.equal(boolFlag('p', 'TRUE'), true);
    assert.equal(boolFlag('p', 'no'), false);
    assert.deepEqual(code(() => boolFlag('pooling-enabled', 'maybe')), { code: 'MG_FLAG_INVALID', field: '--pooling-enabled' });
  });
});
