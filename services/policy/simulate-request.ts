/**
 * Running a policy against a described request without a gateway: `meshgate policy test` and
 * the golden policy tests. A fake host answers forward-internal (success, or failure for targets
 * listed as offline) and a fake upstream answers with a fixed status; the request phase, then the
 * response phase, run exactly as on the edge, with a trace of matched rules and actions.
 * http-request calls get the answer `httpResponses` scripts for their URL (default: 200, no
 * body); response-body-find-replace rewrites the scripted upstream body as the edge would.
 */
import { ERRORS, type ErrorCode } from '../core/errors.js';
import { PolicyImpl } from './compiled-policy.js';
import { SecretVaults, type VaultsData } from './secret-vaults.js';
import type { CompiledAction, CompiledRule, PhaseTrace } from './run-phase.js';
import type {
  Binding,
  CompiledPolicy,
  CompileOptions,
  EndpointType,
  Exchange,
  ForwardResult,
  HeaderMap,
  OutboundHost,
  OutboundResult,
  PolicyEndpoint,
  PolicyResponse,
  Protocol,
  RequestOutcome,
  RequestPhaseHost,
  ResponseOutcome,
} from './types.js';

/** A request as written on the command line: `GET https://api.example.com/foo -H x-api:foo`. */
export interface RequestSpec {
  method: string;
  url: string;
  /** Lower-case names. */
  headers: HeaderMap;
  /** Request body (`-d`), UTF-8; absent when none was given. */
  body?: string;
}

export type SpecResult = { ok: true; spec: RequestSpec } | { ok: false; message: string };

const METHOD = /^[A-Z]+$/;

/**
 * Parses `[METHOD] URL [-H 'name: value']... [-d 'body']`. The method defaults to GET (POST when a
 * body is given, as curl does); header values may be written `name:value` or `name: value`;
 * quotes ('…' or "…") group words. `-d`/`--data` sets the body (UTF-8; given again, the parts are
 * joined with '&' as curl does); no content-type is added (give one with -H).
 */
export function parseRequestSpec(text: string): SpecResult {
  const words = splitWords(text);
  if (!words.ok) return words;
  const w = words.words;
  let i = 0;
  let method = 'GET';
  let explicitMethod = false;
  if (w.length > 0 && METHOD.test(w[0])) {
    method = w[i++];
    explicitMethod = true;
  }
  const url = w[i++];
  if (url === undefined) return { ok: false, message: `no URL in request '${text}'; expected e.g. 'GET https://api.example.com/foo -H x-api:foo'` };
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, message: `request URL '${url}' must be http or https` };
  } catch {
    return { ok: false, message: `'${url}' is not a valid URL` };
  }
  const headers: HeaderMap = {};
  let body: string | undefined;
  while (i < w.length) {
    const flag = w[i++];
    if (flag === '-d' || flag === '--data') {
      const d = w[i++];
      if (d === undefined) return { ok: false, message: `${flag} needs a body, e.g. -d 'a=1'` };
      body = body === undefined ? d : `${body}&${d}`;
      continue;
    }
    if (flag !== '-H' && flag !== '--header') return { ok: false, message: `unexpected '${flag}' in request; headers are given as -H 'name: value', a body as -d 'text'` };
    const h = w[i++];
    const colon = h === undefined ? -1 : h.indexOf(':');
    if (h === undefined || colon <= 0) return { ok: false, message: `-H needs 'name: value', got '${h ?? ''}'` };
    const name = h.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(h.slice(colon + 1).trim());
  }
  if (body === undefined) return { ok: true, spec: { method, url, headers } };
  return { ok: true, spec: { method: explicitMethod ? method : 'POST', url, headers, body } };
}

function splitWords(text: string): { ok: true; words: string[] } | { ok: false; message: string } {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return { ok: false, message: `unterminated ${c} in request '${text}'` };
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return { ok: true, words };
}

/** An endpoint described by its URL: protocol from the scheme, binding internal for `*.internal`. */
/** forward-internal in a simulation: fails for targets listed offline (URL or host), else "forwarded". */
export function simulatedForward(offline: ReadonlySet<string>, url: string): Promise<ForwardResult<{ url: string }>> {
  let targetHost = '';
  try {
    targetHost = new URL(url).hostname.toLowerCase();
  } catch {
    /* validated by the action already */
  }
  if (offline.has(url.toLowerCase()) || offline.has(targetHost)) {
    return Promise.resolve({ ok: false, code: 'MG_FORWARD_TARGET_OFFLINE', message: `no endpoint is online for ${url}` });
  }
  return Promise.resolve({ ok: true, response: { url } });
}

