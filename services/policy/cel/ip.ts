/**
 * IP address and CIDR matching for `inCidrRange`, `inCidrRanges` and `string.isPrivateIp()`.
 *
 * Every address is handled as 128 bits (four uint32 words); an IPv4 address is its IPv4-mapped
 * IPv6 form `::ffff:a.b.c.d`, and an IPv4 CIDR `/p` is the mapped prefix `/96+p`. So
 * `inCidrRange('::ffff:10.1.2.3', '10.0.0.0/8')` is true, like Go's net package.
 *
 * Parsing an address writes into one module-level scratch buffer: a check allocates nothing.
 * (node:net BlockList was measured at ~1 µs per check; this is well under 100 ns for IPv4.)
 * Parsed CIDRs are immutable and cached by their source string (bounded).
 */

/** A parsed CIDR: the network (already masked) and the prefix length, both in 128-bit space. */
export interface Cidr {
  readonly words: Uint32Array;
  readonly prefix: number;
}

const scratch = new Uint32Array(4);
const groups = new Uint16Array(8);

/** Parses a dotted-quad IPv4 address into a uint32, or -1. Leading zeros are refused (as Go does). */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Parses an IPv6 address (with `::`, an embedded IPv4 tail and an optional `%zone`) into `groups`. */
function parseV6(s: string): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  if (end < 2) return false;
  let n = 0; // groups written
  let gap = -1; // index in groups where '::' is
  let i = 0;
  if (s.charCodeAt(0) === 58 /* : */) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
    if (i === end) {
      groups.fill(0);
      return true;
    }
  }
  while (i < end) {
    if (n === 8) return false;
    // one group: up to 4 hex digits, or an IPv4 tail
    let j = i;
    let v = 0;
    while (j < end) {
      const c = s.charCodeAt(j);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      v = v * 16 + d;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 46 /* . */) {
      if (n > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (j === i || j - i > 4) return false;
    groups[n++] = v;
    i = j;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0) return n === 8;
  if (n === 8) return false;
  const tail = n - gap;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k];
  for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/**
 * Parses an IPv4 or IPv6 address into `out` (128 bits). Returns 4 or 6 for the textual family,
 * 0 when `s` is not an address.
 */
export function parseIp(s: string, out: Uint32Array = scratch): 0 | 4 | 6 {
  if (s.indexOf(':') < 0) {
    const v4 = parseV4(s, 0, s.length);
    if (v4 < 0) return 0;
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return 4;
  }
  if (!parseV6(s)) return 0;
  for (let k = 0; k < 4; k++) out[k] = ((groups[2 * k] << 16) | groups[2 * k + 1]) >>> 0;
  return 6;
}

function maskWord(prefix: number, k: number): number {
  const bits = Math.max(0, Math.min(32, prefix - 32 * k));
  return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses `a.b.c.d/p` or `x::y/p` (a bare address means a single host). undefined when invalid. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const words = new Uint32Array(4);
  const family = parseIp(addr.trim(), words);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1).trim();
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  if (family === 4) prefix += 96;
  for (let k = 0; k < 4; k++) words[k] = (words[k] & maskWord(prefix, k)) >>> 0;
  return { words, prefix };
}

/** Whether the address last parsed into `ip` lies in `cidr`. */
export function contains(cidr: Cidr, ip: Uint32Array = scratch): boolean {
  for (let k = 0; k < 4; k++) {
    const m = maskWord(cidr.prefix, k);
    if (m === 0) return true;
    if (((ip[k] & m) >>> 0) !== cidr.words[k]) return false;
  }
  return true;
}

const CACHE_LIMIT = 512;
const cidrCache = new Map<string, Cidr | null>();

/** `parseCidr` memoised by source string; the cache is cleared when it reaches 512 entries. */
export function cachedCidr(s: string): Cidr | undefined {
  let c = cidrCache.get(s);
  if (c === undefined) {
    c = parseCidr(s) ?? null;
    if (cidrCache.size >= CACHE_LIMIT) cidrCache.clear();
    cidrCache.set(s, c);
  }
  return c ?? undefined;
}

/** True when `ip` is a valid address inside `cidr`; false for an invalid address or CIDR. */
export function inCidrRange(ip: string, cidr: string): boolean {
  const c = cachedCidr(cidr);
  if (c === undefined) return false;
  return parseIp(ip) !== 0 && contains(c);
}

interface ListEntry {
  readonly source: readonly unknown[];
  readonly parsed: readonly Cidr[];
}
const listCache = new WeakMap<readonly unknown[], ListEntry>();

/**
 * The valid CIDRs of a list, invalid entries dropped; memoised per list object (checked against a
 * copy of its elements, so a list changed in place is re-parsed).
 */
function cidrList(list: readonly unknown[]): readonly Cidr[] {
  const hit = listCache.get(list);
  if (hit !== undefined && hit.source.length === list.length && hit.source.every((s, i) => s === list[i])) return hit.parsed;
  const parsed: Cidr[] = [];
  for (const s of list) {
    const c = typeof s === 'string' ? cachedCidr(s) : undefined;
    if (c !== undefined) parsed.push(c);
  }
  listCache.set(list, { source: list.slice(), parsed });
  return parsed;
}

/** True when `ip` is valid and lies in at least one valid CIDR of `list` (invalid ones ignored). */
export function inCidrRanges(ip: string, list: readonly unknown[]): boolean {
  if (list.length === 0 || parseIp(ip) === 0) return false;
  // Parse the CIDRs before reading `scratch`: cachedCidr parses into its own buffer, not scratch.
  const cidrs = cidrList(list);
  for (const c of cidrs) if (contains(c)) return true;
  return false;
}

/** Private ranges, as Go's `net.IP.IsPrivate`: RFC 1918 for IPv4 and RFC 4193 (fc00::/7) for IPv6. */
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].map((s) => parseCidr(s) as Cidr);

/** `string.isPrivateIp()`: false for an invalid address. */
export function isPrivateIp(ip: string): boolean {
  if (parseIp(ip) === 0) return false;
  for (const c of PRIVATE) if (contains(c)) return true;
  return false;
}
