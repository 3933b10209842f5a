/**
 * `http-request` (on_http_request, on_http_response): make an HTTP request from the policy and
 * publish its answer to the following rules — the "auth sub-request" pattern:
 *
 *   - type: http-request
 *     config: {url: "https://auth.internal/check", headers: {authorization: "${getReqHeader('authorization').join(',')}"}}
 *   - expressions: ["actions.ngrok.http_request.res.status_code != 200"]
 *     actions: [{type: deny, config: {status_code: 401}}]
 *
 * Config (ngrok's fields):
 * - `url` (required, `${}`): absolute http/https URL. `.internal` hosts are the account's internal
 *   endpoints, reached through the edge itself; other hosts only when the edge allows it
 *   (edge.yaml `http_request`), else MG_HTTP_REQUEST_NOT_ALLOWED.
 * - `method`: GET (default), PUT, POST, PATCH, DELETE, OPTIONS, HEAD.
 * - `query_params`: list of `{key, value}` (`${}` in both; at most 32; key ≤ 128, value ≤ 8192
 *   characters), appended to the URL's query.
 * - `headers`: map name → value (`${}`; at most 10; no host, content-length or hop-by-hop headers).
 * - `body` (`${}`): sent as is (UTF-8); not allowed with GET and HEAD.
 * - `max_redirects` (default 10, 0 to 100; ngrok's table — its prose says 0): redirects followed
 *   (301/302/303 turn into GET without body, 307/308 keep method and body; `authorization` and
 *   `cookie` are dropped when the host changes). 0 = the 3xx itself is the answer.
 * - `timeout` (default 3s, 1s to 30s): for everything — attempts, redirects, retries and backoff.
 * - `retry_condition` (CEL bool, default false; a lone `${expr}` is accepted too): evaluated after
 *   every attempt with `attempts` (int, attempts so far) and `last_attempt.{req, res, error}`
 *   (`error` is the message, '' when the attempt got an answer; meshgate adds
 *   `last_attempt.error_code`); true → try again, at most 3
 *   retries, after 50/100/200 ms, and only while that pause still fits in the timeout. A 5xx is
 *   an answer, not an error: retry on it with `last_attempt.res.status_code >= 500`.
 * - `on_error`: `continue` (default) or `halt` (the request ends with the error's code: 502, or
 *   504 for a timeout).
 *
 * Result `actions.ngrok.http_request` (every field always present, zero values when unknown, so
 * expressions need no `has()`):
 *   req {method, url, headers, body}
 *   res {status_code, headers, body, time_ms}   the last answer; body read up to 256 KiB
 *   attempts [{req {method, url}, res {status_code, headers, time_ms}, error {code, message}}]
 *   error {code, message}                      '' when the request got an answer
 * Errors: MG_HTTP_REQUEST_FAILED (no answer: offline target, refused, bad URL, too many
 * redirects), MG_HTTP_REQUEST_TIMEOUT, MG_HTTP_REQUEST_BODY_TOO_LARGE (over 256 KiB; `res` then
 * has the status and headers), MG_HTTP_REQUEST_LOOP (side calls nested more than 3 deep),
 * MG_HTTP_REQUEST_NOT_ALLOWED. A CEL error in a `${}` or the retry condition is a policy runtime
 * error, whatever on_error says (as for every action).
 */
