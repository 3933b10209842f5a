/*
 * The browser sign-in shared by `openid-connect` and `oauth` (authorization-code flow with PKCE),
 * with sessions in sealed cookies (sealed-cookie.ts). What differs between the two actions — where
 * the endpoints come from, how a code becomes an identity — is an `IdentityProvider`.
 *
 * Per request, in this order:
 *   1. Special paths (the upstream never sees them when they are for this action):
 *      - CALLBACK_PATH `/meshgate/oauth/callback?code&state`: the provider's redirect back. The
 *        state names the action (`<auth_id>.<random>`), so with several auth actions each takes
 *        its own. Checks: a pending-login cookie for that state, sealed for this action, younger
 *        than 10 minutes, with the same state → the code is redeemed (code verifier, nonce) →
 *        new session cookie, pending cookie cleared → 302 to the page the sign-in started from.
 *      - `/ngrok/login`, `/meshgate/login` `[?auth_id=&redirect_path=]`: start a sign-in now,
 *        asking the provider to re-authenticate (OIDC `prompt=login`); back to redirect_path (/).
 *      - `/ngrok/logout`, `/meshgate/logout` `[?auth_id=&redirect_path=]`: clear the session
 *        cookie; 302 to redirect_path, else a "signed out" page. The provider's own session stays.
 *      A query auth_id that is not this action's skips it (another auth action may take it).
 *   2. `allow_cors_preflight` and a CORS preflight → continue without a session.
 *   3. Session cookie: unsealed (a tampered or foreign cookie reads as none), then ended when older
 *      than max_session_duration or idle longer than idle_session_timeout. When
 *      userinfo_refresh_interval is due, the user is re-read from the provider (a refused access
 *      token ends the session; an unreachable provider keeps it and sets error.*).
 *   4. Valid → result variables set, the auth cookies removed from the forwarded Cookie header, and
 *      (at most once per min(60 s, idle/4)) a refreshed cookie added to the final response through
 *      `Exchange.responseHeaders`, which slides the idle timeout. The phase continues.
 *   5. No valid session → a browser navigation (GET/HEAD, Accept text/html, not XHR or
 *      `Sec-Fetch-Mode` other than navigate) gets a 302 to the provider with a pending-login
 *      cookie; anything else (API clients, fetch, POST) gets 401 MG_AUTH_REQUIRED naming the login
 *      URL — redirecting a POST would lose its body and an API client cannot sign in anyway.
 *
 * Errors: a refused sign-in is MG_OAUTH_FAILED (401), a provider that cannot be reached or answers
 * nonsense is MG_IDP_UNAVAILABLE (502); both as a page naming the code with a retry link.
 * Result variables: `actions.ngrok.<oidc|oauth>.*` (see publish()).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ErrorCode } from '../../../core/errors.js';
import type { Template } from '../../cel/index.js';
import { PolicyRuntimeError } from '../../policy-runtime-error.js';
import type { PolicyRequest } from '../../types.js';
import { jwtNow } from '../jwks.js';
import type { ActionDefinition, ActionOutcome, ActionRunContext } from '../registry.js';
import { authRequired, errorPage, redirect, signedOut } from './auth-responses.js';
import type { AuthSettings } from './auth-settings.js';
import { clearCookie, cookieScope, hideAuthCookies, loginCookieName, readCookie, sessionCookieName, setCookie, type CookieScope } from './cookies.js';
import { AuthFailure, oauthFailed } from './idp-http.js';
import { seal, sessionKeyOf, unseal } from './sealed-cookie.js';

export const CALLBACK_PATH = '/meshgate/oauth/callback';
const LOGIN_PATHS: ReadonlySet<string> = new Set(['/ngrok/login', '/meshgate/login']);
const LOGOUT_PATHS: ReadonlySet<string> = new Set(['/ngrok/logout', '/meshgate/logout']);
/** How long a started sign-in may take. */
export const LOGIN_TTL_MS = 10 * 60_000;
/** Longest sealed cookie value written; larger sessions drop id_token, then refresh_token, then access_token. */
export const MAX_COOKIE_VALUE = 3800;

export interface Identity {
  readonly sub: string;
  readonly email: string;
  readonly name: string;
}

export interface SignIn {
  readonly identity: Identity;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly idToken: string;
}

export interface Client {
  readonly id: string;
  readonly secret: string;
}

