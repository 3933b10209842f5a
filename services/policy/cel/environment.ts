/**
 * The one place meshgate talks to the CEL library (`@marcbachmann/cel-js`). Everything else in the
 * policy engine goes through `compileExpression` / `CompiledExpression` and `EvalContext`.
 *
 * Environments are built once per process, at module load:
 *   base      conn, endpoint, vars, actions, time           → on_tcp_connect
 *   request   base + req + getReqHeader/getQueryParam/...   → on_http_request
 *   response  request + res + getResHeader/...             → on_http_response
 * so `res.status_code` in on_http_request is a compile-time error ("undeclared reference 'res'").
 *
 * Variables are registered message types over lazy views (eval-context.ts), which gives the
 * checker field types: `reqq.method` and `req.methodd` are both refused at load.
 *
 * Adding functions (issue 4): plain ones with `registerFunction('name(string): bool', fn)` in a
 * `functions-*.ts` file; ngrok's namespaced ones (`hash.sha256(x)`, `rand.int()`) cannot be
 * registered by dotted name — register a type (`HashNs`), a constant `hash` of that type, then
 * methods `HashNs.sha256(string): string`. Functions needing the request read
 * `currentContext()`. Never register an async function: evaluation must stay synchronous.
 * Macros (arguments that are expressions, like `l.sortBy(x, x.score)`) take `ast` parameters and
 * return a typeCheck/evaluate pair: see sortBy in functions-lists.ts.
 *
 * ngrok's function catalog: functions-ip.ts (inCidrRange/inCidrRanges/isPrivateIp), functions-rand.ts,
 * functions-encoding.ts (base64/json/url/queryString/basic_auth), functions-hash.ts,
 * functions-strings.ts (string helpers cel-js lacks, string-format.ts), functions-lists.ts (list
 * helpers, the sortBy macro, lists.range), functions-url.ts (url.parse), functions-secrets.ts
 * (secrets.get); all registered in every phase.
 * Cookie functions are in functions-http.ts. Handlers signal failure with `celFail` (namespace.ts),
 * which raises a CEL EvaluationError → MG_POLICY_RUNTIME_ERROR.
 */
import { Environment, EvaluationError, ParseError, TypeError as CelTypeError, type ParseResult } from '@marcbachmann/cel-js';
import type { Phase } from '../types.js';
import {
  CelActions,
  CelConnection,
  CelCookie,
  CelSetCookie,
  CelEndpoint,
  CelRequest,
  CelResponse,
  CelTime,
  CelUrl,
  setCurrentContext,
  type EvalContext,
} from './eval-context.js';
import { CONN_TLS_TYPES } from './conn-tls.js';
import { registerEncodingFunctions } from './functions-encoding.js';
import { registerHashFunctions } from './functions-hash.js';
import { registerRequestFunctions, registerResponseFunctions } from './functions-http.js';
import { registerIpFunctions } from './functions-ip.js';
import { registerListFunctions } from './functions-lists.js';
import { registerRandFunctions } from './functions-rand.js';
import { registerStringFunctions } from './functions-strings.js';
import { registerSecretFunctions } from './functions-secrets.js';
import { CelParsedUrl, PARSED_URL_FIELDS } from './functions-url.js';
import { checkLiteralFormats } from './format-guard.js';
import { checkLiteralRegexes } from './regex-guard.js';

/** Longest expression accepted, in characters. Longer ones are almost certainly generated junk. */
export const MAX_EXPRESSION_LENGTH = 16 * 1024;

/**
 * Structural limits applied when parsing (the library's own options). Depth 64 and 4096 nodes
 * are far above any hand-written rule and keep a hostile expression from costing much at load.
 */
const LIMITS = { maxAstNodes: 4096, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 };

interface TypeInfo {
  /** How users write a value of this type: `req.url`. */
  display: string;
  ctor: new (...args: never[]) => unknown;
  fields: Record<string, string>;
}

const HEADERS = 'map<string, list<string>>';

