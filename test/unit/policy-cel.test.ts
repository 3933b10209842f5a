import assert from 'node:assert/strict';
import { compileTemplate, EvalContext, compileExpression } from '../../services/policy/cel/index.js';
import type { Exchange, Phase } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost } from './policy-fixtures.js';

/** Evaluates one expression against an exchange (request phase unless told otherwise). */
function evalExpr(source: string, x: Exchange, phase: Phase = 'on_http_request'): unknown {
  const r = compileExpression(source, phase);
  if (!r.ok) assert.fail(r.message);
  return r.expr.evaluate(new EvalContext(x, endpoint('cloud'), phase === 'on_http_response' ? { status: 201, headers: {} } : undefined));
}

function template(source: string) {
  const r = compileTemplate(source, 'on_http_request', 'test.field');
  if (!r.ok) assert.fail(r.message);
  return r.template;
}

describe('Traffic Policy CEL', () => {
  const x = () =>
    exchange('https://api.example.com:8443/v1/users?id=7&id=8&flag', {
      method: 'POST',
      headers: { 'X-Api': ['alpha', 'beta'], 'content-type': 'application/json' },
      clientIp: '192.0.2.10',
    });

  describe('variables', () => {
    it('exposes req.* with ints as CEL ints', () => {
      const ex = x();
      assert.equal(evalExpr('req.method', ex), 'POST');
      assert.equal(evalExpr('req.host', ex), 'api.example.com');
      assert.equal(evalExpr('req.version', ex), '1.1');
      assert.equal(evalExpr('req.url.path', ex), '/v1/users');
      assert.equal(evalExpr('req.url.query', ex), 'id=7&id=8&flag');
      assert.equal(evalExpr('req.url.scheme', ex), 'https');
      assert.equal(evalExpr('req.url.host', ex), 'api.example.com');
      assert.equal(evalExpr('req.url.port + 1', ex), 8444n);
      assert.equal(evalExpr('req.url.raw', ex), 'https://api.example.com:8443/v1/users?id=7&id=8&flag');
      assert.deepEqual(evalExpr('req.url.query_params.id', ex), ['7', '8']);
      assert.deepEqual(evalExpr('req.headers["x-api"]', ex), ['alpha', 'beta']);
    });

    it('leaves the default port out of req.url.raw', () => {
      assert.equal(evalExpr('req.url.raw', exchange('https://api.example.com/a')), 'https://api.example.com/a');
    });

    it('exposes conn.*, endpoint.* and time.now', () => {
      const ex = x();
      assert.equal(evalExpr('conn.client_ip', ex), '192.0.2.10');
      assert.equal(evalExpr('conn.client_port > 0', ex), true);
      assert.equal(evalExpr('conn.server_region', ex), 'eu');
      assert.equal(evalExpr('endpoint.type == "cloud" && endpoint.port == 443 && endpoint.binding == "public"', ex), true);
      assert.equal(evalExpr('endpoint.host', ex), 'api.example.com');
      const now = evalExpr('time.now', ex) as string;
      assert.ok(Math.abs(Date.parse(now) - Date.now()) < 5000, `time.now '${now}' is RFC 3339 and current`);
      assert.equal(evalExpr('timestamp(time.now) > timestamp("2020-01-01T00:00:00Z")', ex), true);
    });

    it('exposes res.* in the response phase', () => {
      assert.equal(evalExpr('res.status_code == 201', x(), 'on_http_response'), true);
    });

    it('sees a request changed between evaluations (derived values are recomputed)', () => {
      const ex = exchange('https://api.example.com/?a=1');
      const cx = new EvalContext(ex, endpoint(), undefined);
      const r = compileExpression("getQueryParam('a')", 'on_http_request');
      assert.ok(r.ok);
      assert.deepEqual(r.expr.evaluate(cx), ['1']);
      ex.req.query = 'a=2&a=3';
      assert.deepEqual(r.expr.evaluate(cx), ['2', '3']);
    });

    it('builds request values lazily: a path-only policy never reads the headers', async () => {
      const ex = exchange('https://api.example.com/foo');
      let headerReads = 0;
      const headers = ex.req.headers;
      Object.defineProperty(ex.req, 'headers', {
        get() {
          headerReads++;
          return headers;
        },
      });
      const policy = compileOk(`on_http_request:\n  - expressions: ["req.url.path.startsWith('/foo')"]\n    actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]\n`, AGENT);
      assert.equal((await policy.runRequest(ex, endpoint('agent'), new FakeHost())).kind, 'forwarded');
      assert.equal(headerReads, 0);
    });
  });

  describe('functions', () => {
    it('getReqHeader and hasReqHeader match header names case-insensitively', () => {
      const ex = x();
      assert.deepEqual(evalExpr("getReqHeader('X-API')", ex), ['alpha', 'beta']);
      assert.deepEqual(evalExpr("getReqHeader('x-api')", ex), ['alpha', 'beta']);
      assert.deepEqual(evalExpr("getReqHeader('Content-Type')", ex), ['application/json']);
      assert.equal(evalExpr("hasReqHeader('CONTENT-TYPE')", ex), true);
    });

    it('getReqHeader returns an empty list for an absent header', () => {
      assert.deepEqual(evalExpr("getReqHeader('x-missing')", x()), []);
      assert.equal(evalExpr("hasReqHeader('x-missing')", x()), false);
      assert.equal(evalExpr("size(getReqHeader('x-missing')) == 0", x()), true);
    });

    it('getQueryParam returns every value; hasQueryParam sees value-less params', () => {
      assert.deepEqual(evalExpr("getQueryParam('id')", x()), ['7', '8']);
      assert.equal(evalExpr("hasQueryParam('flag')", x()), true);
      assert.equal(evalExpr("hasQueryParam('nope')", x()), false);
    });

    it('supports optional access as a guard against missing keys', () => {
      assert.equal(evalExpr("req.headers[?'x-nope'].orValue(['none'])[0]", x()), 'none');
    });

    it('runs a catastrophically backtracking regex in bounded time', () => {
      const ex = exchange(`https://api.example.com/${'a'.repeat(32)}!`);
      const start = Date.now();
      assert.equal(evalExpr("req.url.path.matches('^/(a+)+$')", ex), false);
      assert.ok(Date.now() - start < 1000, `took ${Date.now() - start} ms`);
    });
  });

  describe('${} interpolation', () => {
    it('joins literal text and several placeholders into a string', () => {
      const t = template('${req.method} ${req.url.path} from ${conn.client_ip}');
      assert.equal(t.isStatic, false);
      assert.equal(t.evalString(new EvalContext(x(), endpoint(), undefined)), 'POST /v1/users from 192.0.2.10');
    });

    it('stringifies ints, bools and lists inside text', () => {
      const t = template('port=${req.url.port} tls=${req.url.scheme == "https"} ids=${getQueryParam("id")}');
      assert.equal(t.evalString(new EvalContext(x(), endpoint(), undefined)), 'port=8443 tls=true ids=["7","8"]');
    });

    it('keeps the type of a value that is exactly one placeholder', () => {
      const cx = new EvalContext(x(), endpoint(), undefined);
      assert.equal(template('${req.url.port}').evalValue(cx), 8443n);
      assert.deepEqual(template('${getQueryParam("id")}').evalValue(cx), ['7', '8']);
      assert.equal(template(' ${req.url.port}').evalValue(cx), ' 8443', 'surrounding text makes it a string');
    });

    it('treats a value without placeholders as static', () => {
      const t = template('https://foo.internal');
      assert.equal(t.isStatic, true);
      assert.equal(t.staticValue, 'https://foo.internal');
    });

    it('finds the closing brace past braces and quotes inside the expression', () => {
      const t = template("a${ {'k': 'v}'}['k'] }b");
      assert.equal(t.evalString(new EvalContext(x(), endpoint(), undefined)), 'av}b');
    });

    it('routes on a header value interpolated into the forward-internal url', async () => {
      const policy = compileOk(`on_http_request:
  - expressions: ["'x-api' in req.headers"]
    actions: [{type: forward-internal, config: {url: "https://\${req.headers['x-api'][0]}.internal"}}]
  - actions: [{type: custom-response, config: {status_code: 403}}]
`);
      const host = new FakeHost();
      const out = await policy.runRequest(exchange('https://api.example.com/', { headers: { 'X-Api': 'billing' } }), endpoint(), host);
      assert.deepEqual(out, { kind: 'forwarded', response: 'response from billing.internal' });
    });
  });

  it('compiles an agent policy using every documented variable', () => {
    compileOk(
      `on_http_request:
  - expressions:
      - "req.method != '' && req.host != '' && req.version != '' && req.url.path != '' && req.url.query == ''"
      - "req.url.scheme != '' && req.url.host != '' && req.url.port > 0 && req.url.raw != '' && size(req.url.query_params) >= 0"
      - "size(req.headers) >= 0 && conn.client_ip != '' && conn.client_port > 0 && conn.server_region != ''"
      - "conn.server_ip != '' && conn.server_port > 0 && endpoint.id != '' && endpoint.url != '' && endpoint.host != ''"
      - "endpoint.port > 0 && endpoint.protocol != '' && endpoint.binding != '' && endpoint.type != '' && size(vars) >= 0"
      - "!has(actions.ngrok.forward_internal) && !has(actions.meshgate.forward_internal) && time.now != ''"
    actions: [{type: deny}]
`,
      AGENT,
    );
  });
});
