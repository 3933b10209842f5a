/**
 * `url.parse(s)` / `s.parseUrl()` → the parts of a URL, and `s.isURL()`.
 *
 * ngrok returns "a net/url URL map": parsing follows Go's `url.Parse` (lenient: a relative
 * reference such as `/a?b` parses too; no normalisation, no default ports), not WHATWG's. The
 * result is a typed object, so a misspelt field is refused at load:
 *
 *   scheme        lower-cased, '' for a relative reference
 *   opaque        what follows `scheme:` when it is not `//` or `/` (`mailto:ann@example.com`)
 *   user, password  from `user:password@` (percent-decoded), '' when absent
 *   host          host[:port] as written after `//` (Go's Host); IPv6 in brackets
 *   hostname      host without port and brackets; port: int, 0 when absent
 *   path          percent-decoded; raw_path: as written
 *   query         the raw query without `?` (= raw_query, Go's name); query_params: name → values
 *   fragment      percent-decoded, without `#`
 *
 * Errors (evaluation errors) as Go reports them: a control character, a missing scheme before
 * `:` (`://x`), a colon in the first segment of a relative path, a bad port, a bad character in
 * the host, a bad percent-escape. `isURL()` is true for a string that parses with a scheme and a
 * host. Interpolated (`${url.parse(x)}`), the object reads as the URL it was parsed from.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { CelUrl } from './eval-context.js';
import { celFail } from './namespace.js';

/** One parsed URL (`url.parse(...)`). Field names are CEL's; immutable. */
export class CelParsedUrl {
  readonly scheme: string;
  readonly opaque: string;
  readonly user: string;
  readonly password: string;
  readonly host: string;
  readonly hostname: string;
  readonly port: bigint;
  readonly path: string;
  readonly raw_path: string;
  readonly query: string;
  readonly raw_query: string;
  readonly fragment: string;
  readonly #raw: string;
  #params: Record<string, string[]> | undefined;

  constructor(raw: string, p: ParsedParts) {
    this.#raw = raw;
    this.scheme = p.scheme;
    this.opaque = p.opaque;
    this.user = p.user;
    this.password = p.password;
    this.host = p.host;
    this.hostname = p.hostname;
    this.port = BigInt(p.port);
    this.path = p.path;
    this.raw_path = p.rawPath;
    this.query = p.query;
    this.raw_query = p.query;
    this.fragment = p.fragment;
  }

  /** Parsed on first use. */
  get query_params(): Record<string, string[]> {
    if (this.#params !== undefined) return this.#params;
    const out: Record<string, string[]> = Object.create(null);
    if (this.query !== '') {
      for (const [k, v] of new URLSearchParams(this.query)) (out[k] ??= []).push(v);
    }
    return (this.#params = out);
  }

  toString(): string {
    return this.#raw;
  }
}

/** Field types for registerType (environment.ts). */
export const PARSED_URL_FIELDS: Readonly<Record<string, string>> = {
  scheme: 'string',
  opaque: 'string',
  user: 'string',
  password: 'string',
  host: 'string',
  hostname: 'string',
  port: 'int',
  path: 'string',
  raw_path: 'string',
  query: 'string',
  raw_query: 'string',
  query_params: 'map<string, list<string>>',
  fragment: 'string',
};

interface ParsedParts {
  scheme: string;
  opaque: string;
  user: string;
  password: string;
  host: string;
  hostname: string;
  port: number;
  path: string;
  rawPath: string;
  query: string;
  fragment: string;
}

export type UrlParseResult = { ok: true; url: CelParsedUrl } | { ok: false; message: string };

/** Go's url.Parse, re-implemented. Never throws. */
export function parseUrl(raw: string): UrlParseResult {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return { ok: false, message: 'invalid control character in URL' };
  }
  const p: ParsedParts = { scheme: '', opaque: '', user: '', password: '', host: '', hostname: '', port: 0, path: '', rawPath: '', query: '', fragment: '' };
  let rest = raw;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    const frag = unescape(rest.slice(hash + 1), 'fragment');
    if (frag === undefined) return badEscape(rest.slice(hash + 1));
    p.fragment = frag;
    rest = rest.slice(0, hash);
  }
  // scheme: a letter, then letters, digits, + - . up to ':'
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+.-]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ':') {
      if (i === 0) return { ok: false, message: 'missing protocol scheme' };
      p.scheme = rest.slice(0, i).toLowerCase();
      rest = rest.slice(i + 1);
    }
    break;
  }
  const q = rest.indexOf('?');
  if (q >= 0) {
    p.query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (!rest.startsWith('/')) {
    if (p.scheme !== '') {
      p.opaque = rest;
      return { ok: true, url: new CelParsedUrl(raw, p) };
    }
    const slash = rest.indexOf('/');
    if ((slash < 0 ? rest : rest.slice(0, slash)).includes(':')) return { ok: false, message: 'first path segment in URL cannot contain colon' };
  }
  if (rest.startsWith('//') && (p.scheme !== '' || !rest.startsWith('///'))) {
    const end = rest.indexOf('/', 2);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, end);
    rest = end < 0 ? '' : rest.slice(end);
    const problem = parseAuthority(authority, p);
    if (problem) return { ok: false, message: problem };
  }
  const path = unescape(rest, 'path');
  if (path === undefined) return badEscape(rest);
  p.path = path;
  p.rawPath = rest;
  return { ok: true, url: new CelParsedUrl(raw, p) };
}

