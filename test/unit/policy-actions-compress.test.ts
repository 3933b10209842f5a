import assert from 'node:assert/strict';
import { acceptedEncodings, negotiate } from '../../services/policy/actions/compress-response.js';
import { compilePolicy } from '../../services/policy/index.js';

describe('compress-response', () => {
  it('parses Accept-Encoding with q-values', () => {
    assert.deepEqual([...acceptedEncodings(['gzip;q=0.5, br', 'deflate;q=0'])], [['gzip', 0.5], ['br', 1], ['deflate', 0]]);
  });

  it('picks the highest q among the configured algorithms, configured order on ties, * as a default', () => {
    assert.equal(negotiate(acceptedEncodings(['gzip, br']), ['br', 'gzip']), 'br');
    assert.equal(negotiate(acceptedEncodings(['gzip, br']), ['gzip', 'br']), 'gzip');
    assert.equal(negotiate(acceptedEncodings(['gzip;q=0.2, br;q=0.9']), ['gzip', 'br']), 'br');
    assert.equal(negotiate(acceptedEncodings(['identity']), ['gzip']), undefined);
    assert.equal(negotiate(acceptedEncodings(['*;q=0.1']), ['deflate']), 'deflate');
    assert.equal(negotiate(acceptedEncodings(['gzip;q=0']), ['gzip']), undefined);
    assert.equal(negotiate(acceptedEncodings(undefined), ['gzip']), undefined);
  });

  it('refuses unknown algorithms with their path and the request phase', () => {
    const bad = compilePolicy('on_http_response:\n  - actions: [{type: compress-response, config: {algorithms: [gzip, zstd]}}]\n', { endpointType: 'agent', protocol: 'https', binding: 'public' });
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(JSON.stringify(bad.issues), /algorithms\[1\].*zstd/);
    const phase = compilePolicy('on_http_request:\n  - actions: [{type: compress-response}]\n', { endpointType: 'agent', protocol: 'https', binding: 'public' });
    assert.equal(phase.ok, false);
  });
});
