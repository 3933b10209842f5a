/**
 * `jwt-validation`: require valid JWS-signed JWTs on the request (ngrok's action, reference §4).
 * Continues when every configured token is valid; answers 401 otherwise.
 *
 * Config (meshgate choices marked *):
 *   issuer.allow_list[].value    required, 1..10, `${}`; `iss` must equal one exactly.
 *   audience.allow_list[].value  optional, 1..10 when given, `${}`; `aud` (string or list) must
 *                                contain one. Without `audience`, `aud` is not checked.
 *   http.tokens[]                1..10 *(default: one `{type: jwt, method: header,
 *                                name: Authorization, prefix: "Bearer "}`)*; every listed token is
 *                                required. Each: `type` jwt|access_token|id_token|at+jwt|it+jwt|plain
 *                                (default jwt; *at+jwt / it+jwt also require the JOSE `typ` header to
 *                                be that value, with or without `application/`; the others do not
 *                                check `typ`*), `method` header (default) | body (*refused at load:
 *                                not supported yet*), `name` header name `${}` (default
 *                                Authorization), `prefix` `${}` (default "", *matched
 *                                case-insensitively, then surrounding blanks are trimmed*).
 *   jws.allowed_algorithms       required, 1..12 of RS256 RS384 RS512 PS256 PS384 PS512 ES256
 *                                ES384 ES512 EdDSA HS256 HS384 HS512; `none` is refused.
 *   jws.keys.sources.additional_jkus  JWKS URLs `${}` (0..10; https, *or http to a loopback host
 *                                only*). Fetched and cached as described in jwks.ts.
 *   jws.keys.inline *(meshgate extension)*  0..20 keys, each one of
 *                                - a JWK map (RSA, EC, OKP public key, or `oct` with `k` for HMAC),
 *                                - `{kid?: string, pem: "-----BEGIN PUBLIC KEY-----..."}`,
 *                                - `{kid?: string, secret: "<HMAC secret, UTF-8>"}`.
 *                                Static values only (checked at load).
 *   At least one key source (additional_jkus or inline) is required. `enforce` is not part of
 *   this action in the reference, so it is not accepted.
 *
 * Validation per token: header value (exactly one) → strip prefix → `header.payload.signature`
 * in base64url, header and payload JSON objects → `alg` in the allowed list (and matching the
 * key's type and the JWK's `alg` when it has one) → key by `kid` among inline and JWKS keys, or,
 * without `kid`, the only key that fits the algorithm → signature (node:crypto; HMAC compared in
 * constant time) → `exp` / `nbf` (numbers when present, 60 s leeway; `exp` itself is optional)
 * → `iss` → `aud`.
 *
 * JWKS are only fetched when a token got as far as needing a key; with everything cached the
 * action runs synchronously, otherwise `run` returns a Promise. A failed fetch fails the token
 * when its key is not found elsewhere (ngrok ERR_NGROK_3422 "JWKS fetch failed").
 *
 * Failure → synthetic 401 with `www-authenticate: Bearer` (token missing) or
 * `Bearer error="invalid_token", error_description="..."`, and `meshgate-error-code`
 * MG_JWT_INVALID, or MG_JWT_KEYS_UNAVAILABLE when the keys could not be fetched (the client
 * only sees "the signing keys could not be fetched"; URL and cause go to error.message).
 * Result: `actions.ngrok.jwt_validation.tokens[i].{header, payload, signature, verified, location,
 * location_property}` (header/payload are {} when the token could not be decoded) and, on
 * failure, `actions.ngrok.jwt_validation.error.{code, message, ngrok_code}` (ngrok_code:
 * ERR_NGROK_3406 missing, 3416 malformed, 3401 invalid, 3422 JWKS unavailable).
 * The token header is forwarded unchanged.
 */
import type { ErrorCode } from '../../core/errors.js';
import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import { describe, isHeaderName, isPlainMap } from './config.js';
import { cachedJwks, importJwk, importPem, importSecret, jwtNow, loadJwks, type JwksResult, type VerifyKey } from './jwks.js';
import { registerAction, type ActionCompileContext, type ActionDefinition, type ActionOutcome, type ActionRunContext } from './registry.js';
import { rejection } from './util.js';

