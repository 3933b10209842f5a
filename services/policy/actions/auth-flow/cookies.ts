/**
 * Reading, writing and hiding the auth cookies of `openid-connect` and `oauth`.
 *
 * Names: `meshgate_session` (or `meshgate_session_<auth_id>`) holds the session;
 * `meshgate_login_<12 chars of the state>` holds one pending sign-in (several tabs may sign in at
 * once). Both are `Path=/; HttpOnly; SameSite=Lax` (Lax: the IdP's redirect back is a top-level
 * GET, which carries them), `Secure` on https, and `Domain=<auth_cookie_domain>` when configured
 * and the request host is inside that domain (browsers drop a cookie for a foreign domain).
 *
 * The upstream never sees them: `hideAuthCookies` removes them from the forwarded Cookie header.
 */
import type { HeaderMap, PolicyRequest } from '../../types.js';

export const SESSION_COOKIE = 'meshgate_session';
export const LOGIN_COOKIE_PREFIX = 'meshgate_login_';

export function sessionCookieName(authId: string): string {
  return authId === '' ? SESSION_COOKIE : `${SESSION_COOKIE}_${authId}`;
}

export function loginCookieName(state: string): string {
  const random = state.slice(state.indexOf('.') + 1);
  return LOGIN_COOKIE_PREFIX + random.slice(0, 12);
}

/** Each `name=value` pair of the request's Cookie header(s), in order. */
export function cookiePairs(headers: HeaderMap): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of headers['cookie'] ?? []) {
    for (const part of line.split(';')) {
      const i = part.indexOf('=');
      if (i <= 0) continue;
      out.push([part.slice(0, i).trim(), part.slice(i + 1).trim()]);
    }
  }
  return out;
}

/** The value of the first cookie called `name`, or undefined. */
export function readCookie(headers: HeaderMap, name: string): string | undefined {
  for (const [k, v] of cookiePairs(headers)) if (k === name) return v;
  return undefined;
}

/** Removes this action's session cookie and every pending-login cookie from the forwarded request. */
export function hideAuthCookies(req: PolicyRequest, sessionName: string): void {
  if (req.headers['cookie'] === undefined) return;
  const all = cookiePairs(req.headers);
  const kept = all.filter(([k]) => k !== sessionName && !k.startsWith(LOGIN_COOKIE_PREFIX));
  if (kept.length === all.length) return;
  if (kept.length === 0) delete req.headers['cookie'];
  else req.headers['cookie'] = [kept.map(([k, v]) => `${k}=${v}`).join('; ')];
}

export interface CookieScope {
  readonly secure: boolean;
  /** Domain attribute, when configured and valid for the request host. */
  readonly domain: string | undefined;
}

/** Where cookies for this request go: Secure on https, Domain when the host is inside it. */
export function cookieScope(req: PolicyRequest, cookieDomain: string | undefined): CookieScope {
  let domain: string | undefined;
  if (cookieDomain !== undefined) {
    const d = cookieDomain.replace(/^\./, '');
    if (req.host === d || req.host.endsWith('.' + d)) domain = d;
  }
  return { secure: req.scheme === 'https', domain };
}

/** A Set-Cookie value; `maxAgeS` 0 deletes the cookie. */
export function setCookie(name: string, value: string, maxAgeS: number, scope: CookieScope): string {
  let s = `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; HttpOnly; SameSite=Lax`;
  if (scope.secure) s += '; Secure';
  if (scope.domain !== undefined) s += `; Domain=${scope.domain}`;
  return s;
}

export function clearCookie(name: string, scope: CookieScope): string {
  return setCookie(name, '', 0, scope);
}