import type { ErrorCode } from '../../core/errors.js';
import { compileRetryCondition, type CompiledExpression, type Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import type { HeaderMap, OutboundHost, OutboundResult } from '../types.js';
import { describe, isPlainMap, readEnum, readHeaderTemplates, readInt, readTemplate, type HeaderTemplates } from './config.js';
import { registerAction, type ActionCompileContext, type ActionDefinition, type ActionOutcome, type ActionRunContext } from './registry.js';
import { checkHeaderValue, joinPath } from './util.js';

export const METHODS = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;
type Method = (typeof METHODS)[number];

/** Most query parameters, and their key/value lengths (ngrok's limits). */
export const MAX_QUERY_PARAMS = 32;
const MAX_KEY_LENGTH = 128;
const MAX_VALUE_LENGTH = 8192;
/** Timeout bounds and default (ms). */
export const DEFAULT_TIMEOUT_MS = 3_000;
const MIN_TIMEOUT_MS = 1_000;
const MAX_TIMEOUT_MS = 30_000;
/** Retries after the first attempt, at most (ngrok: "up to 3 times"). */
export const MAX_RETRIES = 3;
/** Pause before retry n: BACKOFF_MS · 2^(n-1). */
const BACKOFF_MS = 50;
/** Largest response body read (ngrok: 256 KB, ERR_NGROK_3601). */
export const MAX_RESPONSE_BODY = 256 * 1024;
/** Headers the gateway sets itself. */
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

interface QueryParam {
  readonly key: Template;
  readonly value: Template;
}

interface HttpRequestConfig {
  readonly url: Template;
  readonly method: Method;
  readonly query: readonly QueryParam[];
  readonly headers: HeaderTemplates;
  readonly body: Template | undefined;
  readonly maxRedirects: number;
  readonly timeoutMs: number;
  readonly retry: CompiledExpression | undefined;
  readonly onError: 'continue' | 'halt';
  /** Path of the config, for runtime errors. */
  readonly label: string;
}

/** One request as sent (after interpolation, and after each redirect). */
interface Sent {
  method: string;
  url: string;
  headers: HeaderMap;
  body: string | undefined;
}

interface Failure {
  code: ErrorCode;
  message: string;
}

/** One attempt: the request that got the last answer, the answer, or why there is none. */
interface Attempt {
  req: Sent;
  res: { status: number; headers: HeaderMap; body: Buffer } | undefined;
  error: Failure | undefined;
  ms: number;
}

/** Why `url` cannot be requested, or undefined. */
export function outboundUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `'${url}' is not a valid URL; expected e.g. https://auth.internal/check`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `'${url}' must be an http or https URL`;
  if (u.username || u.password) return `'${url}' must not contain credentials; send them in headers`;
  return undefined;
}

/** `3s`, `1500ms`, `1m`, `1m30s` → ms; undefined when not a duration. */
export function parseTimeout(s: string): number | undefined {
  const t = s.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return ms;
}

