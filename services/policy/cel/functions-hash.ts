/**
 * ngrok's hash functions: `hash.{md5,sha1,sha256,sha512,crc32,crc64,xxhash64}(x[, format])` and
 * the receiver forms `string.{md5,...}([format])`. Input is a string (hashed as UTF-8) or bytes.
 * Output is lower-case hex by default (32/40/64/128 characters; 8 for crc32, IEEE; 16 for crc64,
 * ISO polynomial, and xxhash64, seed 0; digests big-endian), or standard padded base64 with
 * format 'base64'. Any other format is an evaluation error (a literal one is refused at load,
 * see format-guard.ts).
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { createHash } from 'node:crypto';
import { crc64, crc64Hex, xxh64, xxh64Hex } from './hash-64.js';
import { celFail, registerNamespace } from './namespace.js';

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

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

export function crc32Hex(data: string | Uint8Array): string {
  const bytes = bytesOf(data);
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
}

/** Digest output encodings ngrok accepts as the optional last argument. */
export const HASH_FORMATS: readonly string[] = ['hex', 'base64'];

type Digest = (d: string | Uint8Array, format: 'hex' | 'base64') => string;

const node = (alg: string): Digest => (d, format) => createHash(alg).update(d).digest(format);
const bytesDigest = (fn: (b: Uint8Array) => Uint8Array, hexFn: (b: Uint8Array) => string): Digest => (d, format) => {
  if (format === 'hex') return hexFn(bytesOf(d));
  const out = fn(bytesOf(d));
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString(format);
};

const ALGORITHMS: Record<string, Digest> = {
  md5: node('md5'),
  sha1: node('sha1'),
  sha256: node('sha256'),
  sha512: node('sha512'),
  crc32: (d, format) => (format === 'hex' ? crc32Hex(d) : Buffer.from(crc32Hex(d), 'hex').toString('base64')),
  crc64: bytesDigest(crc64, crc64Hex),
  xxhash64: bytesDigest(xxh64, xxh64Hex),
};

/** The names `hash.<name>` / `string.<name>()` take. */
export const HASH_NAMES: readonly string[] = Object.keys(ALGORITHMS);

function withFormat(name: string, fn: Digest): (d: string | Uint8Array, format: string) => string {
  return (d, format) => {
    if (format !== 'hex' && format !== 'base64') celFail(`hash.${name}: format must be 'hex' or 'base64', got '${format}'`);
    return fn(d, format);
  };
}

export function registerHashFunctions(env: CelEnvironment): void {
  const ns = registerNamespace(env, 'hash', 'HashNs');
  for (const [name, fn] of Object.entries(ALGORITHMS)) {
    const description = `${name} of the UTF-8 string (or bytes), as lower-case hex`;
    const formatted = withFormat(name, fn);
    const fmtDescription = `${name} of the UTF-8 string (or bytes), as 'hex' or 'base64'`;
    env.registerFunction(`${ns}.${name}(string): string`, (_ns: unknown, s: string) => fn(s, 'hex'), { description });
    env.registerFunction(`${ns}.${name}(bytes): string`, (_ns: unknown, b: Uint8Array) => fn(b, 'hex'), { description });
    env.registerFunction(`${ns}.${name}(string, string): string`, (_ns: unknown, s: string, f: string) => formatted(s, f), { description: fmtDescription });
    env.registerFunction(`${ns}.${name}(bytes, string): string`, (_ns: unknown, b: Uint8Array, f: string) => formatted(b, f), { description: fmtDescription });
    env.registerFunction(`string.${name}(): string`, (s: string) => fn(s, 'hex'), { description });
    env.registerFunction(`string.${name}(string): string`, formatted, { description: fmtDescription });
  }
}
