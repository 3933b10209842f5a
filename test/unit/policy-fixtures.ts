/**
 * Shared fakes for the Traffic Policy unit tests: an Exchange built from a URL, endpoints, and a
 * RequestPhaseHost that records forward-internal calls and fails the targets it is told to.
 */
import assert from 'node:assert/strict';
import type { Issue } from '../../services/core/errors.js';
import { compileExpression, EvalContext, isCelError } from '../../services/policy/cel/index.js';
import {
  compilePolicy,
  type CompiledPolicy,
  type CompileOptions,
  type Exchange,
  type ForwardInternalOptions,
  type ForwardResult,
  type HeaderMap,
  type Phase,
  type PolicyEndpoint,
  type RequestPhaseHost,
} from '../../services/policy/index.js';

export const CLOUD: CompileOptions = { endpointType: 'cloud', protocol: 'https', binding: 'public' };
export const AGENT: CompileOptions = { endpointType: 'agent', protocol: 'https', binding: 'public' };

export function endpoint(type: 'cloud' | 'agent' = 'cloud', overrides: Partial<PolicyEndpoint> = {}): PolicyEndpoint {
  return {
    id: 'ep_123',
    url: 'https://api.example.com',
    host: 'api.example.com',
    port: 443,
    protocol: 'https',
    binding: 'public',
    type,
    poolingEnabled: true,
    ...overrides,
  };
}

/** An exchange for `METHOD url` with the given headers (names lower-cased like the edge does). */
export function exchange(url: string, opts: { method?: string; headers?: Record<string, string | string[]>; clientIp?: string } = {}): Exchange {
  const u = new URL(url);
  const headers: HeaderMap = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = Array.isArray(v) ? v : [v];
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  return {
    id: 'req_1',
    req: {
      method: opts.method ?? 'GET',
      scheme,
      host: u.hostname,
      port: u.port ? Number(u.port) : scheme === 'https' ? 443 : 80,
      path: u.pathname,
      query: u.search.slice(1),
      headers,
      version: '1.1',
    },
    conn: {
      clientIp: opts.clientIp ?? '203.0.113.9',
      clientPort: 50123,
      serverIp: '198.51.100.2',
      serverPort: 443,
      serverRegion: 'eu',
      startedAt: new Date(),
    },
    depth: 0,
  };
}

/** Records every forward-internal call; targets whose host is in `offline` fail. */
export class FakeHost implements RequestPhaseHost<string> {
  readonly calls: ForwardInternalOptions[] = [];
  readonly offline: Set<string>;
  constructor(offline: string[] = []) {
    this.offline = new Set(offline);
  }
  forwardInternal(_x: Exchange, opts: ForwardInternalOptions): Promise<ForwardResult<string>> {
    this.calls.push({ ...opts });
    const host = new URL(opts.url).hostname;
    if (this.offline.has(host)) return Promise.resolve({ ok: false, code: 'MG_FORWARD_TARGET_OFFLINE', message: `${host} is offline` });
    return Promise.resolve({ ok: true, response: `response from ${host}` });
  }
}

/** Compiles and fails the test with the issues if the policy is invalid. */
export function compileOk(source: string, opts: CompileOptions = CLOUD): CompiledPolicy {
  const r = compilePolicy(source, opts);
  if (!r.ok) assert.fail(`expected the policy to compile, got:\n${r.issues.map((i) => `  ${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.policy;
}

/** Compiles and fails the test if the policy is valid; returns the issues. */
export function issuesOf(source: string, opts: CompileOptions = CLOUD): Issue[] {
  const r = compilePolicy(source, opts);
  if (r.ok) assert.fail('expected the policy to be refused, but it compiled');
  return r.issues;
}

/** The one issue at `path`; fails listing all issues when there is not exactly one. */
export function issueAt(issues: Issue[], path: string): Issue {
  const found = issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `expected one issue at ${path}, got:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  return found[0];
}

/** A valid last rule for cloud policies under test. */
export const CATCH_ALL = `  - actions: [{type: custom-response, config: {status_code: 404, body: "no route"}}]\n`;

// --- single CEL expressions (the function catalog tests) ---

/** Compiles `source` for `phase` (failing the test if it is refused) and evaluates it against `x`. */
export function evalExpr(source: string, x: Exchange = exchange('https://api.example.com/'), phase: Phase = 'on_http_request', resHeaders: Record<string, string[]> = {}): unknown {
  const r = compileExpression(source, phase);
  if (!r.ok) assert.fail(`${source}: ${r.message}`);
  return r.expr.evaluate(new EvalContext(x, endpoint('cloud'), phase === 'on_http_response' ? { status: 200, headers: resHeaders } : undefined));
}

/** Asserts `source` is refused at load with a message matching `pattern`. */
export function refused(source: string, pattern: RegExp, phase: Phase = 'on_http_request'): void {
  const r = compileExpression(source, phase);
  assert.equal(r.ok, false, `${source} compiled`);
  if (!r.ok) assert.match(r.message, pattern);
}

/** Asserts `source` compiles but fails when evaluated, with a CEL error matching `pattern`. */
export function evalError(source: string, pattern: RegExp, x?: Exchange): void {
  assert.throws(
    () => evalExpr(source, x),
    (e: unknown) => isCelError(e) && pattern.test((e as Error).message),
  );
}
