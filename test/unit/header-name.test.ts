import assert from 'node:assert/strict';
import { cachedHeaderNames, lowerHeaderName } from '../../services/core/header-name.js';
import { headerMapOf } from '../../services/edge/forward/exchange.js';

/** A string built at run time, as the HTTP parser hands header names over (not a literal). */
const fresh = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');

describe('header names', () => {
  it('lower-cases every spelling of a name, the first time and from the cache', () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(lowerHeaderName(fresh('Content-Type')), 'content-type');
      assert.equal(lowerHeaderName(fresh('CONTENT-TYPE')), 'content-type');
      assert.equal(lowerHeaderName(fresh('x-already-lower')), 'x-already-lower');
    }
  });

  it('stops caching at its bound and still answers correctly past it', () => {
    for (let i = 0; i < 5000; i++) assert.equal(lowerHeaderName(fresh(`X-Made-Up-${i}`)), `x-made-up-${i}`);
    assert.ok(cachedHeaderNames() <= 2048, `cache holds ${cachedHeaderNames()} names`);
    assert.equal(lowerHeaderName(fresh('X-Seen-After-Full')), 'x-seen-after-full');
    assert.equal(lowerHeaderName(fresh('Content-Type')), 'content-type');
  });

  it('builds the header map with lower-case names, repeats kept, pseudo-headers skipped, no prototype keys', () => {
    const h = headerMapOf([':authority', 'a.test', fresh('Accept'), 'text/html', fresh('ACCEPT'), '*/*', fresh('__proto__'), 'x', fresh('Constructor'), 'y']);
    assert.deepEqual(Object.keys(h).sort(), ['__proto__', 'accept', 'constructor']);
    assert.deepEqual(h['accept'], ['text/html', '*/*']);
    assert.deepEqual(h['__proto__'], ['x']);
    assert.equal(Object.getPrototypeOf(h), null);
    assert.equal(h[':authority'], undefined);
  });
});