export const JWT_INVALID: ErrorCode = 'MG_JWT_INVALID';
export const JWT_KEYS_UNAVAILABLE: ErrorCode = 'MG_JWT_KEYS_UNAVAILABLE';
export const LEEWAY_S = 60;
const MAX_TOKEN_LENGTH = 16 * 1024;

export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'] as const;
type Alg = (typeof ALGORITHMS)[number];
const TOKEN_TYPES = ['jwt', 'access_token', 'id_token', 'at+jwt', 'it+jwt', 'plain'] as const;
type TokenType = (typeof TOKEN_TYPES)[number];

interface TokenSpec {
  readonly type: TokenType;
  readonly name: Template;
  readonly prefix: Template;
}

interface JwtConfig {
  readonly issuers: readonly Template[];
  readonly audiences: readonly Template[] | undefined;
  readonly tokens: readonly TokenSpec[];
  readonly algorithms: ReadonlySet<string>;
  readonly jkus: readonly Template[];
  readonly inline: readonly VerifyKey[];
  /** This action's config path, for runtime error labels. */
  readonly path: string;
}

// --- config ---

const ev = (cx: ActionRunContext, t: Template): string => (t.isStatic ? t.staticValue : cx.evalString(t));

function readMap(v: unknown, path: string, cx: ActionCompileContext, fields: readonly string[], required: boolean): Record<string, unknown> | undefined | null {
  if (v === undefined || v === null) {
    if (required) cx.issue(path, 'is required');
    return required ? undefined : null;
  }
  if (!isPlainMap(v)) {
    cx.issue(path, `must be a map, got ${describe(v)}`);
    return undefined;
  }
  let ok = true;
  for (const k of Object.keys(v)) {
    if (!fields.includes(k)) {
      cx.issue(`${path}.${k}`, `unknown field '${k}' (accepted: ${fields.join(', ')})`);
      ok = false;
    }
  }
  return ok ? v : undefined;
}

function readList(v: unknown, path: string, cx: ActionCompileContext, min: number, max: number, what: string): unknown[] | undefined {
  if (v === undefined || v === null) {
    if (min === 0) return [];
    cx.issue(path, `is required: a list of ${min} to ${max} ${what}`);
    return undefined;
  }
  if (!Array.isArray(v)) {
    cx.issue(path, `must be a list of ${what}, got ${describe(v)}`);
    return undefined;
  }
  if (v.length < min || v.length > max) {
    cx.issue(path, `must have ${min} to ${max} ${what}, got ${v.length}`);
    return undefined;
  }
  return v;
}

/** `<key>.allow_list[].value` → templates. */
function readAllowList(v: unknown, key: string, cx: ActionCompileContext, required: boolean): Template[] | undefined | null {
  const m = readMap(v, key, cx, ['allow_list'], required);
  if (m === null) return null;
  if (m === undefined) return undefined;
  const list = readList(m.allow_list, `${key}.allow_list`, cx, 1, 10, "entries ({value: ...})");
  if (!list) return undefined;
  let ok = true;
  const out: Template[] = [];
  list.forEach((e, i) => {
    const path = `${key}.allow_list[${i}]`;
    const em = readMap(e, path, cx, ['value'], true);
    if (!em) return void (ok = false);
    if (typeof em.value !== 'string' || em.value === '') {
      cx.issue(`${path}.value`, em.value === undefined ? 'is required' : `must be a non-empty string, got ${describe(em.value)}`);
      return void (ok = false);
    }
    const t = cx.template(em.value, `${path}.value`);
    if (t) out.push(t);
    else ok = false;
  });
  return ok ? out : undefined;
}