/**
 * What one auth action contributes to the shared flow. Built at load; must be safe to share
 * between concurrent requests. Its methods may wait on the network (bounded, see idp-http.ts).
 */
export interface IdentityProvider {
  /** Result variables go to `actions.ngrok.<resultName>`. */
  readonly resultName: 'oidc' | 'oauth';
  /** Stable text naming the provider, bound into every cookie (issuer, or provider + authorize URL). */
  readonly key: string;
  readonly pkce: boolean;
  readonly nonce: boolean;
  /** Scopes to request (the action's defaults plus the configured ones). */
  readonly scopes: readonly string[];
  /** Extra authorize parameters for an explicit /ngrok/login (force re-authentication). */
  readonly forceLoginParams: ReadonlyArray<readonly [string, string]>;
  /** The authorize endpoint, synchronously when known; throws or rejects with AuthFailure. */
  authorizeEndpoint(): string | Promise<string>;
  /** Redeems an authorization code; rejects with AuthFailure. */
  redeem(code: string, redirectUri: string, verifier: string, nonce: string, client: Client): Promise<SignIn>;
  /**
   * Re-reads the user with an access token ('revoked' when refused); undefined (or a Promise of
   * it) when the provider has no way to.
   */
  refresh(accessToken: string, client: Client): Promise<Identity | 'revoked' | undefined> | undefined;
}

export interface AuthAction {
  readonly settings: AuthSettings;
  readonly provider: IdentityProvider;
}

/** The session as sealed in the cookie (short keys: cookies are small). Times in ms since the epoch. */
interface Session {
  sid: string;
  sub: string;
  em: string;
  nm: string;
  /** signed in at */
  ct: number;
  /** last request seen (as of the last cookie refresh) */
  ls: number;
  /** userinfo read at */
  ui: number;
  at: string;
  rt: string;
  it: string;
}

interface PendingLogin {
  st: string;
  n: string;
  cv: string;
  rp: string;
  ct: number;
}

/** Runs the action for one request. */
/**
 * What oauth and openid-connect share as action definitions: the phase, "may end the phase"
 * (sign-in redirects and refusals), the session credential (check-auth.ts) and the run.
 */
export const AUTH_ACTION_COMMON: Pick<ActionDefinition<AuthAction>, 'phases' | 'termination' | 'authCredential' | 'run'> = {
  phases: ['on_http_request'],
  termination: () => 'maybe',
  authCredential: (c) => `session:${c.settings.authId}`,
  run: (cx, c) => runAuthAction(cx, c),
};

export function runAuthAction(cx: ActionRunContext, a: AuthAction): ActionOutcome | Promise<ActionOutcome> {
  return new AuthRequest(cx, a).run();
}

function b64(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function isSession(v: Record<string, unknown> | undefined): v is Record<string, unknown> & Session {
  if (v === undefined) return false;
  for (const k of ['sid', 'sub', 'em', 'nm', 'at', 'rt', 'it']) if (typeof v[k] !== 'string') return false;
  for (const k of ['ct', 'ls', 'ui']) if (typeof v[k] !== 'number') return false;
  return true;
}

function isPending(v: Record<string, unknown> | undefined): v is Record<string, unknown> & PendingLogin {
  return v !== undefined && ['st', 'n', 'cv', 'rp'].every((k) => typeof v[k] === 'string') && typeof v.ct === 'number';
}

/**
 * `/path?query` when it is a safe local path (not a special path), else '/'. Control characters
 * are refused (browsers drop tabs and newlines, so `/<TAB>/evil.example` would become
 * `//evil.example`); other non-printable-ASCII characters are percent-encoded for the header.
 */
function safeReturnPath(p: string | null): string {
  if (p === null || !p.startsWith('/') || p.startsWith('//') || p.startsWith('/\\') || /[\x00-\x1f\x7f]/.test(p) || p.length > 2048) return '/';
  const path = p.split('?')[0];
  if (path === CALLBACK_PATH || LOGIN_PATHS.has(path) || LOGOUT_PATHS.has(path)) return '/';
  return p.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
}

/** A top-level browser navigation, which can follow a sign-in redirect and come back. */
export function isNavigation(req: PolicyRequest): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const h = req.headers;
  if ((h['x-requested-with']?.[0] ?? '').toLowerCase() === 'xmlhttprequest') return false;
  const mode = h['sec-fetch-mode']?.[0];
  if (mode !== undefined && mode.toLowerCase() !== 'navigate') return false;
  return (h['accept'] ?? []).some((v) => v.toLowerCase().includes('text/html'));
}

