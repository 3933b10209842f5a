/**
 * The V8 flags of services/core/node-flags.ts must be on the node command line, so they are
 * written in four places: the list itself (local cluster, bench), bin/meshgate's shebang and the
 * two systemd units. They must not drift apart; and the shebang must really start node with them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../../services/core/node-flags.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('node flags of the long-running processes', () => {
  it('bin/meshgate starts node with them (shebang)', () => {
    const first = readFileSync(join(ROOT, 'bin', 'meshgate'), 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`);
  });

  for (const unit of ['meshgate-edge.service', 'meshgate-agent.service']) {
    it(`infra/systemd/${unit} starts node with them`, () => {
      const exec = readFileSync(join(ROOT, 'infra', 'systemd', unit), 'utf8').split('\n').find((l) => l.startsWith('ExecStart='));
      assert.ok(exec, 'an ExecStart= line');
      assert.match(exec, new RegExp(`^ExecStart=/usr/bin/node ${SERVER_NODE_FLAGS.join(' ')} /opt/meshgate/bin/meshgate `));
    });
  }

  it('each is a flag node accepts, and V8 sizes its young generation by it', () => {
    const out = execFileSync(process.execPath, [...SERVER_NODE_FLAGS, '-e', `
      const v8 = require('node:v8');
      let keep = [];
      for (let i = 0; i < 2e6; i++) { keep.push({ i, a: [i] }); if (keep.length > 50000) keep = []; }
      const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(String(ns.space_size));
    `], { encoding: 'utf8', timeout: 20_000 });
    // two semi-spaces of 32 MB once grown; Node 20's default stops at 2 × 16 MB
    assert.ok(Number(out) > 32 * 1024 * 1024, `new space ${out} bytes`);
  });
});