export const httpRequest: ActionDefinition<HttpRequestConfig> = {
  phases: ['on_http_request', 'on_http_response'],
  fields: ['url', 'method', 'query_params', 'headers', 'body', 'max_redirects', 'timeout', 'retry_condition', 'on_error'],

  compile(config, cx) {
    let ok = true;
    const url = readTemplate(config, 'url', cx, { required: true });
    if (url?.isStatic) {
      const problem = outboundUrlProblem(url.staticValue);
      if (problem) {
        cx.issue('url', problem);
        ok = false;
      }
    }
    if (!url) ok = false;

    let method: Method = 'GET';
    const m = config.method;
    if (m !== undefined && m !== null) {
      if (typeof m !== 'string' || !(METHODS as readonly string[]).includes(m.toUpperCase())) {
        cx.issue('method', `must be one of ${METHODS.join(', ')}, got ${describe(m)}`);
        ok = false;
      } else method = m.toUpperCase() as Method;
    }

    const query = readQueryParams(config, cx);
    if (!query) ok = false;

    const headers = readHeaderTemplates(config, 'headers', cx);
    if (!headers) ok = false;
    for (const [name] of headers ?? []) {
      if (FORBIDDEN_HEADERS.has(name)) {
        cx.issue(joinPath('headers', name), `'${name}' is set by the gateway and cannot be given`);
        ok = false;
      }
    }

    let body: Template | undefined;
    if (config.body !== undefined && config.body !== null) {
      body = readTemplate(config, 'body', cx, { required: true });
      if (!body) ok = false;
      else if (method === 'GET' || method === 'HEAD') {
        cx.issue('body', `a ${method} request has no body; use POST, PUT or PATCH`);
        ok = false;
      }
    }

    const maxRedirects = readInt(config, 'max_redirects', { default: 10, min: 0, max: 100 }, cx);
    if (maxRedirects === undefined) ok = false;

    let timeoutMs = DEFAULT_TIMEOUT_MS;
    const t = config.timeout;
    if (t !== undefined && t !== null) {
      const parsed = typeof t === 'string' ? parseTimeout(t) : undefined;
      if (typeof t !== 'string') {
        cx.issue('timeout', `must be a duration such as '3s' or '1500ms', got ${describe(t)}`);
        ok = false;
      } else if (parsed === undefined) {
        cx.issue('timeout', `'${t}' is not a duration; write e.g. '3s', '1500ms' or '30s'`);
        ok = false;
      } else if (parsed < MIN_TIMEOUT_MS || parsed > MAX_TIMEOUT_MS) {
        cx.issue('timeout', `must be between 1s and 30s, got '${t}'`);
        ok = false;
      } else timeoutMs = parsed;
    }

    const retry = readRetryCondition(config, cx);
    if (retry === null) ok = false;

    const onError = readEnum(config, 'on_error', ['continue', 'halt'], 'continue', cx);
    if (!onError) ok = false;

    if (!ok) return undefined;
    return { url: url!, method, query: query!, headers: headers!, body, maxRedirects: maxRedirects!, timeoutMs, retry: retry ?? undefined, onError: onError!, label: cx.path };
  },

  termination(c) {
    return c.onError === 'halt' ? 'maybe' : 'never';
  },

  run(cx, c) {
    const req = buildRequest(cx, c);
    if ('code' in req) return finish(cx, c, [{ req: emptySent(c), res: undefined, error: req, ms: 0 }]);
    const host = cx.outbound;
    if (host === undefined) {
      return finish(cx, c, [{ req, res: undefined, error: { code: 'MG_HTTP_REQUEST_FAILED', message: 'http-request is not available here (no gateway to send it)' }, ms: 0 }]);
    }
    return perform(cx, c, host, req);
  },
};

/** `query_params`: a list of `{key, value}` maps; undefined after reporting issues. */
function readQueryParams(config: Record<string, unknown>, cx: ActionCompileContext): QueryParam[] | undefined {
  const v = config.query_params;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    cx.issue('query_params', `must be a list of {key, value} maps, got ${describe(v)}`);
    return undefined;
  }
  if (v.length > MAX_QUERY_PARAMS) {
    cx.issue('query_params', `has ${v.length} entries; at most ${MAX_QUERY_PARAMS} are allowed`);
    return undefined;
  }
  let ok = true;
  const out: QueryParam[] = [];
  v.forEach((item: unknown, i) => {
    const at = `query_params[${i}]`;
    if (!isPlainMap(item)) {
      cx.issue(at, `must be a map {key, value}, got ${describe(item)}`);
      ok = false;
      return;
    }
    for (const k of Object.keys(item)) {
      if (k !== 'key' && k !== 'value') {
        cx.issue(`${at}.${k}`, `unknown field '${k}' (a query parameter has key and value)`);
        ok = false;
      }
    }
    const key = stringField(item, 'key', at, MAX_KEY_LENGTH, true, cx);
    const value = stringField(item, 'value', at, MAX_VALUE_LENGTH, false, cx);
    if (key === undefined || value === undefined) ok = false;
    else out.push({ key, value });
  });
  return ok ? out : undefined;
}

