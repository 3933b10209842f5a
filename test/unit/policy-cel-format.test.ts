import assert from 'node:assert/strict';
import { fixed, scientific, shortestFixed } from '../../services/policy/cel/string-format.js';
import { evalError, evalExpr, exchange, refused } from './policy-fixtures.js';

describe('string.format (printf-style)', () => {
  it("gives ngrok's documented results", () => {
    assert.equal(evalExpr('"hello %s".format(["world"])'), 'hello world');
    assert.equal(evalExpr('"integer: %d".format([42])'), 'integer: 42');
    assert.equal(evalExpr('"%f".format([3.14])'), '3.140000');
    assert.equal(evalExpr('"%x".format([26])'), '1a');
    assert.equal(evalExpr('"binary: %b".format([5])'), 'binary: 101');
    assert.equal(evalExpr('"bool: %b".format([true])'), 'bool: 1');
  });

  it('formats every clause and type', () => {
    assert.equal(evalExpr("'%d %d %d, %s %s'.format([1, -2, 3u, 'A', 'B'])"), '1 -2 3, A B');
    assert.equal(evalExpr("'%%%s%% and %%'.format(['x'])"), '%x% and %');
    assert.equal(evalExpr("'%.3f|%.0f|%.0f|%.0f|%.2f|%f'.format([1.2345, 2.5, 3.5, 0.5, -0.001, 7])"), '1.234|2|4|0|-0.00|7.000000');
    assert.equal(evalExpr("'%e|%.2e|%.0e|%e'.format([1052.032911275, 0.000123456, 9.99, 0.0])"), '1.052033e+03|1.23e-04|1e+01|0.000000e+00');
    assert.equal(evalExpr("'%x %X %o %b'.format([-30, 255u, 11, -5])"), '-1e FF 13 -101');
    assert.equal(evalExpr("'%x|%X|%x'.format(['Hello world!', b'byte string', b'\\x00\\x01'])"), '48656c6c6f20776f726c6421|6279746520737472696E67|0001');
    assert.equal(evalExpr("'%s|%s|%s|%s|%s'.format([2.71, 0.000000002, 1e21, 100.0, -0.0])"), '2.71|0.000000002|1000000000000000000000|100|-0');
    assert.equal(evalExpr("'%d'.format([2.5])"), '2.5');
    assert.equal(evalExpr("'%s %s %s'.format([true, null, b'xyz'])"), 'true null xyz');
    assert.equal(evalExpr("'%s|%s'.format([timestamp('2023-02-03T23:31:20+00:00'), timestamp('2023-02-03T23:31:20.5Z')])"), '2023-02-03T23:31:20Z|2023-02-03T23:31:20.5Z');
    assert.equal(evalExpr("'%s %s'.format([duration('1h45m47s'), duration('2ms')])"), '6347s 0.002s');
    assert.equal(evalExpr("'%s %s'.format([type('x'), type(1)])"), 'string int');
    assert.equal(evalExpr("'%s'.format([['abc', 3.14, null, [9, 8], {'b': 2, 'a': 1}]])"), '[abc, 3.14, null, [9, 8], {a: 1, b: 2}]');
    assert.equal(evalExpr("'%f %e %s'.format([double('NaN'), double('-Infinity'), double('Infinity')])"), 'NaN -Infinity Infinity');
    assert.equal(evalExpr("'no clauses'.format([])"), 'no clauses');
    assert.equal(evalExpr("'ünï %s ✓'.format(['😀'])"), 'ünï 😀 ✓');
  });

  it('reads values from the request (format string and list both dynamic)', () => {
    const x = exchange('https://api.example.com/v2/items?page=3', { headers: { 'x-tpl': '%s/%s', 'x-a': ['one', 'two'] } });
    assert.equal(evalExpr("'%s %s page=%s'.format([req.method, req.url.path, req.url.query_params['page'][0]])", x), 'GET /v2/items page=3');
    assert.equal(evalExpr("getReqHeader('x-tpl')[0].format(getReqHeader('x-a'))", x), 'one/two');
    assert.equal(evalExpr("'%d of %d'.format([size(req.url.path), req.url.port])", x), '9 of 443');
  });

  it('rounds half to even on the exact binary value, like Go', () => {
    assert.equal(fixed(0.125, 2), '0.12');
    assert.equal(fixed(0.375, 2), '0.38');
    assert.equal(fixed(1.005, 2), '1.00'); // 1.005 is 1.00499999999999989...
    assert.equal(fixed(9.995, 2), '9.99');
    assert.equal(fixed(9.9999, 2), '10.00');
    assert.equal(fixed(1e21, 1), '1000000000000000000000.0');
    assert.equal(fixed(5e-324, 3), '0.000');
    assert.equal(fixed(123.456, 0), '123');
    assert.equal(scientific(999.96, 2), '1.00e+03');
    assert.equal(scientific(1e-300, 1), '1.0e-300');
    assert.equal(scientific(-2.5, 0), '-2e+00');
    assert.equal(shortestFixed(1.5e-7), '0.00000015');
    assert.equal(shortestFixed(123456789012), '123456789012');
  });

  it('refuses literal mistakes at load, with the column', () => {
    refused("'%q'.format([1])", /format: unrecognized formatting clause "%q" \(use %s, %d, %f, %e, %b, %x, %X, %o or %%\) \(column 1\)/);
    refused("'%05d'.format([1])", /unrecognized formatting clause "%0"/);
    refused("'50%'.format([])", /incomplete clause/);
    refused("'%.f'.format([1.0])", /precision after '%\.' must be digits/);
    refused("'%.101f'.format([1.0])", /precision 101 is above the maximum of 100/);
    refused("'%s and %s'.format(['a'])", /format: the format string has 2 clauses but the list has 1 element \(column 20\)/);
    refused("'%s'.format(['a', 'b'])", /has 1 clause but the list has 2 elements/);
    refused("'x=%d'.format(['a'])", /format: %d \(argument 1\) can only format ints, uints and doubles, got string \(column 16\)/);
    refused("'%b'.format([1.5])", /%b \(argument 1\) can only format ints, uints and bools, got double/);
    refused("'%o'.format(['7'])", /%o \(argument 1\) can only format ints and uints, got string/);
    refused("'%x'.format([true])", /%x \(argument 1\) can only format ints, uints, strings and bytes, got bool/);
    refused("'%s'.format([req.url])", /%s \(argument 1\) can only format .*, got Url/);
    refused("'%s'.format('a')", /no matching overload/);
    refused("'%s'.format(['a']) == 1", /no such overload|no matching overload/);
  });

  it('fails at runtime when only the request shows the mistake', () => {
    const x = exchange('https://api.example.com/', { headers: { 'x-a': ['one'], 'x-tpl': '100%' } });
    evalError("'%s/%s'.format(getReqHeader('x-a'))", /format: the format string has 2 clauses but 1 argument was given/, x);
    evalError("'%s'.format(getReqHeader('x-b'))", /has 1 clause but 0 arguments were given/, x);
    evalError("getReqHeader('x-tpl')[0].format([])", /format: the format string ends in an incomplete clause/, x);
    evalError("'%d'.format(getReqHeader('x-a'))", /format: %d \(argument 1\) can only format ints, uints and doubles, got string/, x);
    assert.equal(evalExpr("'%s'.format([json.decode('[{\"a\": [1, \"b\"]}]')])", x), '[{a: [1, b]}]');
  });
});
