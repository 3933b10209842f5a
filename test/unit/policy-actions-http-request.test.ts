/**
 * http-request: every config rejection names its field; the run logic (interpolation, result
 * variables, on_error, retries, redirects, the timeout budget) against a scripted gateway.
 */
import assert from 'node:assert/strict';
import type { Exchange, OutboundHost, OutboundRequest, OutboundResult, RequestOutcome } from '../../services/policy/index.js';
import { outboundUrlProblem, parseTimeout } from '../../services/policy/actions/http-request.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';

const P = 'on_http_request[0].actions[0].config';

function policy(cfg: string, more = ''): string {
  return `on_http_request:\n  - actions: [{type: http-request, config: ${cfg}}]\n${more}`;
}

/** A rule answering with the result variables, for reading them back. */
const SHOW = `  - actions: [{type: custom-response, config: {body: "\${actions.ngrok.http_request}"}}]\n`;

type Script = (req: OutboundRequest, n: number) => OutboundResult | Promise<OutboundResult>;

/** A gateway whose http-request answers come from `script`; records every request. */
class FakeOutbound extends FakeHost implements OutboundHost {
  readonly sent: OutboundRequest[] = [];
  constructor(private readonly script: Script) {
    super();
  }
  async httpRequest(_x: Exchange, req: OutboundRequest): Promise<OutboundResult> {
    this.sent.push(req);
    return this.script(req, this.sent.length);
  }
}

const ok = (status: number, body = '', headers: Record<string, string[]> = {}): OutboundResult => ({ ok: true, status, headers, body: Buffer.from(body) });

async function run(src: string, script: Script, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ out: RequestOutcome<string>; host: FakeOutbound; result: any }> {
  const host = new FakeOutbound(script);
  const x = exchange('https://api.example.com/orders?id=7', opts);
  const out = await compileOk(src, AGENT).runRequest(x, endpoint('agent'), host);
  const result = out.kind === 'respond' && out.response.body !== '' ? JSON.parse(out.response.body) : undefined;
  return { out, host, result };
}