export function endpointFromUrl(url: string, type: EndpointType): PolicyEndpoint {
  const u = new URL(url);
  const protocol = u.protocol.slice(0, -1) as Protocol;
  const host = u.hostname.toLowerCase();
  const binding: Binding = host.endsWith('.internal') ? 'internal' : 'public';
  const defaultPort = protocol === 'http' ? 80 : 443;
  const port = u.port ? Number(u.port) : defaultPort;
  return { id: `ep_${type}_${host}`, url: `${protocol}://${u.host}`, host, port, protocol, binding, type, poolingEnabled: false };
}

/** The endpoint with `secrets` as its account's vaults (unchanged when none are given). */
export function withSecrets(endpoint: PolicyEndpoint, secrets: VaultsData | undefined): PolicyEndpoint {
  return secrets === undefined ? endpoint : { ...endpoint, secrets: new SecretVaults(secrets) };
}

export function compileOptionsFor(endpoint: PolicyEndpoint): CompileOptions {
  return { endpointType: endpoint.type, protocol: endpoint.protocol, binding: endpoint.binding };
}

export interface SimulationOptions {
  /** The endpoint whose policy runs; default: a cloud endpoint at the request's origin. */
  endpoint?: PolicyEndpoint;
  /** forward-internal targets that fail (URL or host), as if no endpoint were online there. */
  offline?: readonly string[];
  /** What the upstream (or forward-internal target) answers; default 200 with no headers and no body. */
  upstream?: { status: number; headers?: HeaderMap; body?: string };
  /**
   * Answers for http-request, by URL: the exact URL, else the URL without its query, else the
   * origin. A status answer (default 200, no headers, empty body), or `{error: code, message?}`
   * for a request that got none. URLs not listed answer 200 with an empty body.
   */
  httpResponses?: Record<string, SimulatedHttpAnswer>;
  clientIp?: string;
  region?: string;
  /** The account's vaults for `secrets.get` (`--secret vault/name=value`); replaces the endpoint's. */
  secrets?: VaultsData;
}

/** A scripted http-request answer (see SimulationOptions.httpResponses). */
export type SimulatedHttpAnswer = { status?: number; headers?: HeaderMap; body?: string } | { error: ErrorCode; message?: string };

/** A phase outcome as plain JSON. */
export type OutcomeJson =
  | { kind: 'pass' }
  | { kind: 'forwarded'; url: string }
  | { kind: 'respond'; status: number; headers: HeaderMap; body: string }
  | { kind: 'close' }
  | { kind: 'error'; code: string; message: string };

export interface PhaseReport {
  /** Rules whose expressions all matched, e.g. `on_http_request[1]` or `on_http_request[1] (api)`. */
  matched: string[];
  /** Actions that ran, e.g. `on_http_request[1].actions[0] forward-internal`. */
  actions: string[];
  outcome: OutcomeJson;
}

export interface SimulationResult {
  on_http_request: PhaseReport;
  /** Present when the response phase ran (after pass, forwarded or respond). */
  on_http_response?: PhaseReport;
  /**
   * The request as the gateway would forward it (after on_http_request changed it), present when
   * the request phase passed or forwarded.
   */
  upstream_request?: { method: string; url: string; headers: HeaderMap };
  /** Entries of the `log` action, when any ran. */
  logs?: Exchange['logs'];
  /** Requests the http-request action sent (both phases, every attempt), when any. */
  http_requests?: Array<{ method: string; url: string; headers: HeaderMap; body?: string }>;
  /**
   * The request body as forwarded (UTF-8), present when the request had one and the policy read
   * it (requestBodyLimit > 0).
   */
  upstream_body?: string;
  /** What the client gets. */
  final: { status: number; headers: HeaderMap; body?: string; error?: string } | { close: true };
}

interface FakeUpstreamResponse {
  url: string;
}

