/**
 * The two 64-bit hashes of ngrok's catalog, written for JavaScript numbers (no BigInt on the
 * hot path): every 64-bit value is a pair of unsigned 32-bit halves (hi, lo).
 *
 * CRC-64, ISO polynomial (x^64 + x^4 + x^3 + x + 1; 0x1B, reflected 0xD800000000000000), as
 * Go's hash/crc64 with crc64.ISO, which ngrok documents: register starts at all ones, input bits
 * are taken least significant first, the result is inverted. `crc64('hello') = 3c3eeee2d8100000`
 * (ngrok's example); the catalogued check value of "123456789" is b90956c775a41001.
 *
 * XXH64 per the xxHash specification (seed 0): four accumulators over 32-byte stripes, then the
 * tail in 8-, 4- and 1-byte steps, then the avalanche. `xxh64('') = ef46db3751d8e999`.
 *
 * Both give the 8 digest bytes big-endian, the canonical form (what Go's Sum appends), as bytes or
 * as 16 hex digits.
 */

// ---------- CRC-64 (ISO) ----------

const CRC_HI = new Uint32Array(256);
const CRC_LO = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let hi = 0;
  let lo = n;
  for (let k = 0; k < 8; k++) {
    const bit = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (bit) hi = (hi ^ 0xd8000000) >>> 0;
  }
  CRC_HI[n] = hi;
  CRC_LO[n] = lo;
}

/** CRC-64/ISO of the bytes, big-endian. */
export function crc64(bytes: Uint8Array): Uint8Array {
  crc64Core(bytes);
  return bigEndian(H, L);
}

/** CRC-64/ISO of the bytes, 16 lower-case hex digits. */
export function crc64Hex(bytes: Uint8Array): string {
  crc64Core(bytes);
  return hex(H, L);
}