describe('action http-request: config', () => {
  const issues = (cfg: string) => issuesOf(policy(cfg), AGENT);

  it('requires a valid http(s) url without credentials', () => {
    assert.match(issueAt(issues('{method: GET}'), `${P}.url`).message, /is required/);
    assert.match(issueAt(issues('{url: "ftp://auth.internal/x"}'), `${P}.url`).message, /http or https/);
    assert.match(issueAt(issues('{url: "not a url"}'), `${P}.url`).message, /not a valid URL/);
    assert.match(issueAt(issues('{url: "https://u:p@auth.internal/"}'), `${P}.url`).message, /credentials/);
    assert.match(issueAt(issues('{url: "https://${req.methodd}.internal"}'), `${P}.url`).message, /unknown field 'methodd'/);
  });

  it('accepts the documented methods (any case) and refuses others', () => {
    compileOk(policy('{url: "https://a.internal", method: patch}'), AGENT);
    compileOk(policy('{url: "https://a.internal", method: HEAD}'), AGENT);
    assert.match(issueAt(issues('{url: "https://a.internal", method: TRACE}'), `${P}.method`).message, /one of GET, PUT, POST, PATCH, DELETE, OPTIONS, HEAD/);
    assert.match(issueAt(issues('{url: "https://a.internal", method: 5}'), `${P}.method`).message, /one of/);
  });

  it('checks query_params: a list of at most 32 {key, value}, with length limits', () => {
    const many = `[${Array.from({ length: 33 }, (_, i) => `{key: k${i}, value: v}`).join(', ')}]`;
    assert.match(issueAt(issues(`{url: "https://a.internal", query_params: ${many}}`), `${P}.query_params`).message, /at most 32/);
    assert.match(issueAt(issues('{url: "https://a.internal", query_params: {a: b}}'), `${P}.query_params`).message, /must be a list/);
    assert.match(issueAt(issues('{url: "https://a.internal", query_params: [x]}'), `${P}.query_params[0]`).message, /must be a map/);
    assert.match(issueAt(issues('{url: "https://a.internal", query_params: [{value: v}]}'), `${P}.query_params[0].key`).message, /is required/);
    assert.match(issueAt(issues('{url: "https://a.internal", query_params: [{key: k, value: v, x: 1}]}'), `${P}.query_params[0].x`).message, /unknown field/);
    assert.match(issueAt(issues(`{url: "https://a.internal", query_params: [{key: ${'k'.repeat(129)}, value: v}]}`), `${P}.query_params[0].key`).message, /at most 128/);
    assert.match(issueAt(issues(`{url: "https://a.internal", query_params: [{key: k, value: ${'v'.repeat(8193)}}]}`), `${P}.query_params[0].value`).message, /at most 8192/);
    assert.match(issueAt(issues('{url: "https://a.internal", query_params: [{key: k, value: "${nope}"}]}'), `${P}.query_params[0].value`).message, /undeclared reference 'nope'/);
  });

  it('checks headers: at most 10, valid names, none the gateway sets', () => {
    const eleven = `{${Array.from({ length: 11 }, (_, i) => `h${i}: v`).join(', ')}}`;
    assert.match(issueAt(issues(`{url: "https://a.internal", headers: ${eleven}}`), `${P}.headers`).message, /at most 10/);
    assert.match(issueAt(issues('{url: "https://a.internal", headers: {"bad header": v}}'), `${P}.headers["bad header"]`).message, /not a valid header name/);
    assert.match(issueAt(issues('{url: "https://a.internal", headers: {Host: x}}'), `${P}.headers.host`).message, /set by the gateway/);
    assert.match(issueAt(issues('{url: "https://a.internal", headers: {content-length: "3"}}'), `${P}.headers.content-length`).message, /set by the gateway/);
  });

  it('refuses a body on GET and HEAD', () => {
    assert.match(issueAt(issues('{url: "https://a.internal", body: "x"}'), `${P}.body`).message, /GET request has no body/);
    assert.match(issueAt(issues('{url: "https://a.internal", method: HEAD, body: "x"}'), `${P}.body`).message, /HEAD request has no body/);
    assert.match(issueAt(issues('{url: "https://a.internal", method: POST, body: 5}'), `${P}.body`).message, /must be a string/);
  });

  it('bounds max_redirects (0 to 100) and timeout (1s to 30s)', () => {
    assert.match(issueAt(issues('{url: "https://a.internal", max_redirects: -1}'), `${P}.max_redirects`).message, /between 0 and 100/);
    assert.match(issueAt(issues('{url: "https://a.internal", max_redirects: 101}'), `${P}.max_redirects`).message, /between 0 and 100/);
    assert.match(issueAt(issues('{url: "https://a.internal", timeout: 500ms}'), `${P}.timeout`).message, /between 1s and 30s/);
    assert.match(issueAt(issues('{url: "https://a.internal", timeout: 31s}'), `${P}.timeout`).message, /between 1s and 30s/);
    assert.match(issueAt(issues('{url: "https://a.internal", timeout: soon}'), `${P}.timeout`).message, /not a duration/);
    assert.match(issueAt(issues('{url: "https://a.internal", timeout: 3}'), `${P}.timeout`).message, /must be a duration/);
    compileOk(policy('{url: "https://a.internal", timeout: 1500ms, max_redirects: 0}'), AGENT);
  });

  it('compiles retry_condition with attempts and last_attempt, and only there', () => {
    compileOk(policy('{url: "https://a.internal", retry_condition: "attempts < 3 && last_attempt.res.status_code >= 500"}'), AGENT);
    compileOk(policy('{url: "https://a.internal", retry_condition: "${last_attempt.error != \'\'}"}'), AGENT);
    assert.match(issueAt(issues('{url: "https://a.internal", retry_condition: "attempts >"}'), `${P}.retry_condition`).message, /syntax error/);
    assert.match(issueAt(issues('{url: "https://a.internal", retry_condition: "attempts"}'), `${P}.retry_condition`).message, /must evaluate to bool/);
    assert.match(issueAt(issues('{url: "https://a.internal", retry_condition: "last_attemp.res"}'), `${P}.retry_condition`).message, /undeclared reference 'last_attemp'/);
    assert.match(issueAt(issues('{url: "https://a.internal", retry_condition: 5}'), `${P}.retry_condition`).message, /must be a CEL expression/);
    assert.match(issueAt(issues('{url: "https://a.internal/${string(attempts)}"}'), `${P}.url`).message, /undeclared reference 'attempts'/);
  });

  it('checks on_error and unknown fields, and is allowed in both HTTP phases only', () => {
    assert.match(issueAt(issues('{url: "https://a.internal", on_error: stop}'), `${P}.on_error`).message, /continue, halt/);
    assert.match(issueAt(issues('{url: "https://a.internal", retries: 3}'), `${P}.retries`).message, /unknown field 'retries'/);
    compileOk('on_http_response:\n  - actions: [{type: http-request, config: {url: "https://a.internal"}}]\n', AGENT);
  });

  it('counts as maybe-terminating with on_error: halt (a cloud endpoint still needs a terminating action)', () => {
    const src = `on_http_request:\n  - actions:\n      - {type: http-request, config: {url: "https://a.internal", on_error: halt}}\n      - {type: custom-response, config: {body: ok}}\n`;
    compileOk(src);
    issuesOf(policy('{url: "https://a.internal", on_error: halt}'));
  });

  it('parses durations and URLs', () => {
    assert.equal(parseTimeout('3s'), 3000);
    assert.equal(parseTimeout('1m30s'), 90_000);
    assert.equal(parseTimeout('1500ms'), 1500);
    assert.equal(parseTimeout('1.5s'), 1500);
    assert.equal(parseTimeout('3'), undefined);
    assert.equal(outboundUrlProblem('http://127.0.0.1:8080/x'), undefined);
  });
});

