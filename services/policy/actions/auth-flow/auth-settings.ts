/**
 * The config fields `openid-connect` and `oauth` share, read and checked once at load.
 *
 *   auth_id                    1..64 of [A-Za-z0-9_-]; scopes the session cookie and selects this
 *                              action in /ngrok/login?auth_id=... (default: none)
 *   client_id, client_secret   required, `${}` interpolated. meshgate has no managed OAuth apps:
 *                              register one with the provider (redirect URI
 *                              `<scheme>://<endpoint host>/meshgate/oauth/callback`)
 *   scopes                     0..20 extra scopes, added to the defaults of the action
 *   authz_url_params           0..20 extra authorize-URL parameters (string values); the ones the
 *                              flow sets itself (client_id, state, nonce, ...) are refused
 *   max_session_duration       1s..8760h, default 168h: a session ends this long after sign-in
 *   idle_session_timeout       1s..8760h, default 24h: ... or after this long without a request.
 *                              `idle_session_duration` (ngrok's OIDC spelling) is accepted too
 *   userinfo_refresh_interval  1s..8760h or 0, default 0 (off): re-read the user from the
 *                              provider's userinfo endpoint this often; a refused access token ends
 *                              the session
 *   allow_cors_preflight       default false: let CORS preflights (OPTIONS with Origin and
 *                              Access-Control-Request-Method) through without a session
 *   auth_cookie_domain         Domain attribute of the cookies (e.g. `example.com` to share one
 *                              sign-in across subdomains); only used on hosts inside it
 * Durations are Go-style strings: `90s`, `15m`, `1h30m`, `500ms`.
 */
import type { Template } from '../../cel/index.js';
import { describe, isPlainMap } from '../config.js';
import type { ActionCompileContext } from '../registry.js';
import { readBool, readStringList } from '../util.js';

export const AUTH_FIELDS = [
  'auth_id',
  'client_id',
  'client_secret',
  'scopes',
  'authz_url_params',
  'max_session_duration',
  'idle_session_timeout',
  'idle_session_duration',
  'userinfo_refresh_interval',
  'allow_cors_preflight',
  'auth_cookie_domain',
] as const;

/** Authorize-URL parameters the flow sets itself. */
const RESERVED_PARAMS = ['client_id', 'redirect_uri', 'response_type', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'scope'];
const HOUR_MS = 3_600_000;
const MAX_DURATION_MS = 8760 * HOUR_MS;

export interface AuthSettings {
  readonly authId: string;
  readonly clientId: Template;
  readonly clientSecret: Template;
  /** Extra scopes from the config (the action adds its defaults). */
  readonly scopes: readonly string[];
  readonly authzParams: ReadonlyArray<readonly [string, string]>;
  readonly maxSessionMs: number;
  readonly idleMs: number;
  /** 0 = never. */
  readonly userinfoRefreshMs: number;
  readonly allowCorsPreflight: boolean;
  readonly cookieDomain: string | undefined;
  /** The action's config path, for runtime error labels. */
  readonly path: string;
}

/** `1h30m`, `90s`, `500ms`, `0` → milliseconds; undefined when not a duration. */
export function parseGoDuration(s: string): number | undefined {
  const t = s.trim();
  if (t === '0') return 0;
  if (t === '' || !/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * HOUR_MS : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return Math.round(ms);
}

function readDuration(config: Record<string, unknown>, key: string, dfltMs: number, allowZero: boolean, cx: ActionCompileContext): number | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dfltMs;
  const range = `${allowZero ? '0 (off) or ' : ''}1s to 8760h`;
  if (typeof v !== 'string') {
    cx.issue(key, `must be a duration such as '30m' or '24h' (${range}), got ${describe(v)}`);
    return undefined;
  }
  const ms = parseGoDuration(v);
  if (ms === undefined) {
    cx.issue(key, `'${v}' is not a duration; write e.g. '90s', '30m' or '12h'`);
    return undefined;
  }
  if ((ms === 0 && !allowZero) || (ms !== 0 && ms < 1000) || ms > MAX_DURATION_MS) {
    cx.issue(key, `must be ${range}, got '${v}'`);
    return undefined;
  }
  return ms;
}