function isPreflight(req: PolicyRequest): boolean {
  return req.method === 'OPTIONS' && req.headers['origin'] !== undefined && req.headers['access-control-request-method'] !== undefined;
}

/** How often a valid session's cookie is rewritten (sliding the idle timeout). */
function refreshEvery(idleMs: number): number {
  return Math.min(60_000, Math.floor(idleMs / 4));
}

class AuthRequest {
  private readonly s: AuthSettings;
  private readonly p: IdentityProvider;
  private readonly req: PolicyRequest;
  private readonly key: Buffer;
  private readonly client: Client;
  private readonly binding: string;
  private readonly sessionName: string;
  private readonly scope: CookieScope;
  private readonly query: URLSearchParams;

  constructor(
    private readonly cx: ActionRunContext,
    a: AuthAction,
  ) {
    this.s = a.settings;
    this.p = a.provider;
    this.req = cx.exchange.req;
    this.key = sessionKeyOf(cx.host);
    this.client = { id: this.credential(this.s.clientId, 'client_id'), secret: this.credential(this.s.clientSecret, 'client_secret') };
    this.binding = `${this.p.key}\n${this.client.id}\n${this.s.authId}`;
    this.sessionName = sessionCookieName(this.s.authId);
    this.scope = cookieScope(this.req, this.s.cookieDomain);
    this.query = new URLSearchParams(this.req.query);
  }

  private credential(t: Template, field: string): string {
    const v = t.isStatic ? t.staticValue : this.cx.evalString(t);
    if (v === '') throw new PolicyRuntimeError(`${this.s.path}.${field}`, 'evaluated to an empty string');
    return v;
  }

  run(): ActionOutcome | Promise<ActionOutcome> {
    const path = this.req.path;
    if (path === CALLBACK_PATH) {
      const state = this.query.get('state') ?? '';
      const owner = state.includes('.') ? state.slice(0, state.indexOf('.')) : '';
      if (owner === this.s.authId) return this.callback(state);
    } else if (LOGIN_PATHS.has(path) && this.targetsMe()) {
      return this.login(safeReturnPath(this.query.get('redirect_path')), true, []);
    } else if (LOGOUT_PATHS.has(path) && this.targetsMe()) {
      return this.logout();
    }
    if (this.s.allowCorsPreflight && isPreflight(this.req)) {
      this.publish(undefined, { timedOut: false, maxReached: false, refreshed: false });
      hideAuthCookies(this.req, this.sessionName);
      return undefined;
    }
    return this.check();
  }

  private targetsMe(): boolean {
    const id = this.query.get('auth_id');
    return id === null || id === '' || id === this.s.authId;
  }

  // --- sessions ---

  private check(): ActionOutcome | Promise<ActionOutcome> {
    const raw = readCookie(this.req.headers, this.sessionName);
    if (raw === undefined) return this.unauthenticated(false, false, false);
    const v = unseal(this.key, this.aad('session', this.sessionName), raw);
    if (!isSession(v)) return this.unauthenticated(true, false, false);
    const now = jwtNow();
    if (now >= v.ct + this.s.maxSessionMs) return this.unauthenticated(true, false, true);
    if (now >= v.ls + this.s.idleMs) return this.unauthenticated(true, true, false);
    const due = this.s.userinfoRefreshMs > 0 && v.at !== '' && now - v.ui >= this.s.userinfoRefreshMs;
    const pending = due ? this.p.refresh(v.at, this.client) : undefined;
    if (pending === undefined) return this.admit(v, now, false);
    return pending.then(
      (id) => {
        if (id === 'revoked') return this.unauthenticated(true, false, false, 'the identity provider no longer accepts the session');
        if (id === undefined) return this.admit(v, now, false);
        Object.assign(v, { em: id.email || v.em, nm: id.name || v.nm, ui: now });
        return this.admit(v, now, true);
      },
      (e: unknown) => {
        // provider unreachable: keep the session, and wait a full interval before trying again
        v.ui = now;
        return this.admit(v, now, false, e instanceof AuthFailure ? e : undefined);
      },
    );
  }

