/**
 * hash.crc64 / hash.xxhash64 (and the hex/base64 format argument of every hash function).
 * Vectors: ngrok's documented examples ('hello'), the CRC catalogue check value of CRC-64/GO-ISO
 * ("123456789"), and XXH64 values published with the reference implementation and python-xxhash;
 * plus a cross-check of every input length 0..200 against straightforward BigInt versions of
 * both algorithms written from their definitions (covering every tail path of XXH64).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isCelError } from '../../services/policy/cel/index.js';
import { crc64, xxh64 } from '../../services/policy/cel/hash-64.js';
import { evalExpr, refused } from './policy-fixtures.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---- reference versions, bit by bit / BigInt, from the definitions ----
const M64 = (1n << 64n) - 1n;
function crc64Reference(data: Uint8Array): bigint {
  let crc = M64;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ 0xd800000000000000n : crc >> 1n;
  }
  return crc ^ M64;
}
const P = [0x9e3779b185ebca87n, 0xc2b2ae3d27d4eb4fn, 0x165667b19e3779f9n, 0x85ebca77c2b2ae63n, 0x27d4eb2f165667c5n];
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64;
const le = (b: Uint8Array, p: number, n: number): bigint => {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]);
  return v;
};
const rnd = (acc: bigint, input: bigint): bigint => (rotl((acc + input * P[1]) & M64, 31n) * P[0]) & M64;
function xxh64Reference(b: Uint8Array): bigint {
  let p = 0;
  let h: bigint;
  if (b.length >= 32) {
    const v = [(P[0] + P[1]) & M64, P[1], 0n, (0n - P[0]) & M64];
    while (p + 32 <= b.length) {
      for (let i = 0; i < 4; i++, p += 8) v[i] = rnd(v[i], le(b, p, 8));
    }
    h = (rotl(v[0], 1n) + rotl(v[1], 7n) + rotl(v[2], 12n) + rotl(v[3], 18n)) & M64;
    for (const x of v) h = (((h ^ rnd(0n, x)) * P[0]) & M64) + P[3] & M64;
  } else {
    h = P[4];
  }
  h = (h + BigInt(b.length)) & M64;
  for (; p + 8 <= b.length; p += 8) h = ((rotl(h ^ rnd(0n, le(b, p, 8)), 27n) * P[0]) & M64) + P[3] & M64;
  if (p + 4 <= b.length) {
    h = ((rotl(h ^ ((le(b, p, 4) * P[0]) & M64), 23n) * P[1]) & M64) + P[2] & M64;
    p += 4;
  }
  for (; p < b.length; p++) h = (rotl(h ^ ((BigInt(b[p]) * P[4]) & M64), 11n) * P[0]) & M64;
  h ^= h >> 33n;
  h = (h * P[1]) & M64;
  h ^= h >> 29n;
  h = (h * P[2]) & M64;
  return h ^ (h >> 32n);
}

describe('64-bit hashes (hash.crc64, hash.xxhash64)', () => {
  it('matches the published vectors', () => {
    assert.equal(hex(crc64(utf8('hello'))), '3c3eeee2d8100000');
    assert.equal(hex(crc64(utf8('123456789'))), 'b90956c775a41001');
    assert.equal(hex(crc64(utf8(''))), '0000000000000000');
    assert.equal(hex(xxh64(utf8(''))), 'ef46db3751d8e999');
    assert.equal(hex(xxh64(utf8('a'))), 'd24ec4f1a98c6e5b');
    assert.equal(hex(xxh64(utf8('abc'))), '44bc2cf5ad770999');
    assert.equal(hex(xxh64(utf8('hello'))), '26c7827d889f6da3');
    assert.equal(hex(xxh64(utf8('Nobody inspects the spammish repetition'))), 'fbcea83c8a378bf1');
  });

  it('agrees with the BigInt definitions for every length from 0 to 200', () => {
    const data = randomBytes(200);
    for (let n = 0; n <= 200; n++) {
      const b = data.subarray(0, n);
      assert.equal(hex(crc64(b)), crc64Reference(b).toString(16).padStart(16, '0'), `crc64, length ${n}`);
      assert.equal(hex(xxh64(b)), xxh64Reference(b).toString(16).padStart(16, '0'), `xxh64, length ${n}`);
    }
    const all1 = new Uint8Array(64).fill(0xff);
    assert.equal(hex(xxh64(all1)), xxh64Reference(all1).toString(16).padStart(16, '0'));
  });

  it('answers ngrok\'s documented examples in CEL, namespaced and as methods, hex and base64', () => {
    assert.equal(evalExpr("hash.crc64('hello')"), '3c3eeee2d8100000');
    assert.equal(evalExpr("hash.crc64('hello', 'hex')"), '3c3eeee2d8100000');
    assert.equal(evalExpr("hash.crc64('hello', 'base64')"), 'PD7u4tgQAAA=');
    assert.equal(evalExpr("'hello'.crc64()"), '3c3eeee2d8100000');
    assert.equal(evalExpr("'hello'.crc64('base64')"), 'PD7u4tgQAAA=');
    assert.equal(evalExpr("hash.xxhash64('hello')"), '26c7827d889f6da3');
    assert.equal(evalExpr("hash.xxhash64('hello', 'base64')"), 'JseCfYifbaM=');
    assert.equal(evalExpr("'hello'.xxhash64('hex')"), '26c7827d889f6da3');
    assert.equal(evalExpr("hash.xxhash64(b'hello') == 'hello'.xxhash64()"), true);
    assert.equal(evalExpr("hash.crc64(b'hello', 'base64')"), 'PD7u4tgQAAA=');
  });

  it('gives every hash function the format argument (ngrok\'s documented base64 values)', () => {
    assert.equal(evalExpr("hash.crc32('hello', 'base64')"), 'NhCmhg==');
    assert.equal(evalExpr("'hello'.crc32('hex')"), '3610a686');
    assert.equal(evalExpr("hash.md5('hello', 'base64')"), 'XUFAKrxLKna5cZ2REBfFkg==');
    assert.equal(evalExpr("'hello'.sha1('base64')"), 'qvTGHdzF6KLavt4PO0gs2a6pQ00=');
    assert.equal(evalExpr("hash.sha256('hello', 'base64')"), 'LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=');
    assert.equal(
      evalExpr("'hello'.sha512('base64')"),
      'm3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==',
    );
  });

  it('refuses a literal format other than hex or base64 at load, and a computed one per request', () => {
    refused("hash.crc64('hello', 'HEX')", /hash\.crc64: format must be 'hex' or 'base64', got 'HEX' \(column 21\)/);
    refused("'x'.xxhash64('b64') == ''", /hash\.xxhash64: format must be 'hex' or 'base64', got 'b64'/);
    refused('hash.crc64(1)', /no matching overload/);
    refused("hash.xxhash64('a', 'hex', 'x')", /no matching overload/);
    assert.throws(
      () => evalExpr("hash.sha256('x', req.method.lowerAscii())"),
      (e: unknown) => isCelError(e) && /hash\.sha256: format must be 'hex' or 'base64', got 'get'/.test((e as Error).message),
    );
  });
});
