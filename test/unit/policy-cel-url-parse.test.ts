import assert from 'node:assert/strict';
import { isCelError } from '../../services/policy/cel/index.js';
import { parseUrl } from '../../services/policy/cel/functions-url.js';
import { evalExpr, exchange, refused } from './policy-fixtures.js';

/** The parsed fields as plain data (port as a number). */
function parts(s: string): Record<string, unknown> {
  const r = parseUrl(s);
  if (!r.ok) assert.fail(`${s}: ${r.message}`);
  const u = r.url;
  return {
    scheme: u.scheme,
    opaque: u.opaque,
    user: u.user,
    password: u.password,
    host: u.host,
    hostname: u.hostname,
    port: Number(u.port),
    path: u.path,
    raw_path: u.raw_path,
    query: u.query,
    fragment: u.fragment,
  };
}

function parseError(s: string): string {
  const r = parseUrl(s);
  assert.equal(r.ok, false, `${s} parsed`);
  return r.ok ? '' : r.message;
}

describe('url.parse / string.parseUrl / string.isURL', () => {
  it("parses ngrok's documented example and its expression", () => {
    assert.equal(evalExpr("url.parse('https://ngrok.com').host"), 'ngrok.com');
    assert.equal(evalExpr("'https://ngrok.com'.parseUrl().scheme"), 'https');
    assert.equal(evalExpr("url.parse(req.url).host == 'ngrok.com'", exchange('https://ngrok.com/docs?x=1')), true);
    assert.equal(evalExpr("url.parse(req.url).query_params['x'][0]", exchange('https://ngrok.com/docs?x=1')), '1');
    assert.equal(evalExpr("'https://ngrok.com'.isURL()"), true);
    assert.equal(evalExpr("'not a url'.isURL()"), false);
  });

  it('splits every part the way Go url.Parse does', () => {
    assert.deepEqual(parts('HTTPS://ann:p%40ss@Api.Example.com:8443/a%20b/c?x=1&y=%20#sec%21tion'), {
      scheme: 'https',
      opaque: '',
      user: 'ann',
      password: 'p@ss',
      host: 'Api.Example.com:8443',
      hostname: 'Api.Example.com',
      port: 8443,
      path: '/a b/c',
      raw_path: '/a%20b/c',
      query: 'x=1&y=%20',
      fragment: 'sec!tion',
    });
    assert.deepEqual(parts('http://[2001:db8::1]:8080/'), { ...parts('http://x/'), host: '[2001:db8::1]:8080', hostname: '2001:db8::1', port: 8080 });
    assert.deepEqual(parts('mailto:ann@example.com'), { ...parts(''), scheme: 'mailto', opaque: 'ann@example.com' });
    assert.deepEqual(parts('/just/a/path?q'), { ...parts(''), path: '/just/a/path', raw_path: '/just/a/path', query: 'q' });
    assert.deepEqual(parts('//cdn.example.com/x.js'), { ...parts(''), host: 'cdn.example.com', hostname: 'cdn.example.com', path: '/x.js', raw_path: '/x.js' });
    assert.deepEqual(parts('not a url'), { ...parts(''), path: 'not a url', raw_path: 'not a url' });
    assert.equal(parts('file:///etc/hosts').path, '/etc/hosts');
    assert.equal(parts('http://user@host').user, 'user');
    assert.equal(parts('http://host:').port, 0);
  });

  it('is a runtime error naming the problem for what Go refuses', () => {
    assert.equal(parseError('://x'), 'missing protocol scheme');
    assert.equal(parseError('1a:b/c'), 'first path segment in URL cannot contain colon');
    assert.equal(parseError('http://host:80a/'), 'invalid port ":80a" after host');
    assert.equal(parseError('http://[::1/'), "missing ']' in host");
    assert.equal(parseError('http://a b/'), 'invalid character " " in host name');
    assert.equal(parseError('http://x/%zz'), 'invalid URL escape "%zz"');
    assert.equal(parseError('http://x/\n'), 'invalid control character in URL');
    assert.equal(parseError('http://host:99999/'), 'invalid port ":99999" after host');
    assert.throws(
      () => evalExpr("url.parse(req.url.path + '%zz').path == ''"),
      (e: unknown) => isCelError(e) && /url\.parse: "\/%zz" is not a valid URL: invalid URL escape "%zz"/.test((e as Error).message),
    );
    assert.throws(
      () => evalExpr("'://x'.parseUrl().host == ''"),
      (e: unknown) => isCelError(e) && /parseUrl: ":\/\/x" is not a valid URL: missing protocol scheme/.test((e as Error).message),
    );
    assert.equal(evalExpr("'://x'.isURL() || '/relative'.isURL() || 'mailto:a@b.c'.isURL()"), false);
  });

  it('is typed: fields are checked at load, port is an int, query_params a map of lists', () => {
    assert.equal(evalExpr("url.parse('http://h:81/').port + 1"), 82n);
    assert.deepEqual({ ...(evalExpr("url.parse('/?a=1&a=2&b=').query_params") as object) }, { a: ['1', '2'], b: [''] });
    refused("url.parse('https://ngrok.com').hots == ''", /unknown field 'hots' on url\.parse\(\.\.\.\) \(fields: scheme, opaque, user, password, host, hostname, port/);
    refused("url.parse('http://h/').port == '80'", /no such overload|no matching overload/);
    refused('url.parse(1)', /no matching overload/);
    refused("'x'.isURL(1)", /no matching overload/);
  });

  it('reads as the URL it was parsed from when interpolated', () => {
    assert.equal(String(evalExpr("url.parse('https://ngrok.com/a?b#c')")), 'https://ngrok.com/a?b#c');
  });
});
