/**
 * id_token verification for `openid-connect` (OIDC Core §3.1.3.7), reusing jwt-validation's key
 * handling: the provider's `jwks_uri` is loaded through the JWKS cache of jwks.ts and signatures
 * are checked by the same node:crypto code.
 *
 * Checked in order: compact JWS shape → `alg` asymmetric (RS/PS/ES/EdDSA; never `none`, and no
 * HMAC: meshgate does not verify with the client secret) and offered by the provider → key by
 * `kid` (or the only key fitting the algorithm) → signature → `iss` equals the discovered issuer →
 * `aud` contains the client id (and `azp`, when present with several audiences, is the client id)
 * → `exp` in the future and `iat` not in the future (60 s leeway) → `nonce` equals the one sent.
 * A JWKS that cannot be fetched is MG_IDP_UNAVAILABLE; anything else is MG_OAUTH_FAILED.
 */
import { ALGORITHMS, keyFits, LEEWAY_S, verifySignature } from '../jwt-validation.js';
import { jwtNow, loadJwks } from '../jwks.js';
import { AuthFailure, idpUnavailable, oauthFailed } from './idp-http.js';

type Alg = (typeof ALGORITHMS)[number];
const ASYMMETRIC: ReadonlySet<string> = new Set(ALGORITHMS.filter((a) => !a.startsWith('HS')));
const MAX_TOKEN_LENGTH = 16 * 1024;

export interface IdTokenCheck {
  readonly jwksUri: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly nonce: string;
  /** Algorithms the provider announces (`id_token_signing_alg_values_supported`). */
  readonly algs: readonly string[];
}

function part(s: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The verified claims of `token`; rejects with AuthFailure. */
export async function verifyIdToken(token: string, c: IdTokenCheck): Promise<Record<string, unknown>> {
  const bad = (m: string): AuthFailure => oauthFailed(`the id_token ${m}`);
  const parts = token.split('.');
  if (token.length > MAX_TOKEN_LENGTH || parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) throw bad('is not a compact JWS');
  const header = part(parts[0]);
  const claims = part(parts[1]);
  if (!header || !claims) throw bad('header or payload is not a JSON object');
  const alg = header.alg;
  if (typeof alg !== 'string' || !ASYMMETRIC.has(alg)) throw bad(`is signed with ${JSON.stringify(alg)}; only RS*, PS*, ES* and EdDSA are accepted`);
  if (!c.algs.includes(alg)) throw bad(`is signed with ${alg}, which the provider does not announce`);

  const jwks = await loadJwks(c.jwksUri);
  if (!jwks.ok) throw idpUnavailable(jwks.message);
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const fits = jwks.keys.filter((k) => (k.alg === undefined || k.alg === alg) && keyFits(alg, k.key) && (kid === undefined || k.kid === kid));
  if (fits.length !== 1) throw bad(fits.length === 0 ? `has no matching ${alg} key in the provider's JWKS` : `has no kid and ${fits.length} keys fit`);
  if (!verifySignature(alg as Alg, fits[0].key, Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), Buffer.from(parts[2], 'base64url'))) {
    throw bad('signature is not valid');
  }

  if (claims.iss !== c.issuer) throw bad(`issuer ${JSON.stringify(claims.iss)} is not ${c.issuer}`);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!aud.includes(c.clientId)) throw bad('audience does not contain the client id');
  if (aud.length > 1 && claims.azp !== undefined && claims.azp !== c.clientId) throw bad('azp is not the client id');
  const now = jwtNow() / 1000;
  if (typeof claims.exp !== 'number' || now > claims.exp + LEEWAY_S) throw bad('has expired (or has no exp)');
  if (typeof claims.iat === 'number' && claims.iat > now + LEEWAY_S) throw bad('was issued in the future');
  if (claims.nonce !== c.nonce) throw bad('nonce does not match the sign-in');
  if (typeof claims.sub !== 'string' || claims.sub === '') throw bad('has no subject (sub)');
  return claims;
}
