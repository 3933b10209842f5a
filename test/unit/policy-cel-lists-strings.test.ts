import assert from 'node:assert/strict';
import { compileExpression } from '../../services/policy/cel/index.js';
import { MAX_RANGE } from '../../services/policy/cel/functions-lists.js';
import type { Exchange } from '../../services/policy/index.js';
import { compileOk, endpoint, evalError, evalExpr, exchange, FakeHost, refused } from './policy-fixtures.js';

function typeOf(source: string): string {
  const r = compileExpression(source, 'on_http_request');
  if (!r.ok) assert.fail(`${source}: ${r.message}`);
  return r.expr.type;
}

/** Runs `expression` as a rule's expression; the outcome of the request. */
async function run(expression: string, x: Exchange) {
  const policy = compileOk(`on_http_request:
  - name: probe
    expressions: [${JSON.stringify(expression)}]
    actions: [{type: custom-response, config: {status_code: 200, body: "yes"}}]
  - actions: [{type: custom-response, config: {status_code: 404, body: "no"}}]
`);
  return policy.runRequest(x, endpoint(), new FakeHost());
}

async function assertRuntimeError(expression: string, x: Exchange, pattern: RegExp): Promise<void> {
  const out = await run(expression, x);
  assert.equal(out.kind, 'error', JSON.stringify(out));
  if (out.kind !== 'error') return;
  assert.equal(out.code, 'MG_POLICY_RUNTIME_ERROR');
  assert.match(out.message, /^on_http_request\[0\]\.expressions\[0\] \(rule "probe"\): /);
  assert.match(out.message, pattern);
}

describe('list.sortBy(x, key) macro', () => {
  it("gives ngrok's documented result (records sorted by a field)", () => {
    const players = "[{'name': 'foo', 'score': 0}, {'name': 'bar', 'score': -10}, {'name': 'baz', 'score': 1000}]";
    assert.deepEqual(evalExpr(`${players}.sortBy(e, e.score).map(e, e.name)`), ['bar', 'foo', 'baz']);
  });

  it('sorts by any comparable key, keeps the element type and is stable', () => {
    assert.deepEqual(evalExpr('[3, 1, 2].sortBy(x, -x)'), [3n, 2n, 1n]);
    assert.deepEqual(evalExpr("['ccc', 'a', 'bb'].sortBy(s, size(s))"), ['a', 'bb', 'ccc']);
    assert.deepEqual(evalExpr("['b2', 'a1', 'b1', 'a2'].sortBy(s, s.charAt(0))"), ['a1', 'a2', 'b2', 'b1']);
    assert.deepEqual(evalExpr('[true, false].sortBy(b, b)'), [false, true]);
    assert.equal(evalExpr("[b'b', b'a'].sortBy(b, b) == [b'a', b'b']"), true);
    assert.deepEqual(evalExpr("['2024-01-02T00:00:00Z', '2023-05-01T00:00:00Z'].sortBy(t, timestamp(t))"), ['2023-05-01T00:00:00Z', '2024-01-02T00:00:00Z']);
    assert.deepEqual(evalExpr("['1m', '90s', '5s'].sortBy(d, duration(d))"), ['5s', '1m', '90s']);
    assert.deepEqual(evalExpr('[2u, 1u].sortBy(u, u)'), evalExpr('[1u, 2u]'));
    assert.deepEqual(evalExpr('[].sortBy(x, x)'), []);
    assert.equal(typeOf('[3, 1].sortBy(x, x)'), 'list<int>');
    assert.equal(evalExpr('[3, 1].sortBy(x, x)[0] + 1'), 2n);
  });

  it('sorts request data, nested in other macros and with dyn receivers', () => {
    const x = exchange('https://api.example.com/?v=ccc&v=a&v=bb', { headers: { 'x-json': '[{"n": 2}, {"n": 1}]' } });
    assert.equal(evalExpr("getQueryParam('v').sortBy(v, size(v)).join(',')", x), 'a,bb,ccc');
    assert.deepEqual(evalExpr("json.decode(getReqHeader('x-json')[0]).sortBy(o, o.n).map(o, o.n)", x), [1, 2]);
    assert.deepEqual(evalExpr('[[3, 1], [2]].map(l, l.sortBy(x, x))'), [[1n, 3n], [2n]]);
    assert.deepEqual(evalExpr('[2, 1].sortBy(x, [5, 4].sortBy(y, y)[0] * x)'), [1n, 2n]);
    assert.equal(evalExpr("[1, 2].sortBy(req, -req)[0] == 2 && req.method == 'GET'"), true);
  });

  it('refuses at load a receiver that is not a list, a non-comparable key and a non-variable first argument', () => {
    refused("'abc'.sortBy(x, x)", /sortBy: the receiver must be a list, got 'string'/);
    refused("{'a': 1}.sortBy(k, k)", /sortBy: the receiver must be a list/);
    refused('[1, 2].sortBy(x, [x])', /sortBy: the key must be int, uint, double, bool, string, bytes, timestamp or duration, got 'list<int>' \(column 18\)/);
    refused("[1, 2].sortBy(x, {'k': x})", /sortBy: the key must be/);
    refused('[1, 2].sortBy(1, x)', /sortBy\(x, key\): the first argument must be a variable name/);
    refused('[1, 2].sortBy(x, y)', /undeclared reference 'y'/);
    refused('[1, 2].sortBy(x)', /sortBy takes two arguments: list.sortBy\(x, key\)/);
    refused('[1, 2].sortBy(x, x, x)', /sortBy takes two arguments/);
  });

  it('fails at runtime when dyn keys are mixed or not comparable', async () => {
    evalError("json.decode('[1, \"a\"]').sortBy(x, x) == []", /sortBy: keys must all have the same type \(double and string\)/);
    evalError("json.decode('[[1], [2]]').sortBy(x, x) == []", /sortBy: keys must be int, uint, double/);
    const x = exchange('https://api.example.com/', { headers: { 'x-json': '[{"n": 1}, {"n": "2"}]' } });
    await assertRuntimeError("size(json.decode(getReqHeader('x-json')[0]).sortBy(o, o.n)) == 2", x, /sortBy: keys must all have the same type/);
  });
});