function readStr(m: Record<string, unknown>, key: string, path: string, cx: ActionCompileContext, dflt: string): Template | undefined {
  const v = m[key];
  if (v === undefined || v === null) return cx.template(dflt, `${path}.${key}`);
  if (typeof v !== 'string') {
    cx.issue(`${path}.${key}`, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  return cx.template(v, `${path}.${key}`);
}

function readTokens(v: unknown, cx: ActionCompileContext): TokenSpec[] | undefined {
  const http = readMap(v, 'http', cx, ['tokens'], false);
  if (http === undefined) return undefined;
  if (http === null || http.tokens === undefined || http.tokens === null) {
    return [{ type: 'jwt', name: cx.template('Authorization', 'http')!, prefix: cx.template('Bearer ', 'http')! }];
  }
  const list = readList(http.tokens, 'http.tokens', cx, 1, 10, 'tokens');
  if (!list) return undefined;
  let ok = true;
  const out: TokenSpec[] = [];
  list.forEach((e, i) => {
    const path = `http.tokens[${i}]`;
    const m = readMap(e, path, cx, ['type', 'method', 'name', 'prefix'], true);
    if (!m) return void (ok = false);
    const type = m.type ?? 'jwt';
    if (typeof type !== 'string' || !(TOKEN_TYPES as readonly string[]).includes(type)) {
      cx.issue(`${path}.type`, `must be one of ${TOKEN_TYPES.join(', ')}, got ${describe(type)}`);
      ok = false;
    }
    const method = m.method ?? 'header';
    if (method === 'body') {
      cx.issue(`${path}.method`, "'body' is not supported yet: tokens can only be read from a header");
      ok = false;
    } else if (method !== 'header') {
      cx.issue(`${path}.method`, `must be header or body, got ${describe(method)}`);
      ok = false;
    }
    const name = readStr(m, 'name', path, cx, 'Authorization');
    const prefix = readStr(m, 'prefix', path, cx, '');
    if (name?.isStatic && !isHeaderName(name.staticValue)) {
      cx.issue(`${path}.name`, `'${name.staticValue}' is not a valid header name`);
      ok = false;
    }
    if (name && prefix && ok) out.push({ type: type as TokenType, name, prefix });
    else ok = false;
  });
  return ok ? out : undefined;
}

/** Why `url` is not an acceptable JWKS URL, or undefined. */
export function jkuProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `'${url}' is not a URL`;
  }
  if (u.protocol === 'https:') return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (u.protocol === 'http:' && (host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.')))) return undefined;
  return `'${url}' must be an https URL (http only to a loopback host)`;
}

function readInlineKey(e: unknown, path: string, cx: ActionCompileContext): VerifyKey | undefined {
  if (!isPlainMap(e)) {
    cx.issue(path, `must be a JWK map, {pem: ...} or {secret: ...}, got ${describe(e)}`);
    return undefined;
  }
  if (e.kid !== undefined && typeof e.kid !== 'string') {
    cx.issue(`${path}.kid`, `must be a string, got ${describe(e.kid)}`);
    return undefined;
  }
  const kid = e.kid as string | undefined;
  let k: VerifyKey | string;
  if ('kty' in e) k = importJwk(e, true);
  else if ('pem' in e || 'secret' in e) {
    for (const f of Object.keys(e)) {
      if (!['kid', 'pem', 'secret'].includes(f)) {
        cx.issue(`${path}.${f}`, `unknown field '${f}' (a key is a JWK, {kid, pem} or {kid, secret})`);
        return undefined;
      }
    }
    if ('pem' in e && 'secret' in e) k = 'give either pem or secret, not both';
    else if ('pem' in e) k = typeof e.pem === 'string' ? importPem(e.pem, kid) : `pem must be a string, got ${describe(e.pem)}`;
    else if (typeof e.secret !== 'string' || e.secret.length < 16) k = 'secret must be a string of at least 16 characters';
    else k = importSecret(e.secret, kid);
  } else k = "must be a JWK (with 'kty'), {pem: ...} or {secret: ...}";
  if (typeof k === 'string') {
    cx.issue(path, k);
    return undefined;
  }
  return k;
}

function readJws(v: unknown, cx: ActionCompileContext): Pick<JwtConfig, 'algorithms' | 'jkus' | 'inline'> | undefined {
  const jws = readMap(v, 'jws', cx, ['allowed_algorithms', 'keys'], true);
  if (!jws) return undefined;
  let ok = true;
  const algs = readList(jws.allowed_algorithms, 'jws.allowed_algorithms', cx, 1, ALGORITHMS.length, 'algorithms');
  const algorithms = new Set<string>();
  if (!algs) ok = false;
  algs?.forEach((a, i) => {
    const path = `jws.allowed_algorithms[${i}]`;
    if (typeof a === 'string' && a.toLowerCase() === 'none') {
      cx.issue(path, "'none' is not allowed: unsigned tokens are never accepted");
      ok = false;
    } else if (typeof a !== 'string' || !(ALGORITHMS as readonly string[]).includes(a)) {
      cx.issue(path, `unsupported algorithm ${describe(a)} (supported: ${ALGORITHMS.join(', ')})`);
      ok = false;
    } else algorithms.add(a);
  });
  const keys = readMap(jws.keys, 'jws.keys', cx, ['sources', 'inline'], true);
  if (!keys) return undefined;
  const sources = readMap(keys.sources, 'jws.keys.sources', cx, ['additional_jkus'], false);
  if (sources === undefined) return undefined;
  const jkuList = readList(sources?.additional_jkus, 'jws.keys.sources.additional_jkus', cx, 0, 10, 'JWKS URLs');
  const jkus: Template[] = [];
  if (!jkuList) ok = false;
  jkuList?.forEach((u, i) => {
    const path = `jws.keys.sources.additional_jkus[${i}]`;
    if (typeof u !== 'string') {
      cx.issue(path, `must be a URL string, got ${describe(u)}`);
      return void (ok = false);
    }
    const t = cx.template(u, path);
    if (!t) return void (ok = false);
    const problem = t.isStatic ? jkuProblem(t.staticValue) : undefined;
    if (problem) {
      cx.issue(path, problem);
      return void (ok = false);
    }
    jkus.push(t);
  });
  const inlineList = readList(keys.inline, 'jws.keys.inline', cx, 0, 20, 'keys');
  const inline: VerifyKey[] = [];
  if (!inlineList) ok = false;
  inlineList?.forEach((e, i) => {
    const k = readInlineKey(e, `jws.keys.inline[${i}]`, cx);
    if (k) inline.push(k);
    else ok = false;
  });
  if (ok && jkus.length === 0 && inline.length === 0) {
    cx.issue('jws.keys', 'needs at least one key source: sources.additional_jkus or inline');
    ok = false;
  }
  return ok ? { algorithms, jkus, inline } : undefined;
}

// --- tokens ---

interface Failure {
  readonly code: ErrorCode;
  readonly ngrok: string;
  readonly message: string;
  /** Longer text for the result variable only (not sent to the client), e.g. the JWKS URL. */
  readonly detail?: string;
  readonly missing?: boolean;
}

interface Decoded {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly signature: string;
  readonly signingInput: Buffer;
  readonly sig: Buffer;
}

interface TokenState {
  readonly name: string;
  decoded?: Decoded;
  failure?: Failure;
  verified: boolean;
}

const fail = (ngrok: string, message: string, missing = false): Failure => ({ code: JWT_INVALID, ngrok, message, missing });
const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return isPlainMap(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Reads and decodes one token (no signature or claim checks yet). */
function extract(cx: ActionRunContext, spec: TokenSpec, label: string): TokenState {
  const name = ev(cx, spec.name).toLowerCase();
  if (!isHeaderName(name)) throw new PolicyRuntimeError(`${label}.name`, `'${name}' is not a valid header name`);
  const st: TokenState = { name, verified: false };
  const values = cx.exchange.req.headers[name];
  if (values === undefined || values.length === 0) {
    st.failure = fail('ERR_NGROK_3406', `no token in the ${name} header`, true);
    return st;
  }
  if (values.length > 1) {
    st.failure = fail('ERR_NGROK_3416', `the ${name} header is given more than once`);
    return st;
  }
  let raw = values[0];
  const prefix = ev(cx, spec.prefix);
  if (prefix !== '') {
    if (raw.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) {
      st.failure = fail('ERR_NGROK_3406', `the ${name} header does not start with the expected prefix`, true);
      return st;
    }
    raw = raw.slice(prefix.length);
  }
  raw = raw.trim();
  if (raw === '') {
    st.failure = fail('ERR_NGROK_3406', `no token in the ${name} header`, true);
    return st;
  }
  const parts = raw.split('.');
  if (raw.length > MAX_TOKEN_LENGTH || parts.length !== 3 || !parts.every((p) => B64URL.test(p))) {
    st.failure = fail('ERR_NGROK_3416', 'the token is not a compact JWS (header.payload.signature in base64url)');
    return st;
  }
  const header = decodeJson(parts[0]);
  const payload = decodeJson(parts[1]);
  if (!header || !payload) {
    st.failure = fail('ERR_NGROK_3416', 'the token header or payload is not a JSON object');
    return st;
  }
  st.decoded = { header, payload, signature: parts[2], signingInput: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), sig: Buffer.from(parts[2], 'base64url') };
  if (typeof header.alg !== 'string') st.failure = fail('ERR_NGROK_3416', 'the token header has no alg');
  else if (spec.type === 'at+jwt' || spec.type === 'it+jwt') {
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : '';
    if (typ !== spec.type) st.failure = fail('ERR_NGROK_3401', `the token typ is not ${spec.type}`);
  }
  return st;
}

/** Whether `key` can verify `alg` at all (key type, curve). */
export function keyFits(alg: string, key: KeyObject): boolean {
  const t = key.type === 'secret' ? 'secret' : key.asymmetricKeyType;
  switch (alg.slice(0, 2)) {
    case 'RS':
      return t === 'rsa';
    case 'PS':
      return t === 'rsa' || t === 'rsa-pss';
    case 'ES': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return t === 'ec' && curve === { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }[alg];
    }
    case 'Ed':
      return t === 'ed25519' || t === 'ed448';
    case 'HS':
      return t === 'secret';
    default:
      return false;
  }
}

export function verifySignature(alg: Alg, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
    switch (alg.slice(0, 2)) {
      case 'HS': {
        const mac = createHmac(hash!, key).update(data).digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      }
      case 'PS':
        return verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
      case 'ES':
        return verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      default:
        return verify(hash, data, key, sig);
    }
  } catch {
    return false;
  }
}