function stringField(item: Record<string, unknown>, k: 'key' | 'value', at: string, max: number, required: boolean, cx: ActionCompileContext): Template | undefined {
  let v = item[k];
  if (v === undefined || v === null) {
    if (required) {
      cx.issue(`${at}.${k}`, 'is required');
      return undefined;
    }
    v = '';
  }
  if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
  if (typeof v !== 'string') {
    cx.issue(`${at}.${k}`, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  if (required && v === '') {
    cx.issue(`${at}.${k}`, 'must not be empty');
    return undefined;
  }
  if (v.length > max) {
    cx.issue(`${at}.${k}`, `must be at most ${max} characters, got ${v.length}`);
    return undefined;
  }
  return cx.template(v, `${at}.${k}`);
}

/** The compiled condition; undefined for none/false; null after reporting an issue. */
function readRetryCondition(config: Record<string, unknown>, cx: ActionCompileContext): CompiledExpression | undefined | null {
  let v = config.retry_condition;
  if (v === undefined || v === null || v === false) return undefined;
  if (v === true) v = 'true';
  if (typeof v !== 'string') {
    cx.issue('retry_condition', `must be a CEL expression, got ${describe(v)}`);
    return null;
  }
  const lone = /^\$\{([\s\S]*)\}$/.exec(v.trim());
  const src = lone ? lone[1] : v;
  if (src.trim() === 'false') return undefined;
  const r = compileRetryCondition(src, cx.phase);
  if (!r.ok) {
    cx.issue('retry_condition', r.message);
    return null;
  }
  return r.expr;
}

const ev = (cx: ActionRunContext, t: Template): string => (t.isStatic ? t.staticValue : cx.evalString(t));

/** Interpolates the request; a Failure when the URL or a query parameter is unusable. */
function buildRequest(cx: ActionRunContext, c: HttpRequestConfig): Sent | Failure {
  const raw = ev(cx, c.url);
  const problem = outboundUrlProblem(raw);
  if (problem) return { code: 'MG_HTTP_REQUEST_FAILED', message: problem };
  const u = new URL(raw);
  u.hash = '';
  if (c.query.length > 0) {
    const added: string[] = [];
    for (const q of c.query) {
      const key = ev(cx, q.key);
      const value = ev(cx, q.value);
      if (key === '' || key.length > MAX_KEY_LENGTH || value.length > MAX_VALUE_LENGTH) {
        return { code: 'MG_HTTP_REQUEST_FAILED', message: `query parameter '${key.slice(0, 40)}': keys must have 1 to ${MAX_KEY_LENGTH} characters and values at most ${MAX_VALUE_LENGTH}` };
      }
      added.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
    }
    const q = u.search.slice(1);
    u.search = (q ? q + '&' : '') + added.join('&');
  }
  const headers: HeaderMap = {};
  for (const [name, t] of c.headers) headers[name] = [checkHeaderValue(ev(cx, t), `${c.label}.headers.${name}`)];
  const body = c.body === undefined ? undefined : ev(cx, c.body);
  return { method: c.method, url: u.toString(), headers, body: body === '' ? undefined : body };
}

function emptySent(c: HttpRequestConfig): Sent {
  return { method: c.method, url: c.url.isStatic ? c.url.staticValue : '', headers: {}, body: undefined };
}

async function perform(cx: ActionRunContext, c: HttpRequestConfig, host: OutboundHost, first: Sent): Promise<ActionOutcome> {
  const deadline = performance.now() + c.timeoutMs;
  const attempts: Attempt[] = [];
  for (;;) {
    const last = await attempt(cx, c, host, first, deadline);
    attempts.push(last);
    if (c.retry === undefined || attempts.length > MAX_RETRIES) break;
    const pause = BACKOFF_MS * 2 ** (attempts.length - 1);
    if (deadline - performance.now() <= pause) break;
    const again = cx.evalRetryCondition(c.retry, { attempts: BigInt(attempts.length), last_attempt: lastAttemptVar(last) });
    if (again === false) break;
    if (again !== true) throw new PolicyRuntimeError(`${c.label}.retry_condition`, `evaluated to ${typeof again}, not a bool`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return finish(cx, c, attempts);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One attempt, following redirects, within the overall deadline. */
async function attempt(cx: ActionRunContext, c: HttpRequestConfig, host: OutboundHost, first: Sent, deadline: number): Promise<Attempt> {
  const t0 = performance.now();
  let req = first;
  for (let hops = 0; ; hops++) {
    const r: OutboundResult = await host.httpRequest(cx.exchange, { ...req, timeoutMs: Math.floor(deadline - performance.now()), maxBodyBytes: MAX_RESPONSE_BODY });
    const ms = Math.round(performance.now() - t0);
    if (!r.ok) {
      const res = r.status !== undefined ? { status: r.status, headers: r.headers ?? {}, body: Buffer.alloc(0) } : undefined;
      return { req, res, error: { code: r.code, message: r.message }, ms };
    }
    const location = r.headers['location']?.[0];
    if (!REDIRECTS.has(r.status) || c.maxRedirects === 0 || location === undefined) return { req, res: r, error: undefined, ms };
    if (hops >= c.maxRedirects) return { req, res: r, error: { code: 'MG_HTTP_REQUEST_FAILED', message: `stopped after ${c.maxRedirects} redirects` }, ms };
    const next = redirected(req, r.status, location);
    if ('code' in next) return { req, res: r, error: next, ms };
    req = next;
  }
}

/** The request a redirect asks for (Go's http.Client rules). */
function redirected(req: Sent, status: number, location: string): Sent | Failure {
  let u: URL;
  try {
    u = new URL(location, req.url);
  } catch {
    return { code: 'MG_HTTP_REQUEST_FAILED', message: `redirect to an invalid location '${location.slice(0, 100)}'` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { code: 'MG_HTTP_REQUEST_FAILED', message: `redirect to a non-http URL '${u.protocol}'` };
  u.hash = '';
  const headers: HeaderMap = { ...req.headers };
  if (new URL(req.url).host !== u.host) {
    delete headers['authorization'];
    delete headers['cookie'];
  }
  if (status === 307 || status === 308) return { method: req.method, url: u.toString(), headers, body: req.body };
  delete headers['content-type'];
  return { method: req.method === 'HEAD' ? 'HEAD' : 'GET', url: u.toString(), headers, body: undefined };
}

const ZERO_RES = Object.freeze({ status: 0, headers: {} as HeaderMap, body: Buffer.alloc(0) });

function resVar(a: Attempt, withBody: boolean): Record<string, unknown> {
  const r = a.res ?? ZERO_RES;
  const out: Record<string, unknown> = { status_code: BigInt(r.status), headers: r.headers, time_ms: BigInt(a.ms) };
  if (withBody) out.body = r.body.toString('utf8');
  return out;
}

function reqVar(s: Sent): Record<string, unknown> {
  return { method: s.method, url: s.url, headers: s.headers, body: s.body ?? '' };
}

function lastAttemptVar(a: Attempt): Record<string, unknown> {
  return { req: reqVar(a.req), res: resVar(a, true), error: a.error?.message ?? '', error_code: a.error?.code ?? '' };
}

/** Publishes the result and applies on_error. */
function finish(cx: ActionRunContext, c: HttpRequestConfig, attempts: Attempt[]): ActionOutcome {
  const last = attempts[attempts.length - 1];
  cx.setResult('http_request', {
    req: reqVar(last.req),
    res: resVar(last, true),
    attempts: attempts.map((a) => ({ req: { method: a.req.method, url: a.req.url }, res: resVar(a, false), error: { code: a.error?.code ?? '', message: a.error?.message ?? '' } })),
    error: { code: last.error?.code ?? '', message: last.error?.message ?? '' },
  });
  if (last.error !== undefined && c.onError === 'halt') return { kind: 'error', code: last.error.code, message: `http-request ${last.req.method} ${last.req.url}: ${last.error.message}` };
  return undefined;
}

registerAction('http-request', httpRequest);