describe('list.sort() comparable types', () => {
  it('sorts ints, uints, doubles, bools, strings (by code point), bytes, timestamps and durations', () => {
    assert.deepEqual(evalExpr('[3, 2, 1].sort()'), [1n, 2n, 3n]);
    assert.deepEqual(evalExpr('["b", "c", "a"].sort()'), ['a', 'b', 'c']);
    assert.deepEqual(evalExpr('[2.5, -1.0].sort()'), [-1, 2.5]);
    assert.deepEqual(evalExpr('[true, false, true].sort()'), [false, true, true]);
    assert.deepEqual(evalExpr("['😀', '\uFFFD', 'z'].sort()"), ['z', '\uFFFD', '😀']);
    assert.equal(evalExpr("[b'\\x02', b'\\x01\\x05', b'\\x01'].sort() == [b'\\x01', b'\\x01\\x05', b'\\x02']"), true);
    assert.equal(evalExpr("[timestamp('2024-01-01T00:00:00Z'), timestamp('2020-01-01T00:00:00Z')].sort()[0] == timestamp('2020-01-01T00:00:00Z')"), true);
    assert.equal(evalExpr("[duration('1m'), duration('-1s'), duration('1.5s')].sort() == [duration('-1s'), duration('1.5s'), duration('1m')]"), true);
  });

  it("errors like ngrok's documented examples when types differ or are not comparable", () => {
    evalError('[1, "b"].sort() == []', /sort: list elements must all have the same type \(int and string\)/);
    evalError('[[1, 2, 3]].sort() == []', /sort: list elements must be int, uint, double/);
    evalError('[1, 2.0].sort() == []', /same type \(int and double\)/);
  });
});

