/**
 * Verification keys for `jwt-validation`: JWK import (node:crypto only) and the process-wide
 * JWKS cache behind `jws.keys.sources.additional_jkus`.
 *
 * Fetching goes through a pluggable `JwksFetcher` (`setJwksFetcher`), so the engine itself stays
 * free of sockets in tests and an edge can route fetches its own way (proxy, pinned CA, ...).
 * The default uses Node 20's global `fetch`: 3 s timeout for the whole exchange, redirects
 * refused, HTTP 200 required, body at most 256 KB.
 *
 * Cache (per URL, process-wide):
 * - a good key set is kept 15 minutes (the reference's "JWKS cached ~15 min");
 * - a failure is kept 5 seconds, so a dead JWKS endpoint is not hammered by every request while
 *   still recovering quickly;
 * - concurrent loads of one URL share a single fetch;
 * - at most MAX_ENTRIES URLs (URLs may be `${}`-interpolated); the oldest entry goes first.
 *
 * Keys: RSA, EC (P-256/384/521) and OKP (Ed25519/Ed448) JWKs; `use` other than `sig` is skipped,
 * and so are keys a JWKS marks for another purpose or that node cannot import. Symmetric (`oct`)
 * keys are accepted only inline, never from a URL (an HMAC secret must not be published).
 */
import { readLimitedText } from './read-limited.js';
import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** Fetches a JWKS document and returns its body text. Rejects on any failure. */
export type JwksFetcher = (url: string) => Promise<string>;

/** One verification key. */
export interface VerifyKey {
  readonly kid: string | undefined;
  /** The JWK's `alg`, when it pins one. */
  readonly alg: string | undefined;
  readonly key: KeyObject;
}

export const JWKS_TTL_MS = 15 * 60_000;
export const JWKS_FAILURE_TTL_MS = 5_000;
export const JWKS_TIMEOUT_MS = 3_000;
export const JWKS_MAX_BYTES = 256 * 1024;
const MAX_ENTRIES = 1000;

/** `{ok: true, keys}` or `{ok: false, message}`: what a JWKS URL gives. */
export type JwksResult = { readonly ok: true; readonly keys: readonly VerifyKey[] } | { readonly ok: false; readonly message: string };

interface Entry {
  readonly result: JwksResult;
  readonly expires: number;
}

const cache = new Map<string, Entry>();
const inflight = new Map<string, Promise<JwksResult>>();
/** Bumped by clearJwksCache: loads started before it do not store their result. */
let generation = 0;

let fetcher: JwksFetcher = defaultFetcher;
let clock: () => number = Date.now;

/** Plugs in the JWKS fetcher; `undefined` restores the default (global fetch). Clears the cache. */
export function setJwksFetcher(f: JwksFetcher | undefined): void {
  fetcher = f ?? defaultFetcher;
  clearJwksCache();
}

/** Replaces the clock used for the cache and for `exp`/`nbf` (tests); `undefined` = Date.now. */
export function setJwtClock(fn: (() => number) | undefined): void {
  clock = fn ?? Date.now;
}

export function jwtNow(): number {
  return clock();
}

/** Forgets every cached key set (tests, or after a key rotation). */
export function clearJwksCache(): void {
  cache.clear();
  inflight.clear();
  generation++;
}

/** The cached result for `url` when still fresh, else undefined (synchronous: no fetch). */
export function cachedJwks(url: string): JwksResult | undefined {
  const e = cache.get(url);
  if (e === undefined) return undefined;
  if (e.expires <= clock()) {
    cache.delete(url);
    return undefined;
  }
  return e.result;
}

