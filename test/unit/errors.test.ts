import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, MeshgateError, errorBody } from '../../services/core/errors.js';
import { REPO_ROOT } from '../helpers/procs.js';

describe('error catalog', () => {
  it('matches the README error table row for row', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- errors:begin -->'), readme.indexOf('<!-- errors:end -->'));
    const rows = table.split('\n').filter((l) => l.startsWith('| `MG_'));
    const documented = rows.map((l) => l.split('|').map((c) => c.trim()));
    assert.deepEqual(
      documented.map((c) => c[1].replaceAll('`', '')),
      Object.keys(ERRORS),
      'README codes (in order) differ from the catalog',
    );
    for (const c of documented) {
      const d = ERRORS[c[1].replaceAll('`', '') as keyof typeof ERRORS];
      assert.deepEqual([Number(c[2]), c[3], c[4], c[5]], [d.http, d.grpc, d.ngrok ?? '', d.message], `README row for ${c[1]}`);
    }
  });

  it('builds messages that name the field, the detail and every issue', () => {
    const e = new MeshgateError('MG_POLICY_INVALID', { field: '--traffic-policy-file', detail: 'p.yml', issues: [{ path: 'on_http_request[0].actions', message: 'is required', line: 3 }] });
    assert.equal(e.code, 'MG_POLICY_INVALID');
    assert.equal(e.httpStatus, 400);
    assert.match(e.message, /^--traffic-policy-file: the Traffic Policy is invalid: p\.yml\n {2}on_http_request\[0\]\.actions \(line 3\): is required$/);
    assert.deepEqual(JSON.parse(errorBody('MG_ENDPOINT_NOT_FOUND', 'http://x.test')), { error: { code: 'MG_ENDPOINT_NOT_FOUND', message: 'no endpoint is online for this host: http://x.test' } });
  });
});