describe('list.flatten([depth])', () => {
  it("gives ngrok's documented results", () => {
    assert.deepEqual(evalExpr('[1,[2,3],[4]].flatten()'), [1n, 2n, 3n, 4n]);
    assert.deepEqual(evalExpr('[1,[2,[3,4]]].flatten()'), [1n, 2n, [3n, 4n]]);
    assert.deepEqual(evalExpr('[1,2,[],[],[3,4]].flatten()'), [1n, 2n, 3n, 4n]);
    assert.deepEqual(evalExpr('[1,[2,[3,[4]]]].flatten(2)'), [1n, 2n, 3n, [4n]]);
  });

  it('leaves the list unchanged at depth 0 and flattens everything at a large depth', () => {
    assert.deepEqual(evalExpr('[1,[2,[3]]].flatten(0)'), [1n, [2n, [3n]]]);
    assert.deepEqual(evalExpr('[1,[2,[3,[4]]]].flatten(100)'), [1n, 2n, 3n, 4n]);
    assert.deepEqual(evalExpr("[['a'], 'b'].flatten(1)"), ['a', 'b']);
  });

  it('does not overflow the stack on deeply nested JSON', () => {
    const deep = '['.repeat(5000) + '1' + ']'.repeat(5000);
    const x = exchange('https://api.example.com/', { headers: { 'x-deep': deep } });
    assert.deepEqual(evalExpr("json.decode(getReqHeader('x-deep')[0]).flatten(10000)", x), [1]);
  });

  it('refuses a negative literal depth at load and fails at runtime on a negative computed one', async () => {
    refused('[1,[2,[3,[4]]]].flatten(-1) == []', /flatten: depth must not be negative, got -1 \(column 25\)/);
    refused("[1].flatten('1')", /no matching overload/);
    evalError('[1,[2]].flatten(1 - 2) == []', /flatten: depth must not be negative, got -1/);
    const x = exchange('https://api.example.com/?d=-2');
    await assertRuntimeError("size([1, [2]].flatten(int(getQueryParam('d')[0]))) > 0", x, /flatten: depth must not be negative, got -2/);
  });
});

describe('lists.range(n)', () => {
  it("gives ngrok's documented result and [] for n <= 0", () => {
    assert.deepEqual(evalExpr('lists.range(5)'), [0n, 1n, 2n, 3n, 4n]);
    assert.deepEqual(evalExpr('lists.range(0)'), []);
    assert.deepEqual(evalExpr('lists.range(-3)'), []);
    assert.equal(typeOf('lists.range(3)'), 'list<int>');
    assert.deepEqual(evalExpr("lists.range(size(getQueryParam('v'))).map(i, getQueryParam('v')[i] + string(i))", exchange('https://api.example.com/?v=a&v=b')), ['a0', 'b1']);
    assert.equal((evalExpr(`lists.range(${MAX_RANGE})`) as unknown[]).length, MAX_RANGE);
  });

  it('refuses a literal above the limit and a non-int at load; fails at runtime above the limit', async () => {
    refused(`lists.range(${MAX_RANGE + 1}) == []`, new RegExp(`lists.range: ${MAX_RANGE + 1} is above the limit of ${MAX_RANGE} elements \\(column 13\\)`));
    refused("lists.range('5')", /no matching overload for 'ListsNs.range\(string\)'/);
    refused('lists.range()', /no matching overload/);
    refused('lists.rnage(5)', /no matching overload/);
    await assertRuntimeError("size(lists.range(int(getQueryParam('n')[0]))) > 0", exchange('https://api.example.com/?n=20000000'), /lists.range: 20000000 is above the limit/);
  });
});