/** Runs the request phase, the fake forward/upstream, then the response phase. */
export async function simulateRequest(policy: CompiledPolicy, spec: RequestSpec, opts: SimulationOptions = {}): Promise<SimulationResult> {
  const u = new URL(spec.url);
  const endpoint = withSecrets(opts.endpoint ?? endpointFromUrl(u.origin, 'cloud'), opts.secrets);
  const x = exchangeFor(spec, opts);
  if (spec.body !== undefined && policy.requestBodyLimit > 0) {
    // what the edge does: buffer the body up to the policy's limit, 413 beyond it
    const body = Buffer.from(spec.body, 'utf8');
    if (body.length > policy.requestBodyLimit) {
      const code = 'MG_REQUEST_BODY_TOO_LARGE';
      return {
        on_http_request: { matched: [], actions: [], outcome: { kind: 'error', code, message: `the request body is larger than ${policy.requestBodyLimit} bytes` } },
        final: { status: ERRORS[code].http, headers: {}, error: code },
      };
    }
    x.req.body = body;
  }
  const offline = new Set((opts.offline ?? []).map((s) => s.toLowerCase()));
  const sent: NonNullable<SimulationResult['http_requests']> = [];
  SENT.set(x, sent);
  const host: RequestPhaseHost<FakeUpstreamResponse> & OutboundHost = {
    forwardInternal: (_x, o) => simulatedForward(offline, o.url),
    httpRequest: (_x, r) => {
      sent.push(r.body === undefined ? { method: r.method, url: r.url, headers: r.headers } : { method: r.method, url: r.url, headers: r.headers, body: r.body });
      return Promise.resolve(simulatedAnswer(opts.httpResponses, r.url, r.maxBodyBytes));
    },
  };

  const reqTrace = new TraceRecorder();
  const outcome = await runRequestTraced(policy, x, endpoint, host, reqTrace);
  const request: PhaseReport = { ...reqTrace.report(), outcome: requestOutcomeJson(outcome) };
  const extra: Pick<SimulationResult, 'upstream_request' | 'upstream_body' | 'logs'> = {};
  if (outcome.kind === 'pass' || outcome.kind === 'forwarded') {
    const r = x.req;
    const port = r.port === (r.scheme === 'https' ? 443 : 80) ? '' : `:${r.port}`;
    extra.upstream_request = { method: r.method, url: `${r.scheme}://${r.host}${port}${r.path}${r.query ? '?' + r.query : ''}`, headers: r.headers };
    if (r.body !== undefined) extra.upstream_body = r.body.toString('utf8');
  }

  let res: PolicyResponse & { body?: string };
  switch (outcome.kind) {
    case 'close':
      return { on_http_request: request, ...withLogs(x), final: { close: true } };
    case 'error':
      return { on_http_request: request, ...withLogs(x), final: { status: ERRORS[outcome.code].http, headers: {}, error: outcome.code } };
    case 'respond':
      res = { status: outcome.response.status, headers: outcome.response.headers, body: outcome.response.body };
      break;
    default:
      res = { status: opts.upstream?.status ?? 200, headers: { ...(opts.upstream?.headers ?? {}) } };
      if (opts.upstream?.body !== undefined) res.body = opts.upstream.body;
  }

  const resTrace = new TraceRecorder();
  const after = await runResponseTraced(policy, x, endpoint, res, resTrace, host);
  if (after.kind === 'pass' && res.rewrite !== undefined && res.body !== undefined) {
    // what the edge does after the phase (the simulated body is never encoded)
    const before = Buffer.from(res.body, 'utf8');
    if (before.length > res.rewrite.limit) {
      const code = 'MG_RESPONSE_BODY_TOO_LARGE';
      return { on_http_request: request, on_http_response: { ...resTrace.report(), outcome: responseOutcomeJson(after) }, ...extra, ...withLogs(x), final: { status: ERRORS[code].http, headers: {}, error: code } };
    }
    const out = res.rewrite.apply(before);
    res.body = out.toString('utf8');
    if (res.encode === undefined) res.headers['content-length'] = [String(out.length)];
  }
  const response: PhaseReport = { ...resTrace.report(), outcome: responseOutcomeJson(after) };
  let final: SimulationResult['final'];
  if (after.kind === 'close') final = { close: true };
  else if (after.kind === 'error') final = { status: ERRORS[after.code].http, headers: {}, error: after.code };
  else if (after.kind === 'respond') final = { status: after.response.status, headers: after.response.headers, body: after.response.body };
  else final = res.body === undefined ? { status: res.status, headers: res.headers } : { status: res.status, headers: res.headers, body: res.body };
  return { on_http_request: request, on_http_response: response, ...extra, ...withLogs(x), final };
}

