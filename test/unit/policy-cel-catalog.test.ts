import assert from 'node:assert/strict';
import { compileExpression } from '../../services/policy/cel/index.js';
import { evalError, evalExpr, exchange, refused } from './policy-fixtures.js';

describe('Traffic Policy CEL function catalog', () => {
  describe('request cookies and body metadata', () => {
    const x = () =>
      exchange('https://api.example.com/', {
        headers: { cookie: ['sid=abc; theme="dark"; sid=second', 'lang=en'], 'content-type': 'application/json', 'content-length': '42', 'user-agent': 'curl/8.5' },
      });
    it('getReqCookie returns the first value, "" when absent; hasReqCookie', () => {
      assert.equal(evalExpr("getReqCookie('sid')", x()), 'abc');
      assert.equal(evalExpr("getReqCookie('theme')", x()), 'dark');
      assert.equal(evalExpr("getReqCookie('lang')", x()), 'en');
      assert.equal(evalExpr("getReqCookie('nope')", x()), '');
      assert.equal(evalExpr("hasReqCookie('sid') && !hasReqCookie('SID')", x()), true);
      assert.equal(evalExpr("hasReqCookie('sid')"), false);
    });
    it('req.cookies maps names to lists of {name, value}', () => {
      assert.equal(evalExpr("size(req.cookies['sid']) == 2 && req.cookies['sid'][1].value == 'second' && req.cookies.lang[0].name == 'lang'", x()), true);
      assert.equal(evalExpr('size(req.cookies)'), 0n);
      refused("req.cookies['sid'][0].valu == ''", /unknown field 'valu'|valu/);
    });
    it('req.content_type, content_length (int), user_agent', () => {
      assert.equal(evalExpr('req.content_type', x()), 'application/json');
      assert.equal(evalExpr('req.content_length + 1', x()), 43n);
      assert.equal(evalExpr('req.user_agent', x()), 'curl/8.5');
      assert.equal(evalExpr("req.content_length == 0 && req.user_agent == '' && req.content_type == ''"), true);
      assert.equal(evalExpr('req.content_length', exchange('https://a.example.com/', { headers: { 'transfer-encoding': 'chunked' } })), -1n);
      refused("req.content_length == '42'", /no such overload|no matching overload/);
    });
    it('response cookies and headers in on_http_response', () => {
      const h = { 'set-cookie': ['sid=new; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax', 'b=2; Foo'], 'content-length': ['10'] };
      assert.equal(evalExpr("getResCookie('sid')", undefined, 'on_http_response', h), 'new');
      assert.equal(evalExpr("hasResCookie('b') && !hasResCookie('c') && getResCookie('c') == ''", undefined, 'on_http_response', h), true);
      assert.equal(
        evalExpr("res.cookies.sid[0].path == '/' && res.cookies.sid[0].max_age == 60 && res.cookies.sid[0].http_only && res.cookies.sid[0].secure && res.cookies.sid[0].same_site == 'Lax'", undefined, 'on_http_response', h),
        true,
      );
      assert.deepEqual(evalExpr('res.cookies.b[0].unparsed_attributes', undefined, 'on_http_response', h), ['Foo']);
      assert.equal(evalExpr('res.content_length', undefined, 'on_http_response', h), 10n);
      refused("getResCookie('sid') == ''", /getResCookie/, 'on_http_request');
      refused('hasReqCookie(1)', /no matching overload/);
    });
  });

  describe('IP', () => {
    it('inCidrRange for IPv4 and IPv6; invalid CIDR or IP is false', () => {
      assert.equal(evalExpr("inCidrRange('10.1.2.3', '10.0.0.0/8')"), true);
      assert.equal(evalExpr("inCidrRange('11.1.2.3', '10.0.0.0/8')"), false);
      assert.equal(evalExpr("inCidrRange('192.168.1.1', '192.168.1.1')"), true);
      assert.equal(evalExpr("inCidrRange('1.2.3.4', '0.0.0.0/0')"), true);
      assert.equal(evalExpr("inCidrRange('2001:db8::1', '2001:db8::/32')"), true);
      assert.equal(evalExpr("inCidrRange('2001:db9::1', '2001:db8::/32')"), false);
      assert.equal(evalExpr("inCidrRange('::ffff:10.1.2.3', '10.0.0.0/8')"), true);
      assert.equal(evalExpr("inCidrRange('fe80::1%eth0', 'fe80::/10')"), true);
      assert.equal(evalExpr("inCidrRange('10.1.2.3', '10.0.0.0/33')"), false);
      assert.equal(evalExpr("inCidrRange('10.1.2.3', 'nope')"), false);
      assert.equal(evalExpr("inCidrRange('10.1.2', '10.0.0.0/8')"), false);
      assert.equal(evalExpr("inCidrRange('010.1.2.3', '10.0.0.0/8')"), false);
      assert.equal(evalExpr("inCidrRange('1::2::3', '::/0')"), false);
      assert.equal(evalExpr('inCidrRange(conn.client_ip, "203.0.113.0/24")'), true);
    });
    it('inCidrRanges ignores invalid entries', () => {
      assert.equal(evalExpr("inCidrRanges('10.1.2.3', ['bad', '192.168.0.0/16', '10.0.0.0/8'])"), true);
      assert.equal(evalExpr("inCidrRanges('8.8.8.8', ['bad', '10.0.0.0/8'])"), false);
      assert.equal(evalExpr("inCidrRanges('8.8.8.8', [])"), false);
      assert.equal(evalExpr("inCidrRanges('2001:db8::5', ['10.0.0.0/8', '2001:db8::/64'])"), true);
    });
    it('string.isPrivateIp()', () => {
      for (const ip of ['10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.0.1', 'fd00::1']) assert.equal(evalExpr(`'${ip}'.isPrivateIp()`), true, ip);
      for (const ip of ['172.32.0.1', '8.8.8.8', '2001:db8::1', 'x', '']) assert.equal(evalExpr(`'${ip}'.isPrivateIp()`), false, ip);
    });
    it('refuses misuse at load', () => {
      refused("inCidrRange('1.2.3.4')", /no matching overload/);
      refused("inCidrRanges('1.2.3.4', '10.0.0.0/8')", /no matching overload/);
      refused('(1).isPrivateIp()', /no matching overload/);
    });
  });

  describe('rand', () => {
    it('rand.double() in [0, 1); rand.int() in {0, 1}; rand.int(min, max) inclusive', () => {
      for (let i = 0; i < 200; i++) {
        const d = evalExpr('rand.double()') as number;
        assert.ok(typeof d === 'number' && d >= 0 && d < 1);
        const b = evalExpr('rand.int()') as bigint;
        assert.ok(b === 0n || b === 1n);
        const n = evalExpr('rand.int(5, 7)') as bigint;
        assert.ok(n >= 5n && n <= 7n);
      }
      assert.equal(evalExpr('rand.int(3, 3)'), 3n);
      assert.equal(evalExpr('rand.double() <= 1.0'), true);
    });
    it('errors on min > max; refuses misuse at load', () => {
      evalError('rand.int(5, 1) == 0', /greater than max/);
      refused('rand.double(1)', /no matching overload/);
      refused("rand.int('a', 2)", /no matching overload/);
      refused('rand.int(1)', /no matching overload/);
    });
  });

  describe('encoding', () => {
    it('base64: decode gives bytes, decodeBase64 text; standard alphabet, padded', () => {
      assert.equal(evalExpr("base64.encode('héllo')"), 'aMOpbGxv');
      assert.equal(evalExpr("base64.encode(b'hello')"), 'aGVsbG8=');
      assert.deepEqual(evalExpr("base64.decode('aGVsbG8=')"), new Uint8Array(Buffer.from('hello')));
      assert.equal(evalExpr("base64.decode('aGVsbG8=') == b'hello' && size(base64.decode('aMOpbGxv')) == 6"), true);
      assert.equal(evalExpr("string(base64.decode('aMOpbGxv'))"), 'héllo');
      assert.equal(evalExpr("base64.encode(base64.decode('/w==')) == '/w=='"), true);
      assert.equal(evalExpr("size(base64.decode(''))"), 0n);
      assert.equal(evalExpr("'some:thing'.encodeBase64()"), 'c29tZTp0aGluZw==');
      assert.equal(evalExpr("'c29tZTp0aGluZw=='.decodeBase64()"), 'some:thing');
      assert.equal(evalExpr("'hi?>'.encodeBase64()"), 'aGk/Pg==');
      assert.equal(evalExpr("'aGk/\\r\\nPg=='.decodeBase64()"), 'hi?>');
      evalError("base64.decode('aGVsbG8') == b''", /not valid base64/);
      evalError("base64.decode('not base64!') == b''", /not valid base64/);
      evalError("'aGk_Pg=='.decodeBase64() == ''", /not valid base64/);
      evalError("'aGVsbG8'.decodeBase64() == ''", /not valid base64/);
      refused('base64.encode(1)', /no matching overload/);
      refused("base64.decode('aGVsbG8=') == 'hello'", /no such overload|no matching overload/);
      refused("base64.decode('aGVsbG8=').startsWith('h')", /no matching overload/);
    });
    it('json', () => {
      assert.equal(evalExpr("json.encode({'a': [1, 2.5, 'x', true, null]})"), '{"a":[1,2.5,"x",true,null]}');
      assert.equal(evalExpr("{'k': 'v'}.encodeJson()"), '{"k":"v"}');
      assert.equal(evalExpr('[1, 2].encodeJson()'), '[1,2]');
      assert.equal(evalExpr('json.encode(req.url.path)'), '"/"');
      assert.equal(evalExpr(`json.decode('{"a": {"b": [1, 2]}}').a.b[1] == 2.0`), true);
      assert.equal(evalExpr(`'{"user": "ann"}'.decodeJson().user`), 'ann');
      evalError("json.decode('{') == null", /json\.decode/);
      refused('json.decode(1)', /no matching overload/);
      refused("'x'.encodeJson()", /no matching overload/);
    });
    it('url and queryString', () => {
      assert.equal(evalExpr("url.escape('a b&c=d/é*')"), 'a+b%26c%3Dd%2F%C3%A9%2A');
      assert.equal(evalExpr("url.unescape('a+b%26c')"), 'a b&c');
      assert.equal(evalExpr("'x y'.escapeUrl().unescapeUrl()"), 'x y');
      evalError("url.unescape('%zz') == ''", /invalid percent-encoding/);
      assert.equal(evalExpr("queryString.encode({'b': ['1', '2'], 'a': 'x y'})"), 'a=x+y&b=1&b=2');
      assert.equal(evalExpr("{'q': 'v'}.encodeQueryString()"), 'q=v');
      assert.deepEqual(evalExpr("queryString.decode('a=1&a=2&b=x+y')"), { a: ['1', '2'], b: ['x y'] });
      assert.equal(evalExpr("'?k=v'.decodeQueryString().k[0]"), 'v');
      refused("queryString.encode('a')", /no matching overload/);
    });
    it('basic_auth.encode gives a whole Authorization value, "Basic " included', () => {
      assert.equal(evalExpr("basic_auth.encode('username', 'password1')"), 'Basic dXNlcm5hbWU6cGFzc3dvcmQx');
      assert.equal(evalExpr("basic_auth.encode('user', 'pass')"), 'Basic dXNlcjpwYXNz');
      refused("basic_auth.encode('user')", /no matching overload/);
    });
  });

  describe('hash', () => {
    it('hex digests, namespaced and as methods', () => {
      assert.equal(evalExpr("hash.sha256('abc')"), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      assert.equal(evalExpr("'abc'.sha1()"), 'a9993e364706816aba3e25717850c26c9cd0d89d');
      assert.equal(evalExpr("hash.md5('abc')"), '900150983cd24fb0d6963f7d28e17f72');
      assert.equal((evalExpr("hash.sha512('abc')") as string).length, 128);
      assert.equal(evalExpr("hash.crc32('123456789')"), 'cbf43926');
      assert.equal(evalExpr("''.crc32()"), '00000000');
      assert.equal(evalExpr("hash.sha256(b'abc') == 'abc'.sha256()"), true);
      refused('hash.sha256(1)', /no matching overload/);
      refused("hash.whirlpool('a')", /no matching overload/);
    });
  });

  describe('strings and lists', () => {
    it('string functions', () => {
      assert.equal(evalExpr("'ÀbC'.lower() + 'ß'.upper()"), 'àbcSS');
      assert.equal(evalExpr("'a-b-c'.replace('-', '+')"), 'a+b+c');
      assert.equal(evalExpr("'a-b-c'.replace('-', '+', 1)"), 'a+b-c');
      assert.equal(evalExpr("'abc😀'.reverse()"), '😀cba');
      assert.equal(evalExpr("'abc'.charAt(1) + 'abc'.charAt(3)"), 'b');
      evalError("'abc'.charAt(4) == ''", /out of range/);
      assert.equal(evalExpr("'  x '.trim()"), 'x');
      assert.deepEqual(evalExpr("'a,b'.split(',')"), ['a', 'b']);
      refused("'a'.replace('a')", /no matching overload/);
      refused("'a'.lower(1)", /no matching overload/);
    });
    it('list functions', () => {
      assert.deepEqual(evalExpr('[3, 1, 3, 2].distinct()'), [3n, 1n, 2n]);
      assert.deepEqual(evalExpr('[3, 1, 2].sort()'), [1n, 2n, 3n]);
      assert.deepEqual(evalExpr("['b', 'a'].sort()"), ['a', 'b']);
      assert.deepEqual(evalExpr('[10, 9].sort()'), [9n, 10n]);
      assert.deepEqual(evalExpr('[1, 2, 3].reverse()'), [3n, 2n, 1n]);
      assert.deepEqual(evalExpr('[1, 2, 3].slice(1, 3)'), [2n, 3n]);
      assert.deepEqual(evalExpr('[[1], [2, 3]].flatten()'), [1n, 2n, 3n]);
      assert.equal(evalExpr("['b', 'a', 'b'].distinct().sort().join(',')"), 'a,b');
      assert.equal(evalExpr('[3, 1].sort()[0] + 1'), 2n);
      evalError('[[1], [2]].sort() == []', /sort/);
      evalError('[1, 2].slice(1, 5) == []', /out of range/);
      refused("[1].distinct('x')", /no matching overload/);
      refused("'abc'.sort()", /no matching overload/);
    });
    it('timestamp getters and time.now are available', () => {
      assert.equal(evalExpr("timestamp('2024-01-02T03:04:05Z').getHours()"), 3n);
      assert.equal(evalExpr('timestamp(time.now).getFullYear() >= 2024'), true);
    });
  });

  it('all catalog functions exist in on_tcp_connect (no req needed)', () => {
    const r = compileExpression("inCidrRange(conn.client_ip, '10.0.0.0/8') || hash.sha256(conn.client_ip).startsWith('a') || rand.double() < 0.5", 'on_tcp_connect', 'bool');
    assert.ok(r.ok, r.ok ? '' : r.message);
    refused("getReqCookie('a') == ''", /getReqCookie/, 'on_tcp_connect');
  });
});