  /** A valid session: results, cookies hidden, the cookie rewritten when due (or after a refresh attempt). */
  private admit(v: Session, now: number, refreshed: boolean, error?: AuthFailure): ActionOutcome {
    if (refreshed || error !== undefined || now - v.ls >= refreshEvery(this.s.idleMs)) {
      v.ls = now;
      const x = this.cx.exchange;
      const h = (x.responseHeaders ??= {});
      (h['set-cookie'] ??= []).push(setCookie(this.sessionName, this.sealSession(v), (v.ct + this.s.maxSessionMs - now) / 1000, this.scope));
    }
    this.publish(v, { timedOut: false, maxReached: false, refreshed }, error);
    hideAuthCookies(this.req, this.sessionName);
    return undefined;
  }

  private unauthenticated(hadCookie: boolean, timedOut: boolean, maxReached: boolean, why?: string): ActionOutcome | Promise<ActionOutcome> {
    const message = why ?? (timedOut ? 'the session timed out' : maxReached ? 'the session reached its maximum duration' : 'no valid session');
    this.publish(undefined, { timedOut, maxReached, refreshed: false }, new AuthFailure('MG_AUTH_REQUIRED', message));
    const clear = hadCookie ? [clearCookie(this.sessionName, this.scope)] : [];
    const back = safeReturnPath(this.req.path + (this.req.query ? `?${this.req.query}` : ''));
    if (!isNavigation(this.req)) return { kind: 'respond', response: authRequired(this.loginUrl(back), clear) };
    return this.login(back, false, clear);
  }

  private sealSession(v: Session): string {
    const aad = this.aad('session', this.sessionName);
    let sealed = seal(this.key, aad, v);
    for (const drop of ['it', 'rt', 'at'] as const) {
      if (sealed.length <= MAX_COOKIE_VALUE) break;
      sealed = seal(this.key, aad, { ...v, [drop]: '' });
      v = { ...v, [drop]: '' };
    }
    return sealed;
  }

  private aad(purpose: 'session' | 'login', name: string): string {
    return `meshgate-${purpose}\n${name}\n${this.binding}`;
  }

  // --- sign-in ---

  private origin(): string {
    const r = this.req;
    const dflt = r.scheme === 'https' ? 443 : 80;
    return `${r.scheme}://${r.host}${r.port === dflt || !r.port ? '' : `:${r.port}`}`;
  }

  private loginUrl(returnPath: string): string {
    const q = new URLSearchParams();
    if (this.s.authId !== '') q.set('auth_id', this.s.authId);
    if (returnPath !== '/') q.set('redirect_path', returnPath);
    const qs = q.toString();
    return `${this.origin()}/ngrok/login${qs ? `?${qs}` : ''}`;
  }

  private login(returnPath: string, force: boolean, cookies: string[]): ActionOutcome | Promise<ActionOutcome> {
    let ep: string | Promise<string>;
    try {
      ep = this.p.authorizeEndpoint();
    } catch (e) {
      return this.fail(e, returnPath, cookies);
    }
    if (typeof ep === 'string') return this.toProvider(ep, returnPath, force, cookies);
    return ep.then(
      (u) => this.toProvider(u, returnPath, force, cookies),
      (e: unknown) => this.fail(e, returnPath, cookies),
    );
  }

  private toProvider(authorizeUrl: string, returnPath: string, force: boolean, cookies: string[]): ActionOutcome {
    const pending: PendingLogin = { st: `${this.s.authId}.${b64(24)}`, n: b64(16), cv: b64(32), rp: returnPath, ct: jwtNow() };
    const u = new URL(authorizeUrl);
    const q = u.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', this.client.id);
    q.set('redirect_uri', this.origin() + CALLBACK_PATH);
    q.set('scope', this.p.scopes.join(' '));
    q.set('state', pending.st);
    if (this.p.nonce) q.set('nonce', pending.n);
    if (this.p.pkce) {
      q.set('code_challenge', createHash('sha256').update(pending.cv).digest('base64url'));
      q.set('code_challenge_method', 'S256');
    }
    for (const [k, v] of this.s.authzParams) q.set(k, v);
    if (force) for (const [k, v] of this.p.forceLoginParams) q.set(k, v);
    const name = loginCookieName(pending.st);
    const sealed = seal(this.key, this.aad('login', name), pending);
    return { kind: 'respond', response: redirect(u.toString(), [...cookies, setCookie(name, sealed, LOGIN_TTL_MS / 1000, this.scope)]) };
  }

