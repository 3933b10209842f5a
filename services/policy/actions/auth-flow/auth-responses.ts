/**
 * The answers `openid-connect` and `oauth` make themselves: redirects (to the provider, back to
 * the page a sign-in started from), the sign-in error page, the signed-out page and the 401 for
 * API clients. Every one is `cache-control: no-store`; errors carry `meshgate-error-code` and are
 * HTML for browsers (Accept: text/html) and the gateway's JSON error body otherwise.
 */
import { ERRORS, type ErrorCode } from '../../../core/errors.js';
import type { HeaderMap, PolicyRequest, SyntheticResponse } from '../../types.js';
import { ERROR_HEADER } from '../util.js';

const NO_STORE = ['no-store'];

function withCookies(h: HeaderMap, cookies: readonly string[]): HeaderMap {
  if (cookies.length > 0) h['set-cookie'] = [...cookies];
  return h;
}

export function redirect(location: string, cookies: readonly string[]): SyntheticResponse {
  return { status: 302, headers: withCookies({ location: [location], 'cache-control': NO_STORE }, cookies), body: '' };
}

export function acceptsHtml(req: PolicyRequest): boolean {
  return (req.headers['accept'] ?? []).some((v) => v.toLowerCase().includes('text/html'));
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, paragraphs: string[]): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body><h1>${escapeHtml(title)}</h1>\n${paragraphs.map((p) => `<p>${p}</p>`).join('\n')}\n</body></html>\n`;
}

/** A failed sign-in (or an IdP that cannot be reached): status from the catalog, the code visible. */
export function errorPage(req: PolicyRequest, code: ErrorCode, message: string, retryUrl: string | undefined, cookies: readonly string[]): SyntheticResponse {
  const status = ERRORS[code].http;
  if (!acceptsHtml(req)) {
    const body = JSON.stringify({ error: { code, message } });
    return { status, headers: withCookies({ 'content-type': ['application/json'], [ERROR_HEADER]: [code], 'cache-control': NO_STORE }, cookies), body };
  }
  const parts = [escapeHtml(message), `Error code: <code>${code}</code>`];
  if (retryUrl !== undefined) parts.push(`<a href="${escapeHtml(retryUrl)}">Sign in again</a>`);
  return {
    status,
    headers: withCookies({ 'content-type': ['text/html; charset=utf-8'], [ERROR_HEADER]: [code], 'cache-control': NO_STORE }, cookies),
    body: page(ERRORS[code].message, parts),
  };
}

/** 401 for a client that cannot follow a sign-in (API call, XHR, non-GET). */
export function authRequired(loginUrl: string, cookies: readonly string[]): SyntheticResponse {
  const code: ErrorCode = 'MG_AUTH_REQUIRED';
  const body = JSON.stringify({ error: { code, message: `sign in first: open ${loginUrl} in a browser` } });
  return { status: 401, headers: withCookies({ 'content-type': ['application/json'], [ERROR_HEADER]: [code], 'cache-control': NO_STORE }, cookies), body };
}

/** The answer to /ngrok/logout without redirect_path. */
export function signedOut(req: PolicyRequest, loginUrl: string, cookies: readonly string[]): SyntheticResponse {
  if (!acceptsHtml(req)) {
    return { status: 200, headers: withCookies({ 'content-type': ['application/json'], 'cache-control': NO_STORE }, cookies), body: '{"signed_out":true}' };
  }
  return {
    status: 200,
    headers: withCookies({ 'content-type': ['text/html; charset=utf-8'], 'cache-control': NO_STORE }, cookies),
    body: page('Signed out', ['Your session on this site has ended.', `<a href="${escapeHtml(loginUrl)}">Sign in again</a>`]),
  };
}