/** The key set at `url`: from the cache, from a fetch already running, or fetched now. Never rejects. */
export function loadJwks(url: string): Promise<JwksResult> {
  const hit = cachedJwks(url);
  if (hit) return Promise.resolve(hit);
  const running = inflight.get(url);
  if (running) return running;
  const f = fetcher;
  const gen = generation;
  const p = (async (): Promise<JwksResult> => {
    let result: JwksResult;
    try {
      const body = await f(url);
      result = parseJwks(body, false);
    } catch (e) {
      result = { ok: false, message: `fetching the JWKS at ${url} failed: ${(e as Error)?.message ?? String(e)}` };
    }
    // only store when this fetch is still the current one (the cache may have been cleared)
    if (gen === generation) {
      inflight.delete(url);
      if (cache.size >= MAX_ENTRIES) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(url, { result, expires: clock() + (result.ok ? JWKS_TTL_MS : JWKS_FAILURE_TTL_MS) });
    }
    return result;
  })();
  inflight.set(url, p);
  return p;
}

/** A JWKS document (`{"keys": [...]}`) → its usable keys. */
export function parseJwks(text: string, allowSecret: boolean): JwksResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, message: 'the JWKS is not valid JSON' };
  }
  const list = typeof doc === 'object' && doc !== null ? (doc as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(list)) return { ok: false, message: 'the JWKS has no "keys" list' };
  const keys: VerifyKey[] = [];
  for (const jwk of list) {
    const k = importJwk(jwk, allowSecret);
    if (typeof k !== 'string') keys.push(k);
  }
  if (keys.length === 0) return { ok: false, message: 'the JWKS has no usable signing key' };
  return { ok: true, keys };
}

/** A JWK → a key, or why it cannot be used. */
export function importJwk(jwk: unknown, allowSecret: boolean): VerifyKey | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'a JWK must be a map';
  const j = jwk as Record<string, unknown>;
  if (j.use !== undefined && j.use !== 'sig') return `the key is for '${String(j.use)}', not 'sig'`;
  if (j.kid !== undefined && typeof j.kid !== 'string') return 'kid must be a string';
  if (j.alg !== undefined && typeof j.alg !== 'string') return 'alg must be a string';
  const kid = j.kid as string | undefined;
  const alg = j.alg as string | undefined;
  try {
    switch (j.kty) {
      case 'RSA':
      case 'EC':
      case 'OKP': {
        // public part only: a private JWK given by mistake must not end up as the verification key's source
        const pub: Record<string, unknown> = {};
        for (const f of ['kty', 'n', 'e', 'crv', 'x', 'y']) if (j[f] !== undefined) pub[f] = j[f];
        return { kid, alg, key: createPublicKey({ key: pub as JsonWebKey, format: 'jwk' }) };
      }
      case 'oct': {
        if (!allowSecret) return 'symmetric (oct) keys are only accepted inline';
        if (typeof j.k !== 'string' || !/^[A-Za-z0-9_-]+$/.test(j.k)) return "an oct key needs 'k' (base64url)";
        return { kid, alg, key: createSecretKey(Buffer.from(j.k, 'base64url')) };
      }
      default:
        return `unsupported key type ${JSON.stringify(j.kty)} (RSA, EC, OKP or oct)`;
    }
  } catch (e) {
    return `the key cannot be imported: ${(e as Error).message}`;
  }
}

/** A PEM public key (SPKI or PKCS#1, or a certificate) → a key, or why not. */
export function importPem(pem: string, kid: string | undefined): VerifyKey | string {
  try {
    const key = createPublicKey(pem);
    return { kid, alg: undefined, key };
  } catch (e) {
    return `not a PEM public key: ${(e as Error).message}`;
  }
}

/** An HMAC secret (UTF-8 text) → a key. */
export function importSecret(secret: string, kid: string | undefined): VerifyKey {
  return { kid, alg: undefined, key: createSecretKey(Buffer.from(secret, 'utf8')) };
}

/** Global fetch, 3 s timeout, no redirects, 200 only, body ≤ 256 KB. */
async function defaultFetcher(url: string): Promise<string> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
    redirect: 'error',
    headers: { accept: 'application/jwk-set+json, application/json' },
  });
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`HTTP status ${res.status}`);
  }
  return readLimitedText(res, JWKS_MAX_BYTES);
}