/** Registration order matters: a type must be registered before a type whose fields use it. */
const TYPES: Record<string, TypeInfo> = {
  Url: {
    display: 'req.url',
    ctor: CelUrl,
    fields: { path: 'string', query: 'string', scheme: 'string', host: 'string', port: 'int', raw: 'string', query_params: HEADERS },
  },
  Cookie: { display: 'req.cookies[name][i]', ctor: CelCookie, fields: { name: 'string', value: 'string' } },
  ParsedUrl: { display: 'url.parse(...)', ctor: CelParsedUrl, fields: PARSED_URL_FIELDS },
  SetCookie: {
    display: 'res.cookies[name][i]',
    ctor: CelSetCookie,
    fields: {
      name: 'string',
      value: 'string',
      domain: 'string',
      path: 'string',
      expires: 'string',
      max_age: 'int',
      secure: 'bool',
      http_only: 'bool',
      same_site: 'string',
      unparsed_attributes: 'list<string>',
    },
  },
  Request: {
    display: 'req',
    ctor: CelRequest,
    fields: {
      method: 'string',
      host: 'string',
      version: 'string',
      url: 'Url',
      headers: HEADERS,
      cookies: 'map<string, list<Cookie>>',
      content_type: 'string',
      content_length: 'int',
      user_agent: 'string',
    },
  },
  Response: {
    display: 'res',
    ctor: CelResponse,
    fields: {
      status_code: 'int',
      headers: HEADERS,
      cookies: 'map<string, list<SetCookie>>',
      content_type: 'string',
      content_length: 'int',
    },
  },
  ...CONN_TLS_TYPES,
  Connection: {
    display: 'conn',
    ctor: CelConnection,
    fields: { client_ip: 'string', client_port: 'int', server_ip: 'string', server_port: 'int', server_region: 'string', tls: 'ConnTls' },
  },
  Endpoint: {
    display: 'endpoint',
    ctor: CelEndpoint,
    fields: {
      id: 'string',
      url: 'string',
      host: 'string',
      port: 'int',
      protocol: 'string',
      binding: 'string',
      type: 'string',
      pooling_enabled: 'bool',
    },
  },
  Actions: { display: 'actions', ctor: CelActions, fields: { ngrok: 'map<string, dyn>', meshgate: 'map<string, dyn>' } },
  Time: { display: 'time', ctor: CelTime, fields: { now: 'string' } },
};

function buildEnvironments(): Record<Phase, Environment> {
  const base = new Environment({ enableOptionalTypes: true, homogeneousAggregateLiterals: false, limits: LIMITS });
  for (const [name, t] of Object.entries(TYPES)) base.registerType(name, { ctor: t.ctor as never, fields: t.fields });
  base
    .registerVariable('conn', 'Connection', { description: 'the client connection' })
    .registerVariable('endpoint', 'Endpoint', { description: 'the endpoint whose policy runs' })
    .registerVariable('vars', 'map<string, dyn>', { description: 'variables set by set-vars in this phase' })
    .registerVariable('actions', 'Actions', { description: 'result variables of earlier actions in this phase' })
    .registerVariable('time', 'Time', { description: 'time.now: the current time, RFC 3339' });
  registerIpFunctions(base);
  registerRandFunctions(base);
  registerEncodingFunctions(base);
  registerHashFunctions(base);
  registerStringFunctions(base);
  registerListFunctions(base);
  registerSecretFunctions(base);

  const request = base.clone();
  request.registerVariable('req', 'Request', { description: 'the HTTP request' });
  registerRequestFunctions(request);

  const response = request.clone();
  response.registerVariable('res', 'Response', { description: 'the HTTP response' });
  registerResponseFunctions(response);

  return { on_tcp_connect: base, on_http_request: request, on_http_response: response };
}

const ENVIRONMENTS = buildEnvironments();

/**
 * http-request's `retry_condition`: the phase's environment plus `attempts` (int) and
 * `last_attempt` ({req, res, error}), bound per evaluation through EvalContext.retryScope.
 */
const RETRY_ENVIRONMENTS: Partial<Record<Phase, Environment>> = {};
function retryEnvironment(phase: Phase): Environment {
  let env = RETRY_ENVIRONMENTS[phase];
  if (env === undefined) {
    env = ENVIRONMENTS[phase].clone();
    env.registerVariable('attempts', 'int', { description: 'http-request attempts made so far' });
    env.registerVariable('last_attempt', 'map<string, dyn>', { description: 'http-request: req, res and error of the last attempt' });
    RETRY_ENVIRONMENTS[phase] = env;
  }
  return env;
}

/** An expression parsed and type-checked once; evaluated per request. Immutable, shareable. */
export interface CompiledExpression {
  readonly source: string;
  /** Result type from the checker: 'bool', 'string', 'list<string>', 'dyn', ... */
  readonly type: string;
  /**
   * Evaluates against one phase run's context. Synchronous. Throws on CEL runtime errors (missing
   * map key, overflow, bad regex at runtime): use `describeEvaluationError` for the message.
   */
  evaluate(cx: EvalContext): unknown;
}

