/**
 * A small identity provider for tests, a real HTTP server on 127.0.0.1 (port 0), in one of two
 * modes:
 *
 * - `oidc`: `/.well-known/openid-configuration`, `/jwks` (an RSA key made with node:crypto),
 *   `/authorize` (auto-approves the configured user: redirects back with code and state),
 *   `/token` (checks client secret — Basic or form —, the code, its redirect_uri and the PKCE
 *   verifier; answers an RS256 id_token with the nonce, an access token and a refresh token) and
 *   `/userinfo` (Bearer access token).
 * - `github`: GitHub's shapes — `/login/oauth/authorize`, `/login/oauth/access_token` (a wrong
 *   secret is a 200 with `error: incorrect_client_credentials`, as GitHub does), `/api/user`
 *   (private email: `email: null`) and `/api/user/emails`.
 *
 * Knobs for negative tests: `idTokenClaims` (merged into the next id_tokens), `signWith` (another
 * key), `revoke(token)` / `revokeAll()` (userinfo answers 401), `failUserinfo` (503). `requests` records every path served.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export interface FakeUser {
  sub: string;
  email: string;
  name: string;
  /** GitHub login. */
  login: string;
}

export interface FakeProviderOptions {
  mode: 'oidc' | 'github';
  clientId: string;
  clientSecret: string;
  user: FakeUser;
}

interface Grant {
  redirectUri: string;
  challenge: string | undefined;
  nonce: string | undefined;
  used: boolean;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export class FakeProvider {
  url = '';
  readonly requests: string[] = [];
  /** Query of every authorize request, in order. */
  readonly authorizations: URLSearchParams[] = [];
  /** Merged into the claims of the id_tokens issued next. */
  idTokenClaims: Record<string, unknown> = {};
  /** Sign id_tokens with this key instead of the published one. */
  signWith: KeyObject | undefined;
  /** Userinfo answers 503 (a provider in trouble). */
  failUserinfo = false;
  private readonly key = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly grants = new Map<string, Grant>();
  private readonly tokens = new Set<string>();
  private readonly server: http.Server;

  private constructor(readonly o: FakeProviderOptions) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
  }

  static async start(o: FakeProviderOptions): Promise<FakeProvider> {
    const p = new FakeProvider(o);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.url = `http://127.0.0.1:${(p.server.address() as AddressInfo).port}`;
    return p;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Makes userinfo refuse this access token (as after a revocation). */
  revoke(token: string): void {
    this.tokens.delete(token);
  }

  /** Revokes every access token issued so far. */
  revokeAll(): void {
    this.tokens.clear();
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', this.url);
    this.requests.push(u.pathname);
    const json = (status: number, v: unknown) => {
      const text = JSON.stringify(v);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const text = (status: number, t: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(t);
    };
    const oidc = this.o.mode === 'oidc';
    switch (u.pathname) {
      case '/.well-known/openid-configuration':
        if (!oidc) return text(404, 'not found');
        return json(200, {
          issuer: this.url,
          authorization_endpoint: `${this.url}/authorize`,
          token_endpoint: `${this.url}/token`,
          userinfo_endpoint: `${this.url}/userinfo`,
          jwks_uri: `${this.url}/jwks`,
          response_types_supported: ['code'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          code_challenge_methods_supported: ['S256'],
        });
      case '/jwks':
        return json(200, { keys: [{ ...this.key.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
      case '/authorize':
      case '/login/oauth/authorize':
        return this.authorize(u.searchParams, res, text);
      case '/token':
      case '/login/oauth/access_token':
        return this.token(req, new URLSearchParams(body), json);
      case '/userinfo':
      case '/api/user':
      case '/api/user/emails': {
        if (this.failUserinfo) return json(503, { error: 'temporarily_unavailable' });
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (!token || !this.tokens.has(token)) return json(401, { error: 'invalid_token' });
        const user = this.o.user;
        if (u.pathname === '/userinfo') return json(200, { sub: user.sub, email: user.email, name: user.name });
        if (u.pathname === '/api/user') return json(200, { id: Number(user.sub), login: user.login, name: user.name, email: null });
        return json(200, [
          { email: `${user.login}@users.noreply.example.com`, primary: false, verified: true },
          { email: user.email, primary: true, verified: true },
        ]);
      }
      default:
        return text(404, 'not found');
    }
  }

  private authorize(q: URLSearchParams, res: http.ServerResponse, text: (s: number, t: string) => void): void {
    this.authorizations.push(q);
    if (q.get('client_id') !== this.o.clientId) return text(400, 'unknown client_id');
    const redirectUri = q.get('redirect_uri');
    if (!redirectUri || !/^https?:\/\//.test(redirectUri)) return text(400, 'bad redirect_uri');
    if (this.o.mode === 'oidc') {
      if (q.get('response_type') !== 'code') return text(400, 'response_type must be code');
      if (!q.get('code_challenge') || q.get('code_challenge_method') !== 'S256') return text(400, 'PKCE S256 required');
      if (!(q.get('scope') ?? '').split(' ').includes('openid')) return text(400, 'openid scope required');
    }
    const code = randomBytes(16).toString('hex');
    this.grants.set(code, { redirectUri, challenge: q.get('code_challenge') ?? undefined, nonce: q.get('nonce') ?? undefined, used: false });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (q.get('state') !== null) back.searchParams.set('state', q.get('state')!);
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  private token(req: http.IncomingMessage, form: URLSearchParams, json: (s: number, v: unknown) => void): void {
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const [a, b] = Buffer.from(basic, 'base64').toString('utf8').split(':');
      id = decodeURIComponent(a);
      secret = decodeURIComponent(b ?? '');
    }
    if (id !== this.o.clientId || secret !== this.o.clientSecret) {
      if (this.o.mode === 'github') return json(200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
      return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
    }
    const g = this.grants.get(form.get('code') ?? '');
    if (!g || g.used) return json(400, { error: 'invalid_grant', error_description: 'unknown or used code' });
    g.used = true;
    if (form.get('redirect_uri') !== g.redirectUri) return json(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
    if (g.challenge !== undefined) {
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== g.challenge) return json(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
    }
    const accessToken = 'at_' + randomBytes(12).toString('hex');
    this.tokens.add(accessToken);
    if (this.o.mode === 'github') return json(200, { access_token: accessToken, token_type: 'bearer', scope: 'read:user,user:email' });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: this.url, aud: this.o.clientId, sub: this.o.user.sub, email: this.o.user.email, name: this.o.user.name, iat: now, exp: now + 300, nonce: g.nonce, ...this.idTokenClaims };
    const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64url(claims)}`;
    const sig = sign('sha256', Buffer.from(input), this.signWith ?? this.key.privateKey).toString('base64url');
    json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt_' + randomBytes(8).toString('hex'), id_token: `${input}.${sig}` });
  }
}