function crc64Core(bytes: Uint8Array): void {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    const t = (lo ^ bytes[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ CRC_LO[t];
    hi = (hi >>> 8) ^ CRC_HI[t];
  }
  H = ~hi >>> 0;
  L = ~lo >>> 0;
}

// ---------- XXH64 ----------

// The five primes of the specification, as (hi, lo).
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

// Result registers of the helpers below (no allocation per operation).
let H = 0;
let L = 0;

/** (H, L) = a + b mod 2^64. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = al + bl;
  L = lo >>> 0;
  H = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/**
 * (H, L) = a * b mod 2^64: the low word from Math.imul; the high word is the high half of
 * al * bl (16-bit limbs, every partial below 2^34) plus the two cross products mod 2^32.
 */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16;
  const b0 = bl & 0xffff, b1 = bl >>> 16;
  const t = a0 * b0;
  const m1 = a1 * b0;
  const m2 = a0 * b1;
  const carry = ((t >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)) >>> 16;
  const high = a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + carry;
  L = Math.imul(al, bl) >>> 0;
  H = (high + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (H, L) = rotl(x, r) for 0 < r < 32. */
function rotl(h: number, l: number, r: number): void {
  H = ((h << r) | (l >>> (32 - r))) >>> 0;
  L = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** (H, L) = round(acc, input) = rotl(acc + input * P2, 31) * P1. */
function round(acch: number, accl: number, inh: number, inl: number): void {
  mul(inh, inl, P2H, P2L);
  add(acch, accl, H, L);
  rotl(H, L, 31);
  mul(H, L, P1H, P1L);
}

function u32le(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** XXH64 (seed 0) of the bytes, big-endian. */
export function xxh64(b: Uint8Array): Uint8Array {
  xxh64Core(b);
  return bigEndian(H, L);
}

/** XXH64 (seed 0) of the bytes, 16 lower-case hex digits. */
export function xxh64Hex(b: Uint8Array): string {
  xxh64Core(b);
  return hex(H, L);
}

function xxh64Core(b: Uint8Array): void {
  const n = b.length;
  let p = 0;
  let hh: number;
  let hl: number;
  if (n >= 32) {
    add(P1H, P1L, P2H, P2L);
    let v1h = H, v1l = L;
    let v2h = P2H, v2l = P2L;
    let v3h = 0, v3l = 0;
    // 0 - P1 mod 2^64 = ~P1 + 1
    add(~P1H >>> 0, ~P1L >>> 0, 0, 1);
    let v4h = H, v4l = L;
    const limit = n - 32;
    do {
      round(v1h, v1l, u32le(b, p + 4), u32le(b, p));
      v1h = H; v1l = L;
      round(v2h, v2l, u32le(b, p + 12), u32le(b, p + 8));
      v2h = H; v2l = L;
      round(v3h, v3l, u32le(b, p + 20), u32le(b, p + 16));
      v3h = H; v3l = L;
      round(v4h, v4l, u32le(b, p + 28), u32le(b, p + 24));
      v4h = H; v4l = L;
      p += 32;
    } while (p <= limit);
    rotl(v1h, v1l, 1);
    hh = H; hl = L;
    rotl(v2h, v2l, 7);
    add(hh, hl, H, L);
    hh = H; hl = L;
    rotl(v3h, v3l, 12);
    add(hh, hl, H, L);
    hh = H; hl = L;
    rotl(v4h, v4l, 18);
    add(hh, hl, H, L);
    hh = H; hl = L;
    const lanes = [v1h, v1l, v2h, v2l, v3h, v3l, v4h, v4l];
    for (let i = 0; i < 8; i += 2) {
      // merge round: acc = (acc ^ round(0, v)) * P1 + P4
      round(0, 0, lanes[i], lanes[i + 1]);
      mul((hh ^ H) >>> 0, (hl ^ L) >>> 0, P1H, P1L);
      add(H, L, P4H, P4L);
      hh = H; hl = L;
    }
  } else {
    hh = P5H; hl = P5L;
  }
  add(hh, hl, Math.floor(n / 0x100000000), n >>> 0);
  hh = H; hl = L;
  for (; p + 8 <= n; p += 8) {
    round(0, 0, u32le(b, p + 4), u32le(b, p));
    rotl((hh ^ H) >>> 0, (hl ^ L) >>> 0, 27);
    mul(H, L, P1H, P1L);
    add(H, L, P4H, P4L);
    hh = H; hl = L;
  }
  if (p + 4 <= n) {
    mul(0, u32le(b, p), P1H, P1L);
    rotl((hh ^ H) >>> 0, (hl ^ L) >>> 0, 23);
    mul(H, L, P2H, P2L);
    add(H, L, P3H, P3L);
    hh = H; hl = L;
    p += 4;
  }
  for (; p < n; p++) {
    mul(0, b[p], P5H, P5L);
    rotl((hh ^ H) >>> 0, (hl ^ L) >>> 0, 11);
    mul(H, L, P1H, P1L);
    hh = H; hl = L;
  }
  // avalanche
  hl = (hl ^ (hh >>> 1)) >>> 0; // ^= h >> 33
  mul(hh, hl, P2H, P2L);
  hh = H; hl = L;
  hl = (hl ^ ((hl >>> 29) | (hh << 3))) >>> 0; // ^= h >> 29
  hh = (hh ^ (hh >>> 29)) >>> 0;
  mul(hh, hl, P3H, P3L);
  hh = H; hl = L;
  H = hh;
  L = (hl ^ hh) >>> 0; // ^= h >> 32
}

function hex(hi: number, lo: number): string {
  return (hi + 0x100000000).toString(16).slice(1) + (lo + 0x100000000).toString(16).slice(1);
}

function bigEndian(hi: number, lo: number): Uint8Array {
  const out = new Uint8Array(8);
  out[0] = hi >>> 24;
  out[1] = hi >>> 16;
  out[2] = hi >>> 8;
  out[3] = hi;
  out[4] = lo >>> 24;
  out[5] = lo >>> 16;
  out[6] = lo >>> 8;
  out[7] = lo;
  return out;
}