function readCredential(config: Record<string, unknown>, key: string, cx: ActionCompileContext, hint: string): Template | undefined {
  const v = config[key];
  if (v === undefined || v === null || v === '') {
    cx.issue(key, `is required: ${hint}`);
    return undefined;
  }
  if (typeof v !== 'string') {
    cx.issue(key, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  return cx.template(v, key);
}

function readParams(config: Record<string, unknown>, cx: ActionCompileContext): Array<[string, string]> | undefined {
  const v = config.authz_url_params;
  if (v === undefined || v === null) return [];
  if (!isPlainMap(v)) {
    cx.issue('authz_url_params', `must be a map of parameter name to value, got ${describe(v)}`);
    return undefined;
  }
  const keys = Object.keys(v);
  if (keys.length > 20) {
    cx.issue('authz_url_params', `has ${keys.length} parameters; at most 20 are allowed`);
    return undefined;
  }
  let ok = true;
  const out: Array<[string, string]> = [];
  for (const k of keys) {
    const val = v[k];
    if (RESERVED_PARAMS.includes(k)) {
      cx.issue(`authz_url_params.${k}`, `'${k}' is set by the sign-in flow itself${k === 'scope' ? '; use scopes' : ''}`);
      ok = false;
    } else if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
      cx.issue(`authz_url_params.${k}`, `must be a string, got ${describe(val)}`);
      ok = false;
    } else out.push([k, String(val)]);
  }
  return ok ? out : undefined;
}

/** Reads the shared fields; `clientHint` says where client_id/client_secret come from (in messages). */
export function readAuthSettings(config: Record<string, unknown>, cx: ActionCompileContext, clientHint: string): AuthSettings | undefined {
  let ok = true;
  let authId = '';
  const a = config.auth_id;
  if (a !== undefined && a !== null) {
    if (typeof a !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(a)) {
      cx.issue('auth_id', `must be 1 to 64 letters, digits, '-' or '_', got ${describe(a)}`);
      ok = false;
    } else authId = a;
  }
  const clientId = readCredential(config, 'client_id', cx, `meshgate has no managed OAuth apps; ${clientHint} and give its client_id`);
  const clientSecret = readCredential(config, 'client_secret', cx, `meshgate has no managed OAuth apps; ${clientHint} and give its client_secret`);
  const scopes = readStringList(config, 'scopes', cx, { min: 0, max: 20, what: 'scopes' });
  scopes?.forEach((s, i) => {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) {
      cx.issue(`scopes[${i}]`, `'${s}' is not a scope (no spaces, quotes or backslashes)`);
      ok = false;
    }
  });
  const authzParams = readParams(config, cx);
  const maxSessionMs = readDuration(config, 'max_session_duration', 168 * HOUR_MS, false, cx);
  let idleMs: number | undefined;
  if (config.idle_session_timeout !== undefined && config.idle_session_duration !== undefined) {
    cx.issue('idle_session_duration', 'give either idle_session_timeout or idle_session_duration (the same setting), not both');
    ok = false;
  } else {
    idleMs = readDuration(config, config.idle_session_duration !== undefined ? 'idle_session_duration' : 'idle_session_timeout', 24 * HOUR_MS, false, cx);
  }
  const userinfoRefreshMs = readDuration(config, 'userinfo_refresh_interval', 0, true, cx);
  const allowCorsPreflight = readBool(config, 'allow_cors_preflight', false, cx);
  let cookieDomain: string | undefined;
  const d = config.auth_cookie_domain;
  if (d !== undefined && d !== null) {
    if (typeof d !== 'string' || !/^\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(d) || d.length > 253) {
      cx.issue('auth_cookie_domain', `must be a domain name such as example.com, got ${describe(d)}`);
      ok = false;
    } else cookieDomain = d.toLowerCase();
  }
  if (!ok || !clientId || !clientSecret || !scopes || !authzParams || maxSessionMs === undefined || idleMs === undefined || userinfoRefreshMs === undefined || allowCorsPreflight === undefined) {
    return undefined;
  }
  return { authId, clientId, clientSecret, scopes, authzParams, maxSessionMs, idleMs, userinfoRefreshMs, allowCorsPreflight, cookieDomain, path: cx.path };
}