function badEscape(s: string): { ok: false; message: string } {
  const m = /%(?![0-9A-Fa-f]{2}).{0,2}/.exec(s);
  return { ok: false, message: `invalid URL escape "${m?.[0] ?? '%'}"` };
}

function parseAuthority(authority: string, p: ParsedParts): string | undefined {
  const at = authority.lastIndexOf('@');
  let host = authority;
  if (at >= 0) {
    const info = authority.slice(0, at);
    host = authority.slice(at + 1);
    if (!/^[A-Za-z0-9\-._~!$&'()*+,;=:%@]*$/.test(info)) return 'net/url: invalid userinfo';
    const colon = info.indexOf(':');
    const user = unescape(colon < 0 ? info : info.slice(0, colon), 'userinfo');
    const password = colon < 0 ? '' : unescape(info.slice(colon + 1), 'userinfo');
    if (user === undefined || password === undefined) return badEscape(info).message;
    p.user = user;
    p.password = password;
  }
  let hostname: string;
  let portText = '';
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return "missing ']' in host";
    const after = host.slice(close + 1);
    if (after !== '' && !/^:[0-9]*$/.test(after)) return `invalid port "${after}" after host`;
    hostname = host.slice(1, close);
    portText = after.slice(1);
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      const after = host.slice(colon);
      if (!/^:[0-9]*$/.test(after)) return `invalid port "${after}" after host`;
      portText = after.slice(1);
      hostname = host.slice(0, colon);
    } else {
      hostname = host;
    }
    // Go: letters, digits, the sub-delims and - . _ ~, percent-escapes of non-ASCII bytes, and any non-ASCII
    for (const ch of hostname) {
      if (ch.charCodeAt(0) < 0x80 && !/[A-Za-z0-9\-._~!$&'()*+,;="<>%]/.test(ch)) return `invalid character "${ch}" in host name`;
    }
  }
  const decoded = unescape(hostname, 'host');
  if (decoded === undefined) return badEscape(hostname).message;
  const port = portText === '' ? 0 : Number(portText);
  if (port > 65535) return `invalid port ":${portText}" after host`;
  p.host = host;
  p.hostname = decoded;
  p.port = port;
  return undefined;
}

/**
 * Percent-decoding as Go's unescape: every `%` must start two hex digits; `+` stays `+`. In a
 * host only non-ASCII bytes and `%25` may be escaped. Undefined when the input is malformed.
 * Bytes are read as UTF-8 (invalid sequences become U+FFFD).
 */
function unescape(s: string, mode: 'path' | 'fragment' | 'userinfo' | 'host'): string | undefined {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      const b = parseInt(hex, 16);
      if (mode === 'host' && b < 0x80 && hex !== '25') return undefined;
      bytes.push(b);
      i += 2;
    } else {
      for (const b of Buffer.from(s[i] + (c >= 0xd800 && c < 0xdc00 ? s[++i] ?? '' : ''), 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseOrFail(fn: string, s: string): CelParsedUrl {
  const r = parseUrl(s);
  if (!r.ok) return celFail(`${fn}: ${JSON.stringify(s.length > 200 ? s.slice(0, 200) + '…' : s)} is not a valid URL: ${r.message}`);
  return r.url;
}

/** True for an absolute URL: it parses, with a scheme and a host. */
export function isUrl(s: string): boolean {
  const r = parseUrl(s);
  return r.ok && r.url.scheme !== '' && r.url.host !== '';
}

/** Registers the parsing functions on the `url` namespace (type `urlNs`, from functions-encoding.ts). */
export function registerUrlFunctions(env: CelEnvironment, urlNs: string): void {
  const description = "The URL's parts: scheme, user, password, host, hostname, port, path, query, query_params, fragment, ...";
  env.registerFunction(`${urlNs}.parse(string): ParsedUrl`, (_: unknown, s: string) => parseOrFail('url.parse', s), { description });
  env.registerFunction(`${urlNs}.parse(Url): ParsedUrl`, (_: unknown, u: CelUrl) => parseOrFail('url.parse', u.raw), { description: 'req.url, parsed' });
  env.registerFunction('string.parseUrl(): ParsedUrl', (s: string) => parseOrFail('parseUrl', s), { description });
  env.registerFunction('string.isURL(): bool', isUrl, { description: 'Whether the string is an absolute URL (scheme and host)' });
}
