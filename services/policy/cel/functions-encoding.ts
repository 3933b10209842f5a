/**
 * ngrok's encoding functions.
 *
 *   base64.encode(bytes|string): string      string.encodeBase64(): string      (standard alphabet, padded;
 *                                            ngrok documents bytes, strings are encoded as UTF-8)
 *   base64.decode(string): bytes             string.decodeBase64(): string      (the same decoding, the
 *                                            second as UTF-8 text. Go's StdEncoding like ngrok: standard
 *                                            alphabet, padding required, CR and LF ignored; anything else,
 *                                            `base64.decode('aGVsbG8')` too, is an evaluation error)
 *   json.encode(dyn): string                 list.encodeJson() / map.encodeJson(): string
 *   json.decode(string): dyn                 string.decodeJson(): dyn           (numbers become doubles,
 *                                            as in cel-go; invalid JSON is an evaluation error)
 *   string.isJson(): bool                    json.decode would succeed (any JSON value, scalars too)
 *   url.escape(string) / url.unescape(string), string.escapeUrl() / string.unescapeUrl()
 *                                            (Go's url.QueryEscape: space → '+', only A-Z a-z 0-9 - _ . ~ kept)
 *   queryString.encode(map): string          map.encodeQueryString(): string    (keys sorted; a value may be
 *                                            a string or a list of strings; other scalars are stringified)
 *   queryString.decode(string): map<string, list<string>>, string.decodeQueryString()
 *   string.isQueryString(): bool             see isQueryString below
 *   basic_auth.encode(user, password): string   `Basic ` + base64 of `user:password`: a whole
 *                                            Authorization header value, as ngrok documents it
 *
 *   url.parse(string|req.url), string.parseUrl(), string.isURL(): see functions-url.ts
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { registerUrlFunctions } from './functions-url.js';
import { celFail, registerNamespace } from './namespace.js';
import { celToJson, celToString } from './values.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function base64Encode(v: string | Uint8Array): string {
  return (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength)).toString('base64');
}

/** RFC 4648 §4 with padding: whole 4-character groups, the last one padded with = or ==. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard, padded base64 (line breaks ignored); anything else is an evaluation error. */
export function base64Decode(s: string): Uint8Array {
  const t = s.includes('\n') || s.includes('\r') ? s.replace(/[\r\n]/g, '') : s;
  if (!BASE64.test(t)) celFail('base64.decode: input is not valid base64 (standard alphabet, padded)');
  const b = Buffer.from(t, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function base64DecodeText(s: string): string {
  return utf8.decode(base64Decode(s));
}

export function jsonEncode(v: unknown): string {
  return JSON.stringify(celToJson(v)) ?? 'null';
}

export function jsonDecode(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch (e) {
    return celFail(`json.decode: ${(e as Error).message}`);
  }
}

export function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export function urlEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

export function urlUnescape(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return celFail('url.unescape: invalid percent-encoding');
  }
}

export function queryEncode(m: unknown): string {
  const entries: [string, unknown][] = m instanceof Map ? [...m].map(([k, v]) => [String(k), v]) : Object.entries(m as object);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const parts: string[] = [];
  for (const [k, v] of entries) {
    const values = Array.isArray(v) ? v : [v];
    for (const x of values) parts.push(`${urlEscape(k)}=${urlEscape(celToString(x))}`);
  }
  return parts.join('&');
}

export function queryDecode(s: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const q = s.startsWith('?') ? s.slice(1) : s;
  if (q === '') return out;
  for (const [k, v] of new URLSearchParams(q)) {
    if (Object.prototype.hasOwnProperty.call(out, k)) out[k].push(v);
    else Object.defineProperty(out, k, { value: [v], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * ngrok documents only `'a=b&c=d'` (true) and `'not a query string'` (false). meshgate's reading:
 * after one optional leading `?`, one or more `&`-separated `key=value` pairs, each with a
 * non-empty key (the value may be empty or contain `=`), none empty, no whitespace, control
 * character or `#` anywhere, and every `%` followed by two hex digits. Other punctuation that
 * browsers send unescaped (`[`, `]`, `|`, `"`) is accepted.
 */
const BAD_QUERY_CHAR = /[\s#\x00-\x1f\x7f]|%(?![0-9A-Fa-f]{2})/;

export function isQueryString(s: string): boolean {
  const q = s.startsWith('?') ? s.slice(1) : s;
  if (q === '' || BAD_QUERY_CHAR.test(q)) return false;
  return q.split('&').every((pair) => pair.indexOf('=') > 0);
}

export function registerEncodingFunctions(env: CelEnvironment): void {
  const b64 = registerNamespace(env, 'base64', 'Base64Ns');
  env.registerFunction(`${b64}.encode(string): string`, (_: unknown, s: string) => base64Encode(s), { description: 'Base64 (standard, padded) of the UTF-8 string' });
  env.registerFunction(`${b64}.encode(bytes): string`, (_: unknown, b: Uint8Array) => base64Encode(b), { description: 'Base64 (standard, padded) of the bytes' });
  env.registerFunction(`${b64}.decode(string): bytes`, (_: unknown, s: string) => base64Decode(s), { description: 'Decodes base64 (standard, padded) to bytes' });
  env.registerFunction('string.encodeBase64(): string', base64Encode, { description: 'Base64 (standard, padded) of the UTF-8 string' });
  env.registerFunction('string.decodeBase64(): string', base64DecodeText, { description: 'Decodes base64 (standard, padded) to UTF-8 text' });

  const json = registerNamespace(env, 'json', 'JsonNs');
  env.registerFunction(`${json}.encode(dyn): string`, (_: unknown, v: unknown) => jsonEncode(v), { description: 'The value as JSON' });
  env.registerFunction(`${json}.decode(string): dyn`, (_: unknown, s: string) => jsonDecode(s), { description: 'Parses JSON; numbers become doubles' });
  env.registerFunction('string.decodeJson(): dyn', jsonDecode, { description: 'Parses JSON; numbers become doubles' });
  env.registerFunction('list.encodeJson(): string', jsonEncode, { description: 'The list as JSON' });
  env.registerFunction('map.encodeJson(): string', jsonEncode, { description: 'The map as JSON' });
  env.registerFunction('string.isJson(): bool', isJson, { description: 'Whether the string is valid JSON' });

  const url = registerNamespace(env, 'url', 'UrlNs');
  env.registerFunction(`${url}.escape(string): string`, (_: unknown, s: string) => urlEscape(s), { description: 'Query-escapes the string (space → +)' });
  env.registerFunction(`${url}.unescape(string): string`, (_: unknown, s: string) => urlUnescape(s), { description: 'Reverses url.escape' });
  env.registerFunction('string.escapeUrl(): string', urlEscape, { description: 'Query-escapes the string (space → +)' });
  env.registerFunction('string.unescapeUrl(): string', urlUnescape, { description: 'Reverses escapeUrl' });
  registerUrlFunctions(env, url);

  const qs = registerNamespace(env, 'queryString', 'QueryStringNs');
  env.registerFunction(`${qs}.encode(map): string`, (_: unknown, m: unknown) => queryEncode(m), { description: 'Encodes a map as a query string (keys sorted)' });
  env.registerFunction(`${qs}.decode(string): map<string, list<string>>`, (_: unknown, s: string) => queryDecode(s), { description: 'Parses a query string' });
  env.registerFunction('map.encodeQueryString(): string', queryEncode, { description: 'Encodes a map as a query string (keys sorted)' });
  env.registerFunction('string.decodeQueryString(): map<string, list<string>>', queryDecode, { description: 'Parses a query string' });
  env.registerFunction('string.isQueryString(): bool', isQueryString, { description: 'Whether the string is key=value pairs joined by &' });

  const ba = registerNamespace(env, 'basic_auth', 'BasicAuthNs');
  env.registerFunction(`${ba}.encode(string, string): string`, (_: unknown, u: string, p: string) => `Basic ${base64Encode(`${u}:${p}`)}`, {
    description: '"Basic " + base64("user:password"): an Authorization header value',
  });
}
