/**
 * ngrok's hash functions: `hash.{md5,sha1,sha256,sha512,crc32}(x)` and the receiver forms
 * `string.{md5,...}()`. Input is a string (hashed as UTF-8) or bytes. Output is always a
 * lower-case hex string: 32/40/64/128 characters, and 8 for crc32 (IEEE, zero-padded).
 * Not implemented: crc64, xxhash64.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { createHash } from 'node:crypto';
import { registerNamespace } from './namespace.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const encoder = new TextEncoder();

export function crc32Hex(data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
}

const ALGORITHMS: Record<string, (d: string | Uint8Array) => string> = {
  md5: (d) => createHash('md5').update(d).digest('hex'),
  sha1: (d) => createHash('sha1').update(d).digest('hex'),
  sha256: (d) => createHash('sha256').update(d).digest('hex'),
  sha512: (d) => createHash('sha512').update(d).digest('hex'),
  crc32: crc32Hex,
};

export function registerHashFunctions(env: CelEnvironment): void {
  const ns = registerNamespace(env, 'hash', 'HashNs');
  for (const [name, fn] of Object.entries(ALGORITHMS)) {
    const description = `${name} of the UTF-8 string (or bytes), as lower-case hex`;
    env.registerFunction(`${ns}.${name}(string): string`, (_ns: unknown, s: string) => fn(s), { description });
    env.registerFunction(`${ns}.${name}(bytes): string`, (_ns: unknown, b: Uint8Array) => fn(b), { description });
    env.registerFunction(`string.${name}(): string`, (s: string) => fn(s), { description });
  }
}