/** Signature and claims of a decoded token, given every key available. */
function check(st: TokenState, c: JwtConfig, keys: readonly VerifyKey[], fetchErrors: readonly string[], issuers: ReadonlySet<string>, audiences: ReadonlySet<string> | undefined): void {
  const d = st.decoded!;
  const alg = d.header.alg as string;
  if (!c.algorithms.has(alg)) {
    st.failure = fail('ERR_NGROK_3401', `the token algorithm ${alg.slice(0, 20)} is not allowed`);
    return;
  }
  const kid = typeof d.header.kid === 'string' ? d.header.kid : undefined;
  const fits = keys.filter((k) => (k.alg === undefined || k.alg === alg) && keyFits(alg, k.key));
  const candidates = kid !== undefined ? fits.filter((k) => k.kid === kid) : fits;
  if (candidates.length !== 1) {
    if (fetchErrors.length > 0) st.failure = { code: JWT_KEYS_UNAVAILABLE, ngrok: 'ERR_NGROK_3422', message: 'the signing keys could not be fetched', detail: fetchErrors[0] };
    else if (candidates.length === 0) st.failure = fail('ERR_NGROK_3401', kid !== undefined ? `no ${alg} key with the token's kid` : `no ${alg} key for the token`);
    else st.failure = fail('ERR_NGROK_3401', `the token has no kid and ${candidates.length} keys fit ${alg}`);
    return;
  }
  if (!verifySignature(alg as Alg, candidates[0].key, d.signingInput, d.sig)) {
    st.failure = fail('ERR_NGROK_3401', 'the token signature is not valid');
    return;
  }
  const p = d.payload;
  const now = jwtNow() / 1000;
  for (const claim of ['exp', 'nbf'] as const) {
    if (p[claim] !== undefined && (typeof p[claim] !== 'number' || !Number.isFinite(p[claim]))) {
      st.failure = fail('ERR_NGROK_3401', `the token ${claim} claim is not a number`);
      return;
    }
  }
  if (typeof p.exp === 'number' && now > p.exp + LEEWAY_S) {
    st.failure = fail('ERR_NGROK_3401', 'the token has expired');
    return;
  }
  if (typeof p.nbf === 'number' && now < p.nbf - LEEWAY_S) {
    st.failure = fail('ERR_NGROK_3401', 'the token is not valid yet');
    return;
  }
  if (typeof p.iss !== 'string' || !issuers.has(p.iss)) {
    st.failure = fail('ERR_NGROK_3401', 'the token issuer is not allowed');
    return;
  }
  if (audiences) {
    const aud = typeof p.aud === 'string' ? [p.aud] : Array.isArray(p.aud) ? p.aud : [];
    if (!aud.some((a) => typeof a === 'string' && audiences.has(a))) {
      st.failure = fail('ERR_NGROK_3401', 'the token audience is not allowed');
      return;
    }
  }
  st.verified = true;
}

