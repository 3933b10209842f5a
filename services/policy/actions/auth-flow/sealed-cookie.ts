/**
 * Sealed cookies for `openid-connect` and `oauth`: the session and the pending sign-in live in the
 * browser, encrypted and authenticated, so any edge holding the same key can read them — no
 * session store, and a session survives a request landing in another region.
 *
 * Key (`sessionKeyOf`): the edge hands the engine a 32-byte key through
 * `RequestPhaseHost.sessionKey`. An edge derives it with HKDF-SHA256 from its `cluster_secret`
 * (`deriveSessionKey`), so every edge of a cluster has the same one. Without a cluster secret (and
 * in `meshgate policy test`) a random per-process key is used: sessions then end when the process
 * restarts and are not accepted by other edges.
 *
 * Format: `v1.` + base64url(salt[16] | iv[12] | ciphertext | tag[16]).
 *   - cipher: AES-256-GCM;
 *   - key per cookie: HMAC-SHA256(master key, salt), a fresh random salt each time, so the
 *     96-bit random IV never has to stay unique across billions of cookies under one key;
 *   - additional data: purpose, cookie name and the action's binding (IdP + client id), so a
 *     cookie cannot be moved to another name, another purpose or another IdP;
 *   - plaintext: raw-deflated JSON (tokens are long; cookies are limited to ~4 KB).
 * Anything that fails to decode, decrypt or parse reads as "no cookie": a tampered or foreign
 * cookie simply means signing in again.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RequestPhaseHost } from '../../types.js';

export const SESSION_KEY_BYTES = 32;
const SALT = 16;
const IV = 12;
const TAG = 16;
const PREFIX = 'v1.';
/** Most bytes a sealed payload may inflate to (they are small; this only bounds a forged one). */
const MAX_PLAINTEXT = 64 * 1024;

/**
 * The session key of a cluster: HKDF-SHA256 over `cluster_secret` (fixed salt and info, so every
 * edge derives the same 32 bytes). Undefined when there is no secret (the engine then uses a
 * per-process key).
 */
export function deriveSessionKey(clusterSecret: string): Buffer | undefined {
  if (clusterSecret === '') return undefined;
  return Buffer.from(hkdfSync('sha256', clusterSecret, 'meshgate/v1', 'traffic-policy auth session cookies', SESSION_KEY_BYTES));
}

let processKey: Buffer | undefined;

/** The key the host provides, or this process's random key. */
export function sessionKeyOf(host: RequestPhaseHost<unknown> | undefined): Buffer {
  const k = host?.sessionKey;
  if (k !== undefined && k.length === SESSION_KEY_BYTES) return k;
  return (processKey ??= randomBytes(SESSION_KEY_BYTES));
}

function cookieKey(master: Buffer, salt: Buffer): Buffer {
  return createHmac('sha256', master).update(salt).digest();
}

/** Encrypts and authenticates `value` (JSON) bound to `aad`. */
export function seal(master: Buffer, aad: string, value: object): string {
  const salt = randomBytes(SALT);
  const iv = randomBytes(IV);
  const c = createCipheriv('aes-256-gcm', cookieKey(master, salt), iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([c.update(deflateRawSync(Buffer.from(JSON.stringify(value), 'utf8'))), c.final()]);
  return PREFIX + Buffer.concat([salt, iv, body, c.getAuthTag()]).toString('base64url');
}

/** The value sealed with the same key and `aad`, or undefined for anything else (tampered, foreign, garbage). */
export function unseal(master: Buffer, aad: string, sealed: string): Record<string, unknown> | undefined {
  if (!sealed.startsWith(PREFIX) || !/^[A-Za-z0-9_-]+$/.test(sealed.slice(PREFIX.length))) return undefined;
  const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
  if (raw.length < SALT + IV + TAG + 1) return undefined;
  try {
    const salt = raw.subarray(0, SALT);
    const iv = raw.subarray(SALT, SALT + IV);
    const d = createDecipheriv('aes-256-gcm', cookieKey(master, salt), iv);
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(raw.subarray(raw.length - TAG));
    const packed = Buffer.concat([d.update(raw.subarray(SALT + IV, raw.length - TAG)), d.final()]);
    const v: unknown = JSON.parse(inflateRawSync(packed, { maxOutputLength: MAX_PLAINTEXT }).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
