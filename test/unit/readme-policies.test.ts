import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePolicy } from '../../services/policy/index.js';
import { REPO_ROOT } from '../helpers/procs.js';

describe('README Traffic Policy examples', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /^\s*on_http_request:/m.test(b) && !/^region:/m.test(b));

  it('has policy examples', () => {
    assert.ok(blocks.length >= 3, `found ${blocks.length}`);
  });

  blocks.forEach((b, i) => {
    it(`compiles example ${i + 1} as a cloud endpoint policy`, () => {
      const r = compilePolicy(b, { endpointType: 'cloud', protocol: 'https', binding: 'public' });
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues, null, 2));
    });
  });

  // Each row of the action table, wrapped in a rule of its first phase.
  const rows = [...readme.matchAll(/^\| `([a-z-]+)` \| ([a-z, ]+) \| [^|]+\| `(\{.*\})` \|$/gm)];
  it('has an example for every documented action', () => {
    assert.ok(rows.length >= 10, `found ${rows.length} action rows with examples`);
  });
  for (const [, type, phases, config] of rows) {
    it(`accepts the ${type} example`, () => {
      const phase = phases.includes('request') || phases.startsWith('all') ? 'on_http_request' : 'on_http_response';
      // As an agent endpoint's policy: no terminating action is needed after it.
      const doc = `${phase}:\n  - actions:\n      - type: ${type}\n        config: ${config}\n`;
      const r = compilePolicy(doc, { endpointType: 'agent', protocol: 'https', binding: 'public' });
      assert.ok(r.ok, r.ok ? '' : `${doc}\n${JSON.stringify(r.issues, null, 2)}`);
    });
  }
});
