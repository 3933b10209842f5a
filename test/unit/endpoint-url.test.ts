import assert from 'node:assert/strict';
import { hostCandidates, parseEndpointUrl, poolKey } from '../../services/core/endpoint-url.js';
import { MeshgateError } from '../../services/core/errors.js';

describe('endpoint URLs', () => {
  it('defaults the scheme to https and infers the internal binding from .internal', () => {
    const u = parseEndpointUrl('foo.internal');
    assert.equal(u.url, 'https://foo.internal');
    assert.equal(u.binding, 'internal');
    assert.equal(u.port, 443);
    assert.equal(parseEndpointUrl('http://API.Example.com').url, 'http://api.example.com');
    assert.equal(parseEndpointUrl('https://api.example.com').binding, 'public');
  });

  it('keeps non-default ports of internal endpoints in the canonical URL', () => {
    assert.equal(parseEndpointUrl('https://foo.internal:8443').url, 'https://foo.internal:8443');
    assert.equal(parseEndpointUrl('https://foo.internal:443').url, 'https://foo.internal');
  });

  const rejects = (raw: string, re: RegExp, code = 'MG_ENDPOINT_URL_INVALID', binding?: string) => {
    assert.throws(() => parseEndpointUrl(raw, '--url', binding), (e: unknown) => e instanceof MeshgateError && e.code === code && e.field === (code === 'MG_BINDING_INVALID' ? 'binding' : '--url') && re.test(e.message));
  };

  it('rejects paths, bad schemes, bad wildcards, bad ports and single-label hosts, naming the field', () => {
    rejects('https://foo.internal/x', /no path/);
    rejects('ftp://foo.internal', /unknown scheme 'ftp'/);
    rejects('tcp://db.internal', /tcp endpoints need a port/);
    rejects('https://a.*.example.com', /first label/);
    rejects('https://*-a.example.com', /first label/);
    rejects('https://foo.internal:70000', /out of range/);
    rejects('https://api.example.com:8443', /public https endpoints use port 443/);
    rejects('https://localhost', /two labels/);
    rejects('', /empty/);
    rejects('https://-bad.example.com', /not a valid DNS label/);
  });

  it('checks an explicit binding against the host', () => {
    rejects('https://api.example.com', /need a host ending in \.internal/, 'MG_BINDING_INVALID', 'internal');
    rejects('https://foo.internal', /always internal/, 'MG_BINDING_INVALID', 'public');
    rejects('https://foo.internal', /not a binding/, 'MG_BINDING_INVALID', 'kubernetes');
  });

  it('accepts wildcard hosts and marks them', () => {
    const u = parseEndpointUrl('https://*.example.com');
    assert.equal(u.wildcard, true);
    assert.equal(u.host, '*.example.com');
  });

  it('puts http and https on the same host in different pools, but same host and port in one', () => {
    const a = parseEndpointUrl('http://foo.internal');
    const b = parseEndpointUrl('https://foo.internal');
    const c = parseEndpointUrl('http://foo.internal:443');
    assert.notEqual(poolKey(a), poolKey(b));
    assert.equal(poolKey(b), poolKey(c));
  });

  it('lists the exact host first, then wildcard parents from the most specific', () => {
    assert.deepEqual(hostCandidates('a.b.example.com'), ['a.b.example.com', '*.b.example.com', '*.example.com', '*.com']);
    assert.deepEqual(hostCandidates('localhost'), ['localhost']);
  });
});