describe('action http-request: run', () => {
  it('sends a GET and publishes req, res, attempts and an empty error', async () => {
    const { out, host, result } = await run(policy('{url: "https://auth.internal/check"}', SHOW), () => ok(200, '{"user":"ann"}', { 'content-type': ['application/json'] }));
    assert.equal(out.kind, 'respond');
    assert.equal(host.sent.length, 1);
    assert.equal(host.sent[0].method, 'GET');
    assert.equal(host.sent[0].url, 'https://auth.internal/check');
    assert.ok(host.sent[0].timeoutMs > 2900 && host.sent[0].timeoutMs <= 3000, String(host.sent[0].timeoutMs));
    assert.equal(host.sent[0].maxBodyBytes, 256 * 1024);
    assert.deepEqual(result.req, { method: 'GET', url: 'https://auth.internal/check', headers: {}, body: '' });
    assert.equal(result.res.status_code, 200);
    assert.equal(result.res.body, '{"user":"ann"}');
    assert.deepEqual(result.res.headers, { 'content-type': ['application/json'] });
    assert.equal(typeof result.res.time_ms, 'number');
    assert.equal(result.attempts.length, 1);
    assert.equal(result.attempts[0].res.status_code, 200);
    assert.deepEqual(result.error, { code: '', message: '' });
  });

  it('interpolates url, query_params, headers and body', async () => {
    const src = policy(
      `{url: "https://\${req.headers['x-svc'][0]}.internal/v1?a=1#frag", method: POST, query_params: [{key: "path", value: "\${req.url.path}"}, {key: "q w", value: "x&y"}], headers: {X-Client: "\${conn.client_ip}"}, body: '{"m":"\${req.method}"}'}`,
      SHOW,
    );
    const { host } = await run(src, () => ok(204), { headers: { 'x-svc': 'auth' } });
    const sent = host.sent[0];
    assert.equal(sent.url, 'https://auth.internal/v1?a=1&path=%2Forders&q%20w=x%26y');
    assert.equal(sent.method, 'POST');
    assert.deepEqual(sent.headers, { 'x-client': ['203.0.113.9'] });
    assert.equal(sent.body, '{"m":"GET"}');
  });

  it('lets later rules act on the answer: deny on 401, forward with a header taken from the body on 200', async () => {
    const src = `on_http_request:
  - actions:
      - type: http-request
        config: {url: "https://auth.internal/check", headers: {authorization: "\${getReqHeader('authorization').join(',')}"}}
  - expressions: ["actions.ngrok.http_request.res.status_code == 401"]
    actions: [{type: deny, config: {status_code: 401}}]
  - expressions: ["actions.ngrok.http_request.res.status_code == 200"]
    actions:
      - {type: add-headers, config: {headers: {x-user: "\${actions.ngrok.http_request.res.body.decodeJson().user}"}}}
      - {type: forward-internal, config: {url: "https://app.internal"}}
`;
    const auth: Script = (req) => (req.headers['authorization']?.[0] === 'Bearer good' ? ok(200, '{"user":"ann"}') : ok(401));
    const denied = await run(src, auth, { headers: { authorization: 'Bearer bad' } });
    assert.equal(denied.out.kind === 'respond' && denied.out.response.status, 401);
    const host = new FakeOutbound(auth);
    const x = exchange('https://api.example.com/', { headers: { authorization: 'Bearer good' } });
    const out = await compileOk(src, AGENT).runRequest(x, endpoint('agent'), host);
    assert.equal(out.kind, 'forwarded');
    assert.deepEqual(x.req.headers['x-user'], ['ann']);
  });

  it('on_error: continue (default) sets error and goes on; halt ends the request with the code', async () => {
    const fail: Script = () => ({ ok: false, code: 'MG_HTTP_REQUEST_FAILED', message: 'no endpoint is online for https://auth.internal' });
    const cont = await run(policy('{url: "https://auth.internal/"}', SHOW), fail);
    assert.deepEqual(cont.result.error, { code: 'MG_HTTP_REQUEST_FAILED', message: 'no endpoint is online for https://auth.internal' });
    assert.equal(cont.result.res.status_code, 0);
    assert.equal(cont.result.res.body, '');
    const halt = await run(policy('{url: "https://auth.internal/", on_error: halt}', SHOW), fail);
    assert.equal(halt.out.kind, 'error');
    if (halt.out.kind === 'error') {
      assert.equal(halt.out.code, 'MG_HTTP_REQUEST_FAILED');
      assert.match(halt.out.message, /GET https:\/\/auth\.internal\/: no endpoint is online/);
    }
    // an answer, even a 5xx, is not an error
    const five = await run(policy('{url: "https://auth.internal/", on_error: halt}', SHOW), () => ok(503));
    assert.equal(five.result.res.status_code, 503);
  });

  it('keeps the status and headers of an answer whose body is too large', async () => {
    const { result } = await run(policy('{url: "https://auth.internal/"}', SHOW), () => ({ ok: false, code: 'MG_HTTP_REQUEST_BODY_TOO_LARGE', message: 'too big', status: 200, headers: { 'x-a': ['1'] } }));
    assert.equal(result.error.code, 'MG_HTTP_REQUEST_BODY_TOO_LARGE');
    assert.equal(result.res.status_code, 200);
    assert.deepEqual(result.res.headers, { 'x-a': ['1'] });
  });

  it('fails (on_error applies) for an interpolated URL that is not http(s), and when no gateway offers side calls', async () => {
    const bad = await run(policy(`{url: "\${req.headers['x-u'][0]}"}`, SHOW), () => ok(200), { headers: { 'x-u': 'file:///etc/passwd' } });
    assert.equal(bad.result.error.code, 'MG_HTTP_REQUEST_FAILED');
    assert.equal(bad.host.sent.length, 0);
    const out = await compileOk(policy('{url: "https://a.internal", on_error: halt}'), AGENT).runRequest(exchange('https://api.example.com/'), endpoint('agent'), new FakeHost());
    assert.equal(out.kind === 'error' && out.code, 'MG_HTTP_REQUEST_FAILED');
  });

  it('retries while retry_condition holds, with attempts and last_attempt visible', async () => {
    const src = policy('{url: "https://flaky.internal/", retry_condition: "last_attempt.res.status_code >= 500 && attempts < 5"}', SHOW);
    const { host, result } = await run(src, (_r, n) => (n < 3 ? ok(503, 'busy') : ok(200, 'fine')));
    assert.equal(host.sent.length, 3);
    assert.equal(result.res.status_code, 200);
    assert.equal(result.res.body, 'fine');
    assert.deepEqual(result.attempts.map((a: any) => a.res.status_code), [503, 503, 200]);
    assert.ok(host.sent[1].timeoutMs < host.sent[0].timeoutMs, 'the timeout is a budget for all attempts');
  });

  it('stops after 3 retries, and retries on errors when asked', async () => {
    const always = await run(policy('{url: "https://down.internal/", retry_condition: "true"}', SHOW), () => ok(503));
    assert.equal(always.host.sent.length, 4);
    assert.equal(always.result.attempts.length, 4);
    const onError = await run(policy(`{url: "https://down.internal/", retry_condition: "last_attempt.error != '' && last_attempt.error_code == 'MG_HTTP_REQUEST_FAILED'"}`, SHOW), (_r, n) =>
      n === 1 ? { ok: false, code: 'MG_HTTP_REQUEST_FAILED', message: 'refused' } : ok(200),
    );
    assert.equal(onError.host.sent.length, 2);
    assert.deepEqual(onError.result.attempts.map((a: any) => a.error.code), ['MG_HTTP_REQUEST_FAILED', '']);
    assert.deepEqual(onError.result.error, { code: '', message: '' });
    const never = await run(policy('{url: "https://down.internal/"}', SHOW), () => ok(503));
    assert.equal(never.host.sent.length, 1);
  });

  it('keeps every attempt, retries and pauses within the timeout budget', async () => {
    // Each attempt takes 300 ms; an attempt left with less than that times out, as a gateway would.
    const slow: Script = (req) =>
      new Promise((resolve) => {
        const wait = Math.max(0, Math.min(req.timeoutMs, 300));
        setTimeout(() => resolve(req.timeoutMs <= 300 ? { ok: false, code: 'MG_HTTP_REQUEST_TIMEOUT', message: 'timed out' } : ok(503)), wait);
      });
    const t0 = performance.now();
    const { host, result } = await run(policy('{url: "https://slow.internal/", timeout: 1s, retry_condition: "true"}', SHOW), slow);
    const took = performance.now() - t0;
    assert.ok(took >= 900 && took < 1600, `took ${took} ms`);
    assert.ok(host.sent.length >= 2 && host.sent.length <= 4, `${host.sent.length} attempts`);
    for (let i = 1; i < host.sent.length; i++) assert.ok(host.sent[i].timeoutMs < host.sent[i - 1].timeoutMs);
    assert.equal(result.error.code, 'MG_HTTP_REQUEST_TIMEOUT');
  });

  it('fails the request when retry_condition errors or is not a bool at run time', async () => {
    const { out } = await run(policy('{url: "https://a.internal/", retry_condition: "last_attempt.res.nope == 1"}'), () => ok(503));
    assert.equal(out.kind === 'error' && out.code, 'MG_POLICY_RUNTIME_ERROR');
    // a dyn expression is accepted at load; its non-bool value fails the request
    const nb = await run(policy('{url: "https://a.internal/", retry_condition: "last_attempt.res.status_code"}'), () => ok(503));
    assert.equal(nb.out.kind === 'error' && nb.out.code, 'MG_POLICY_RUNTIME_ERROR');
    if (nb.out.kind === 'error') assert.match(nb.out.message, /retry_condition: evaluated to bigint, not a bool/);
  });

  it('follows redirects: 302 turns into GET without body, 307 keeps both, credentials stay on the host', async () => {
    const src = policy('{url: "https://a.internal/start", method: POST, body: "b", headers: {authorization: "Bearer t", content-type: text/plain}}', SHOW);
    const { host, result } = await run(src, (req, n) =>
      n === 1 ? ok(307, '', { location: ['/again'] }) : n === 2 ? ok(302, '', { location: ['https://b.internal/end'] }) : ok(200, 'done'),
    );
    assert.deepEqual(host.sent.map((s) => [s.method, s.url, s.body ?? null]), [
      ['POST', 'https://a.internal/start', 'b'],
      ['POST', 'https://a.internal/again', 'b'],
      ['GET', 'https://b.internal/end', null],
    ]);
    assert.equal(host.sent[1].headers['authorization']?.[0], 'Bearer t');
    assert.equal(host.sent[2].headers['authorization'], undefined);
    assert.equal(host.sent[2].headers['content-type'], undefined);
    assert.equal(result.res.body, 'done');
    assert.equal(result.req.url, 'https://b.internal/end');
    assert.equal(result.attempts.length, 1);
  });

  it('returns the 3xx itself with max_redirects: 0, and fails past max_redirects', async () => {
    const loop: Script = () => ok(302, '', { location: ['/again'] });
    const zero = await run(policy('{url: "https://a.internal/", max_redirects: 0}', SHOW), loop);
    assert.equal(zero.host.sent.length, 1);
    assert.equal(zero.result.res.status_code, 302);
    assert.equal(zero.result.error.code, '');
    const two = await run(policy('{url: "https://a.internal/", max_redirects: 2}', SHOW), loop);
    assert.equal(two.host.sent.length, 3);
    assert.equal(two.result.error.code, 'MG_HTTP_REQUEST_FAILED');
    assert.match(two.result.error.message, /stopped after 2 redirects/);
  });

  it('runs in on_http_response with the gateway given to runResponse', async () => {
    const src = `on_http_response:
  - actions:
      - {type: http-request, config: {url: "https://audit.internal/log", method: POST, body: "\${res.status_code}"}}
      - {type: add-headers, config: {headers: {x-audit: "\${actions.ngrok.http_request.res.status_code}"}}}
`;
    const host = new FakeOutbound(() => ok(202));
    const res = { status: 201, headers: {} as Record<string, string[]> };
    const out = await compileOk(src, AGENT).runResponse(exchange('https://api.example.com/'), endpoint('agent'), res, host);
    assert.equal(out.kind, 'pass');
    assert.equal(host.sent[0].body, '201');
    assert.deepEqual(res.headers['x-audit'], ['202']);
  });
});