function withLogs(x: Exchange): Pick<SimulationResult, 'logs' | 'http_requests'> {
  const sent = SENT.get(x);
  const out: Pick<SimulationResult, 'logs' | 'http_requests'> = x.logs !== undefined && x.logs.length > 0 ? { logs: x.logs } : {};
  if (sent !== undefined && sent.length > 0) out.http_requests = sent;
  return out;
}

/** http-request calls recorded per simulated exchange (read by withLogs). */
const SENT = new WeakMap<Exchange, NonNullable<SimulationResult['http_requests']>>();

function exchangeFor(spec: RequestSpec, opts: SimulationOptions): Exchange {
  const u = new URL(spec.url);
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  const port = u.port ? Number(u.port) : scheme === 'http' ? 80 : 443;
  const headers: HeaderMap = {};
  for (const [k, v] of Object.entries(spec.headers)) headers[k.toLowerCase()] = [...v];
  headers.host ??= [u.host];
  if (spec.body !== undefined) headers['content-length'] ??= [String(Buffer.byteLength(spec.body, 'utf8'))];
  return {
    id: 'sim',
    req: { method: spec.method, scheme, host: u.hostname.toLowerCase(), port, path: u.pathname, query: u.search.slice(1), headers, version: '1.1' },
    conn: {
      clientIp: opts.clientIp ?? '203.0.113.7',
      clientPort: 54321,
      serverIp: '198.51.100.1',
      serverPort: port,
      serverRegion: opts.region ?? 'eu',
      startedAt: new Date(),
    },
    depth: 0,
  };
}

function runRequestTraced<R>(p: CompiledPolicy, x: Exchange, e: PolicyEndpoint, host: RequestPhaseHost<R>, t: PhaseTrace): Promise<RequestOutcome<R>> {
  return p instanceof PolicyImpl ? p.traceRequest(x, e, host, t) : p.runRequest(x, e, host);
}

function runResponseTraced(p: CompiledPolicy, x: Exchange, e: PolicyEndpoint, res: PolicyResponse, t: PhaseTrace, host: OutboundHost): Promise<ResponseOutcome> {
  return p instanceof PolicyImpl ? p.traceResponse(x, e, res, t, host) : p.runResponse(x, e, res, host);
}

/** The scripted answer for an http-request URL (exact, without query, origin), default 200. */
function simulatedAnswer(answers: Record<string, SimulatedHttpAnswer> | undefined, url: string, maxBodyBytes: number): OutboundResult {
  let a: SimulatedHttpAnswer | undefined;
  if (answers !== undefined) {
    const u = new URL(url);
    a = answers[url] ?? answers[`${u.origin}${u.pathname}`] ?? answers[u.origin] ?? answers[`${u.origin}/`];
  }
  if (a === undefined) return { ok: true, status: 200, headers: {}, body: Buffer.alloc(0) };
  if ('error' in a) return { ok: false, code: a.error, message: a.message ?? `simulated ${a.error}` };
  const body = Buffer.from(a.body ?? '', 'utf8');
  const headers: HeaderMap = {};
  for (const [k, v] of Object.entries(a.headers ?? {})) headers[k.toLowerCase()] = [...v];
  if (body.length > maxBodyBytes) return { ok: false, code: 'MG_HTTP_REQUEST_BODY_TOO_LARGE', message: `${url} answered more than ${maxBodyBytes} bytes`, status: a.status ?? 200, headers };
  return { ok: true, status: a.status ?? 200, headers, body };
}

class TraceRecorder implements PhaseTrace {
  readonly matched: string[] = [];
  readonly actions: string[] = [];
  rule(rule: CompiledRule, matched: boolean): void {
    if (matched) this.matched.push(rule.name === undefined ? rule.path : `${rule.path} (${rule.name})`);
  }
  action(a: CompiledAction): void {
    this.actions.push(`${a.path} ${a.type}`);
  }
  report(): { matched: string[]; actions: string[] } {
    return { matched: this.matched, actions: this.actions };
  }
}

function requestOutcomeJson(o: RequestOutcome<FakeUpstreamResponse>): OutcomeJson {
  if (o.kind === 'forwarded') return { kind: 'forwarded', url: o.response.url };
  return responseOutcomeJson(o);
}

function responseOutcomeJson(o: ResponseOutcome): OutcomeJson {
  switch (o.kind) {
    case 'respond':
      return { kind: 'respond', status: o.response.status, headers: o.response.headers, body: o.response.body };
    case 'error':
      return { kind: 'error', code: o.code, message: o.message };
    default:
      return { kind: o.kind };
  }
}