class Expr implements CompiledExpression {
  readonly source: string;
  readonly type: string;
  readonly #fn: ParseResult;
  constructor(source: string, type: string, fn: ParseResult) {
    this.source = source;
    this.type = type;
    this.#fn = fn;
    Object.freeze(this);
  }
  evaluate(cx: EvalContext): unknown {
    setCurrentContext(cx);
    return this.#fn(cx as unknown as Record<string, unknown>);
  }
}

export type ExpressionResult = { ok: true; expr: CompiledExpression } | { ok: false; message: string };

/**
 * Parses, type-checks and guards one expression for a phase. `expect: 'bool'` refuses any
 * result type other than bool (or dyn, which is then checked per request). Never throws.
 */
export function compileExpression(source: string, phase: Phase, expect?: 'bool'): ExpressionResult {
  return compileIn(ENVIRONMENTS[phase], source, phase, expect);
}

/** compileExpression for http-request's retry_condition (a bool, with `attempts` and `last_attempt`). */
export function compileRetryCondition(source: string, phase: Phase): ExpressionResult {
  return compileIn(retryEnvironment(phase), source, phase, 'bool');
}

function compileIn(env: Environment, source: string, phase: Phase, expect: 'bool' | undefined): ExpressionResult {
  if (source.trim() === '') return { ok: false, message: 'expression is empty' };
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, message: `expression is ${source.length} characters long; the limit is ${MAX_EXPRESSION_LENGTH}` };
  }
  let fn: ParseResult;
  try {
    fn = env.parse(source);
  } catch (e) {
    return { ok: false, message: describeCelError(e, source, phase) };
  }
  let checked: ReturnType<ParseResult['check']>;
  try {
    checked = fn.check();
  } catch (e) {
    return { ok: false, message: describeCelError(e, source, phase) };
  }
  if (!checked.valid) return { ok: false, message: describeCelError(checked.error, source, phase) };
  const type = checked.type ?? 'dyn';
  if (expect === 'bool' && type !== 'bool' && type !== 'dyn') {
    return { ok: false, message: `expression must evaluate to bool, but it evaluates to ${type}` };
  }
  const regex = checkLiteralRegexes(fn.ast);
  if (regex) return { ok: false, message: `${regex.message}${position(source, regex.offset)}` };
  const format = checkLiteralFormats(fn.ast);
  if (format) return { ok: false, message: `${format.message}${position(source, format.offset)}` };
  return { ok: true, expr: new Expr(source, type, fn) };
}

/** True for errors thrown by the CEL library while evaluating (as opposed to bugs in our code). */
export function isCelError(e: unknown): boolean {
  return e instanceof EvaluationError || e instanceof CelTypeError || e instanceof ParseError;
}

/** The message for an evaluation error: the library's summary plus its position in `source`. */
export function describeEvaluationError(e: unknown, source: string): string {
  return describeCelError(e, source, undefined);
}

interface CelErrorLike {
  code?: string;
  summary?: string;
  message?: string;
  range?: { start: number; end: number };
  node?: { op?: string; args?: unknown };
}

function describeCelError(e: unknown, source: string, phase: Phase | undefined): string {
  const err = (e ?? {}) as CelErrorLike;
  const summary = err.summary ?? String(err.message ?? e).split('\n')[0];
  let text = summary;
  if (err.code === 'unknown_variable') {
    const name = /Unknown variable: (\S+)/.exec(summary)?.[1] ?? '?';
    text = `undeclared reference '${name}'`;
    if (name === 'res' && phase === 'on_http_request') text += ' (res.* is only available in on_http_response)';
    else if (name === 'req' && phase === 'on_tcp_connect') text += ' (req.* is not available in on_tcp_connect)';
  } else if (err.code === 'no_such_key' && err.node?.op === '.' && Array.isArray(err.node.args)) {
    const [receiver, field] = err.node.args as [{ checkedType?: { name?: string } }, string];
    const info = receiver?.checkedType?.name ? TYPES[receiver.checkedType.name] : undefined;
    if (info) text = `unknown field '${field}' on ${info.display} (fields: ${Object.keys(info.fields).join(', ')})`;
  } else if (e instanceof ParseError) {
    text = `syntax error: ${summary.charAt(0).toLowerCase()}${summary.slice(1)}`;
  }
  return text + (err.range ? position(source, err.range.start) : '');
}

/** ` (column C)` for one-line expressions, ` (line L, column C)` otherwise; both 1-based. */
function position(source: string, offset: number): string {
  const before = source.slice(0, Math.max(0, Math.min(offset, source.length)));
  const nl = before.lastIndexOf('\n');
  const column = offset - nl;
  if (!source.includes('\n')) return ` (column ${column})`;
  const line = before.split('\n').length;
  return ` (line ${line}, column ${column})`;
}