function finish(cx: ActionRunContext, c: JwtConfig, states: TokenState[], jwks: ReadonlyArray<JwksResult>, issuers: ReadonlySet<string>, audiences: ReadonlySet<string> | undefined): ActionOutcome {
  const keys: VerifyKey[] = [...c.inline];
  const fetchErrors: string[] = [];
  for (const r of jwks) {
    if (r.ok) keys.push(...r.keys);
    else fetchErrors.push(r.message);
  }
  for (const st of states) if (st.decoded && !st.failure) check(st, c, keys, fetchErrors, issuers, audiences);
  const first = states.find((s) => s.failure)?.failure;
  const result: Record<string, unknown> = {
    tokens: states.map((s) => ({
      header: s.decoded?.header ?? {},
      payload: s.decoded?.payload ?? {},
      signature: s.decoded?.signature ?? '',
      verified: s.verified,
      location: 'header',
      location_property: s.name,
    })),
  };
  if (first) result.error = { code: first.code, message: first.detail ?? first.message, ngrok_code: first.ngrok };
  cx.setResult('jwt_validation', result);
  if (!first) return undefined;
  const challenge = first.missing ? 'Bearer' : `Bearer error="invalid_token", error_description="${first.message.replace(/[^\x20-\x7e]|["\\]/g, '?')}"`;
  return { kind: 'respond', response: rejection(401, first.code, first.message, { 'www-authenticate': [challenge] }) };
}

