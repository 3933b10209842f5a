/**
 * Runs every golden policy in test/golden/: `NAME.yml` with `NAME.expect.json` beside it.
 *
 * expect.json holds either
 *   - `issues`: the exact validation issues (path, line, message), in order;
 *   - `issuesMatch`: the same, with `message` a regular expression (for parser wording we do not own);
 *   - `cases`: requests run with `simulateRequest` (what `meshgate policy test` uses), each with an
 *     `expect` object that must be a deep subset of the result (arrays compared whole).
 * `endpoint` (optional) is `{type, url}` of the endpoint the policy is attached to; default a
 * cloud endpoint at https://api.example.com. `secrets` (optional, `{vault: {name: value}}`) are
 * the account's vaults for `secrets.get` (edge.yaml `vaults` in the live replay).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Issue } from '../../services/core/errors.js';
import {
  compileOptionsFor,
  compilePolicy,
  endpointFromUrl,
  parseRequestSpec,
  simulateConnect,
  simulateRequest,
  type ConnectSimulationOptions,
  type EndpointType,
  type SimulationOptions,
} from '../../services/policy/index.js';

/** test/golden in the source tree (tests run from dist/test/unit). */
const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/', import.meta.url));

interface GoldenCase {
  /** An HTTP request (simulateRequest), or `connect` instead: a tcp:// / tls:// connection (simulateConnect). */
  request: string;
  connect?: string;
  clientCert?: ConnectSimulationOptions['clientCert'];
  offline?: string[];
  upstream?: { status: number; headers?: Record<string, string[]>; body?: string };
  /** Scripted http-request answers by URL (see SimulationOptions.httpResponses). */
  httpResponses?: SimulationOptions['httpResponses'];
  clientIp?: string;
  region?: string;
  expect: unknown;
}

interface Golden {
  description: string;
  endpoint?: { type: EndpointType; url: string };
  secrets?: SimulationOptions['secrets'];
  issues?: Issue[];
  issuesMatch?: Issue[];
  cases?: GoldenCase[];
}

/** Asserts every key of `expected` is in `actual` with a matching value (arrays: same length). */
function assertSubset(actual: unknown, expected: unknown, path: string): void {
  if (expected === null) {
    assert.ok(actual === undefined || actual === null, `${path}: expected nothing, got ${JSON.stringify(actual)}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected a list, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => assertSubset(actual[i], e, `${path}[${i}]`));
  } else if (typeof expected === 'object' && expected !== null) {
    assert.ok(typeof actual === 'object' && actual !== null, `${path}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(expected)) assertSubset((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else {
    assert.deepEqual(actual, expected, `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const files = readdirSync(GOLDEN_DIR)
  .filter((f) => /\.(ya?ml|json)$/.test(f) && !f.endsWith('.expect.json'))
  .sort();

describe('golden Traffic Policies (test/golden)', () => {
  it('has at least 15 golden policies, each with an expectation file', () => {
    assert.ok(files.length >= 15, `only ${files.length} golden policies`);
    const names = new Set(readdirSync(GOLDEN_DIR));
    for (const f of files) assert.ok(names.has(f.replace(/\.(ya?ml|json)$/, '.expect.json')), `${f} has no .expect.json`);
  });

  for (const file of files) {
    const name = file.replace(/\.(ya?ml|json)$/, '');
    const golden = JSON.parse(readFileSync(GOLDEN_DIR + name + '.expect.json', 'utf8')) as Golden;
    const source = readFileSync(GOLDEN_DIR + file, 'utf8');
    const endpoint = endpointFromUrl(golden.endpoint?.url ?? 'https://api.example.com', golden.endpoint?.type ?? 'cloud');

    describe(`${file}: ${golden.description}`, () => {
      const result = compilePolicy(source, compileOptionsFor(endpoint));

      if (golden.issues || golden.issuesMatch) {
        it('is refused with exactly the expected issues', () => {
          assert.equal(result.ok, false, 'the policy compiled');
          if (result.ok) return;
          if (golden.issues) {
            assert.deepEqual(result.issues, golden.issues);
          } else {
            const want = golden.issuesMatch ?? [];
            assert.equal(result.issues.length, want.length, JSON.stringify(result.issues));
            want.forEach((w, i) => {
              assert.equal(result.issues[i].path, w.path);
              assert.equal(result.issues[i].line, w.line);
              assert.match(result.issues[i].message, new RegExp(w.message));
            });
          }
        });
        return;
      }

      it('compiles', () => {
        assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues, null, 2));
      });

      (golden.cases ?? []).forEach((c, i) => {
        it(`case ${i}: ${c.connect ?? c.request}${c.offline ? ` (offline: ${c.offline.join(', ')})` : ''}`, async () => {
          assert.ok(result.ok, 'the policy did not compile');
          if (!result.ok) return;
          if (c.connect !== undefined) {
            const got = await simulateConnect(result.policy, c.connect, { endpoint, offline: c.offline, clientIp: c.clientIp, region: c.region, clientCert: c.clientCert, secrets: golden.secrets });
            return assertSubset(got, c.expect, 'result');
          }
          const spec = parseRequestSpec(c.request);
          assert.ok(spec.ok, spec.ok ? '' : spec.message);
          if (!spec.ok) return;
          const opts: SimulationOptions = { endpoint, offline: c.offline, upstream: c.upstream, clientIp: c.clientIp, region: c.region, httpResponses: c.httpResponses, secrets: golden.secrets };
          const got = await simulateRequest(result.policy, spec.spec, opts);
          assertSubset(got, c.expect, 'result');
        });
      });
    });
  }
});