describe('strings.quote(s)', () => {
  it("gives ngrok's documented results", () => {
    assert.equal(evalExpr(`strings.quote('single-quote with "double quote"')`), '"single-quote with \\"double quote\\""');
    assert.equal(evalExpr('strings.quote("two escape sequences \\a\\n")'), '"two escape sequences \\a\\n"');
  });

  it('escapes \\a \\b \\f \\n \\r \\t \\v, backslash and double quote, and nothing else', () => {
    assert.equal(evalExpr("strings.quote('\\a\\b\\f\\n\\r\\t\\v\\\\\"')"), '"\\a\\b\\f\\n\\r\\t\\v\\\\\\""');
    assert.equal(evalExpr("strings.quote('')"), '""');
    assert.equal(evalExpr("strings.quote('it\\'s ünï 😀 \\x00\\x1b')"), '"it\'s ünï 😀 \x00\x1b"');
    assert.equal(evalExpr("strings.quote(req.url.path + '?' + req.method)"), '"/?GET"');
  });

  it('replaces an unpaired surrogate (ngrok: invalid UTF-8) with U+FFFD', () => {
    const x = exchange('https://api.example.com/');
    // A lone surrogate cannot come from a CEL literal; build one from request data.
    assert.equal(evalExpr("strings.quote(getReqHeader('x')[0])", exchange('https://api.example.com/', { headers: { x: 'a\uD800b\uDC00' } })), '"a\uFFFDb\uFFFD"');
    assert.equal(evalExpr("strings.quote('😀')", x), '"😀"');
  });

  it('refuses misuse at load', () => {
    refused('strings.quote(1)', /no matching overload for 'StringsNs.quote\(int\)'/);
    refused("'a'.quote()", /no matching overload/);
    refused("strings.quote('a', 'b')", /no matching overload/);
  });
});

describe('string.isJson() and string.isQueryString()', () => {
  it("give ngrok's documented results", () => {
    assert.equal(evalExpr(`'{"a":"b","c":"d"}'.isJson()`), true);
    assert.equal(evalExpr("'not json'.isJson()"), false);
    assert.equal(evalExpr("'a=b&c=d'.isQueryString()"), true);
    assert.equal(evalExpr("'not a query string'.isQueryString()"), false);
  });

  it('isJson accepts any JSON value and refuses what json.decode refuses', () => {
    for (const s of ['[1, 2]', '"x"', '3.5', 'null', 'true', ' {"a": {"b": []}} ']) assert.equal(evalExpr(`${JSON.stringify(s)}.isJson()`), true, s);
    for (const s of ['', '{', "{'a': 1}", '[1,]', '{"a": 1} x', 'NaN', 'undefined']) assert.equal(evalExpr(`${JSON.stringify(s)}.isJson()`), false, s);
    const x = exchange('https://api.example.com/', { headers: { 'x-body': '{"ok": true}' } });
    assert.equal(evalExpr("getReqHeader('x-body')[0].isJson() && getReqHeader('x-body')[0].decodeJson().ok", x), true);
  });

  it('isQueryString accepts key=value pairs joined by & and refuses anything else', () => {
    for (const s of ['a=1', '?a=1&b=2', 'a=', 'a=b=c', 'q=x+y&r=%2F%C3%A9', 'filter[name]=x|y', 'a=1&a=2']) assert.equal(evalExpr(`${JSON.stringify(s)}.isQueryString()`), true, s);
    for (const s of ['', '?', 'a', '=1', 'a=1&', 'a=1&&b=2', 'a=1&b', 'a b=1', 'a=1 2', 'a=1#frag', 'a=%zz', 'a=%2', 'a=\t']) assert.equal(evalExpr(`${JSON.stringify(s)}.isQueryString()`), false, s);
    assert.equal(evalExpr('req.url.query.isQueryString()', exchange('https://api.example.com/p?x=1&y=2')), true);
  });

  it('refuses misuse at load', () => {
    refused('(1).isJson()', /no matching overload/);
    refused("'a'.isJson(1)", /no matching overload/);
    refused("{'a': 'b'}.isQueryString()", /no matching overload/);
  });
});