export const jwtValidation: ActionDefinition<JwtConfig> = {
  phases: ['on_http_request'],
  fields: ['issuer', 'audience', 'http', 'jws'],

  compile(config, cx) {
    const issuers = readAllowList(config.issuer, 'issuer', cx, true);
    const audiences = readAllowList(config.audience, 'audience', cx, false);
    const tokens = readTokens(config.http, cx);
    const jws = readJws(config.jws, cx);
    if (!issuers || audiences === undefined || !tokens || !jws) return undefined;
    return { issuers, audiences: audiences ?? undefined, tokens, ...jws, path: cx.path };
  },

  termination() {
    return 'maybe';
  },

  authCredential(c) {
    // Every listed token is required; the first one with a static header name identifies it.
    const t = c.tokens.find((x) => x.name.isStatic);
    return t ? `header:${t.name.staticValue.toLowerCase()}` : undefined;
  },

  run(cx, c) {
    const states = c.tokens.map((spec, i) => extract(cx, spec, `${c.path}.http.tokens[${i}]`));
    const issuers = new Set(c.issuers.map((t) => ev(cx, t)));
    const audiences = c.audiences ? new Set(c.audiences.map((t) => ev(cx, t))) : undefined;
    const needKeys = states.some((s) => s.decoded && !s.failure);
    const urls = needKeys
      ? c.jkus.map((t, i) => {
          if (t.isStatic) return t.staticValue;
          const url = cx.evalString(t);
          const problem = jkuProblem(url);
          if (problem) throw new PolicyRuntimeError(`${c.path}.jws.keys.sources.additional_jkus[${i}]`, problem);
          return url;
        })
      : [];
    const cached = urls.map(cachedJwks);
    if (cached.every((r) => r !== undefined)) return finish(cx, c, states, cached as JwksResult[], issuers, audiences);
    return Promise.all(urls.map((u, i) => cached[i] ?? loadJwks(u))).then((jwks) => finish(cx, c, states, jwks, issuers, audiences));
  },
};

registerAction('jwt-validation', jwtValidation);