  private async callback(state: string): Promise<ActionOutcome> {
    const name = loginCookieName(state);
    const cookies = [clearCookie(name, this.scope)];
    const raw = readCookie(this.req.headers, name);
    const pending = raw === undefined ? undefined : unseal(this.key, this.aad('login', name), raw);
    const rp = isPending(pending) ? pending.rp : '/';
    try {
      const err = this.query.get('error');
      if (err !== null) {
        const desc = this.query.get('error_description');
        throw oauthFailed(`the identity provider refused the sign-in: ${err.slice(0, 100)}${desc ? `: ${desc.slice(0, 200)}` : ''}`);
      }
      if (raw === undefined) throw oauthFailed('no sign-in is in progress in this browser (it expired after 10 minutes, or was started elsewhere)');
      if (!isPending(pending) || pending.st !== state) throw oauthFailed('the sign-in state does not match this browser');
      if (jwtNow() - pending.ct > LOGIN_TTL_MS) throw oauthFailed('the sign-in took longer than 10 minutes');
      const code = this.query.get('code');
      if (!code) throw oauthFailed('the identity provider sent no authorization code');
      const signIn = await this.p.redeem(code, this.origin() + CALLBACK_PATH, pending.cv, pending.n, this.client);
      const now = jwtNow();
      const v: Session = {
        sid: `ses_${b64(12)}`,
        sub: signIn.identity.sub,
        em: signIn.identity.email,
        nm: signIn.identity.name,
        ct: now,
        ls: now,
        ui: now,
        at: signIn.accessToken,
        rt: signIn.refreshToken,
        it: signIn.idToken,
      };
      cookies.push(setCookie(this.sessionName, this.sealSession(v), this.s.maxSessionMs / 1000, this.scope));
      this.publish(v, { timedOut: false, maxReached: false, refreshed: false });
      return { kind: 'respond', response: redirect(rp, cookies) };
    } catch (e) {
      return this.fail(e, rp, cookies);
    }
  }

  private logout(): ActionOutcome {
    const cookies = [clearCookie(this.sessionName, this.scope)];
    const to = this.query.get('redirect_path');
    if (to !== null) return { kind: 'respond', response: redirect(safeReturnPath(to), cookies) };
    return { kind: 'respond', response: signedOut(this.req, this.loginUrl('/'), cookies) };
  }

  /** An AuthFailure → the error page; anything else is a bug and goes to the run loop. */
  private fail(e: unknown, returnPath: string, cookies: string[]): ActionOutcome {
    if (!(e instanceof AuthFailure)) throw e;
    this.publish(undefined, { timedOut: false, maxReached: false, refreshed: false }, e);
    return { kind: 'respond', response: errorPage(this.req, e.code, e.message, this.loginUrl(returnPath), cookies) };
  }

  // --- result variables ---

  /**
   * `actions.ngrok.<oidc|oauth>`: identity.{id, email, name, provider_user_id,
   * current_session_id (oidc) | current_provider_session_id (oauth)}, access_token,
   * refresh_token, identity_token (oidc), expires_at (RFC 3339, '' without a session),
   * session_timed_out, session_max_duration_reached, userinfo_refreshed, error.{code, message}
   * ('' when none). openid-connect also publishes the same map as `openid_connect`.
   */
  private publish(v: Session | undefined, flags: { timedOut: boolean; maxReached: boolean; refreshed: boolean }, error?: AuthFailure): void {
    const oidc = this.p.resultName === 'oidc';
    const identity: Record<string, string> = {
      id: v ? 'idt_' + createHash('sha256').update(`${this.p.key}\n${v.sub}`).digest('hex').slice(0, 24) : '',
      email: v?.em ?? '',
      name: v?.nm ?? '',
      provider_user_id: v?.sub ?? '',
      [oidc ? 'current_session_id' : 'current_provider_session_id']: v?.sid ?? '',
    };
    const expires = v ? Math.min(v.ct + this.s.maxSessionMs, v.ls + this.s.idleMs) : 0;
    const result: Record<string, unknown> = {
      identity,
      access_token: v?.at ?? '',
      refresh_token: v?.rt ?? '',
      expires_at: v ? new Date(expires).toISOString() : '',
      session_timed_out: flags.timedOut,
      session_max_duration_reached: flags.maxReached,
      userinfo_refreshed: flags.refreshed,
      error: { code: error?.code ?? ('' as ErrorCode | ''), message: error?.message ?? '' },
    };
    if (oidc) result.identity_token = v?.it ?? '';
    this.cx.setResult(this.p.resultName, result);
    if (oidc) this.cx.setResult('openid_connect', result);
  }
}
