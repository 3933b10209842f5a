/**
 * OpenID Provider discovery for `openid-connect`: `<issuer_url>/.well-known/openid-configuration`,
 * fetched on first need (not at load: an edge must start while an IdP is down) and cached per
 * issuer, process-wide:
 * - a good document is kept 1 hour; a failure 5 seconds (a dead IdP is not hammered by every
 *   request, and recovery is quick);
 * - concurrent loads of one issuer share one fetch; at most 100 issuers are kept.
 *
 * Checked: `issuer` equals the configured URL (a trailing `/` aside; OIDC Discovery §4.3),
 * `authorization_endpoint`, `token_endpoint` and `jwks_uri` present, and every endpoint https (or
 * http to a loopback host, for local IdPs and tests).
 */
import { jkuProblem } from '../jwt-validation.js';
import { jwtNow } from '../jwks.js';
import { idpCall } from './idp-http.js';

export interface OidcMetadata {
  /** The issuer as the document states it (what `iss` must equal). */
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  readonly userinfoEndpoint: string | undefined;
  /** id_token algorithms the provider signs with (default RS256). */
  readonly idTokenAlgs: readonly string[];
  /** How the client authenticates at the token endpoint. */
  readonly tokenAuth: 'basic' | 'post';
}

export type DiscoveryResult = { readonly ok: true; readonly meta: OidcMetadata } | { readonly ok: false; readonly message: string };

export const DISCOVERY_TTL_MS = 60 * 60_000;
export const DISCOVERY_FAILURE_TTL_MS = 5_000;
const MAX_ENTRIES = 100;

const cache = new Map<string, { result: DiscoveryResult; expires: number }>();
const inflight = new Map<string, Promise<DiscoveryResult>>();
let generation = 0;

export function clearDiscoveryCache(): void {
  cache.clear();
  inflight.clear();
  generation++;
}

/** The cached result for `issuer` when fresh (synchronous), else undefined. */
export function cachedDiscovery(issuer: string): DiscoveryResult | undefined {
  const e = cache.get(issuer);
  if (e === undefined) return undefined;
  if (e.expires <= jwtNow()) {
    cache.delete(issuer);
    return undefined;
  }
  return e.result;
}

/** The provider metadata of `issuer`: cached, in flight, or fetched now. Never rejects. */
export function discover(issuer: string): Promise<DiscoveryResult> {
  const hit = cachedDiscovery(issuer);
  if (hit) return Promise.resolve(hit);
  const running = inflight.get(issuer);
  if (running) return running;
  const gen = generation;
  const p = fetchMetadata(issuer).then((result) => {
    if (gen === generation) {
      inflight.delete(issuer);
      if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
      cache.set(issuer, { result, expires: jwtNow() + (result.ok ? DISCOVERY_TTL_MS : DISCOVERY_FAILURE_TTL_MS) });
    }
    return result;
  });
  inflight.set(issuer, p);
  return p;
}

export function discoveryUrl(issuer: string): string {
  return issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
}

async function fetchMetadata(issuer: string): Promise<DiscoveryResult> {
  const url = discoveryUrl(issuer);
  let a;
  try {
    a = await idpCall(url, 'the OpenID discovery document');
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  if (a.status !== 200 || a.data === undefined) return { ok: false, message: `the OpenID discovery document (${url}) answered HTTP ${a.status}${a.data ? '' : ' without a JSON object'}` };
  return parseMetadata(issuer, a.data);
}

/** Checks a discovery document against the configured issuer. */
export function parseMetadata(issuer: string, d: Record<string, unknown>): DiscoveryResult {
  const bad = (m: string): DiscoveryResult => ({ ok: false, message: `the OpenID discovery document of ${issuer} ${m}` });
  if (typeof d.issuer !== 'string' || d.issuer.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) {
    return bad(`names another issuer (${JSON.stringify(d.issuer)})`);
  }
  const urls: Record<string, string> = {};
  for (const f of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
    const v = d[f];
    if (v === undefined && f === 'userinfo_endpoint') continue;
    if (typeof v !== 'string') return bad(`has no ${f}`);
    const problem = jkuProblem(v);
    if (problem) return bad(`has a bad ${f}: ${problem}`);
    urls[f] = v;
  }
  const algs = Array.isArray(d.id_token_signing_alg_values_supported) ? d.id_token_signing_alg_values_supported.filter((a): a is string => typeof a === 'string') : ['RS256'];
  const methods = Array.isArray(d.token_endpoint_auth_methods_supported) ? d.token_endpoint_auth_methods_supported : undefined;
  const tokenAuth = methods === undefined || methods.includes('client_secret_basic') || !methods.includes('client_secret_post') ? 'basic' : 'post';
  return {
    ok: true,
    meta: Object.freeze({
      issuer: d.issuer,
      authorizationEndpoint: urls.authorization_endpoint,
      tokenEndpoint: urls.token_endpoint,
      jwksUri: urls.jwks_uri,
      userinfoEndpoint: urls.userinfo_endpoint,
      idTokenAlgs: algs,
      tokenAuth,
    }),
  };
}
