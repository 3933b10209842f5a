/**
 * `openid-connect`: only signed-in users get through; they sign in with any OpenID Connect
 * provider (ngrok's action, reference §4; the action hub calls it `oidc`). The browser flow,
 * sessions, special paths and result variables are shared with `oauth` — see
 * auth-flow/auth-flow.ts; the shared fields are described in auth-flow/auth-settings.ts.
 *
 * Own config:
 *   issuer_url   required; https (http only to a loopback host). Discovery from
 *                `<issuer_url>/.well-known/openid-configuration` on first need, cached 1 h
 *                (failures 5 s); the document's `issuer` must equal it.
 *   scopes       added to the defaults `openid profile email` (`openid` is always sent).
 *
 * Sign-in: authorization code with PKCE (S256), `state` and `nonce`; the code is redeemed at the
 * token endpoint (client_secret_basic unless the provider only offers client_secret_post); the
 * id_token is verified (signature through the provider's JWKS, iss, aud/azp, exp, iat, nonce —
 * auth-flow/id-token.ts); email and name come from the id_token, else from the userinfo endpoint.
 * An explicit /ngrok/login sends `prompt=login`. userinfo_refresh_interval re-reads the userinfo
 * endpoint with the access token.
 *
 * Result: `actions.ngrok.oidc.*` (also `actions.ngrok.openid_connect.*`): identity.{id, email,
 * name, provider_user_id, current_session_id}, identity_token, access_token, refresh_token,
 * expires_at, session_timed_out, session_max_duration_reached, userinfo_refreshed, error.{code,
 * message}.
 */
import type { AuthAction, Client, Identity, IdentityProvider, SignIn } from './auth-flow/auth-flow.js';
import { AUTH_ACTION_COMMON } from './auth-flow/auth-flow.js';
import { AUTH_FIELDS, readAuthSettings } from './auth-flow/auth-settings.js';
import { verifyIdToken } from './auth-flow/id-token.js';
import { idpCall, idpUnavailable, oauthError, oauthFailed, str } from './auth-flow/idp-http.js';
import { cachedDiscovery, discover, type OidcMetadata } from './auth-flow/oidc-discovery.js';
import { describe } from './config.js';
import { jkuProblem } from './jwt-validation.js';
import { registerAction, type ActionDefinition } from './registry.js';

const DEFAULT_SCOPES = ['openid', 'profile', 'email'];

/** A provider found through OIDC discovery. */
export class OidcProvider implements IdentityProvider {
  readonly resultName = 'oidc' as const;
  readonly key: string;
  readonly pkce = true;
  readonly nonce = true;
  readonly forceLoginParams = [['prompt', 'login']] as const;

  constructor(
    readonly issuer: string,
    readonly scopes: readonly string[],
  ) {
    this.key = `oidc ${issuer}`;
  }

  private meta(): OidcMetadata | Promise<OidcMetadata> {
    const hit = cachedDiscovery(this.issuer);
    const unwrap = (r: NonNullable<typeof hit>): OidcMetadata => {
      if (!r.ok) throw idpUnavailable(r.message);
      return r.meta;
    };
    return hit !== undefined ? unwrap(hit) : discover(this.issuer).then(unwrap);
  }

  authorizeEndpoint(): string | Promise<string> {
    const m = this.meta();
    return m instanceof Promise ? m.then((x) => x.authorizationEndpoint) : m.authorizationEndpoint;
  }

  async redeem(code: string, redirectUri: string, verifier: string, nonce: string, client: Client): Promise<SignIn> {
    const m = await this.meta();
    const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier };
    const headers: Record<string, string> = {};
    if (m.tokenAuth === 'basic') {
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      headers.authorization = 'Basic ' + Buffer.from(`${enc(client.id)}:${enc(client.secret)}`).toString('base64');
    } else Object.assign(form, { client_id: client.id, client_secret: client.secret });
    const a = await idpCall(m.tokenEndpoint, 'the token endpoint', { form, headers });
    if (a.status >= 500) throw idpUnavailable(`the token endpoint (${m.tokenEndpoint}) answered HTTP ${a.status}`);
    if (a.status !== 200 || a.data === undefined || a.data.error !== undefined) throw oauthFailed(`the token endpoint refused the sign-in: ${oauthError(a)}`);
    const idToken = str(a.data.id_token);
    const accessToken = str(a.data.access_token);
    if (idToken === '') throw oauthFailed('the token endpoint sent no id_token (is the openid scope allowed for this client?)');
    const claims = await verifyIdToken(idToken, { jwksUri: m.jwksUri, issuer: m.issuer, clientId: client.id, nonce, algs: m.idTokenAlgs });
    let identity: Identity = { sub: str(claims.sub), email: str(claims.email), name: str(claims.name) || str(claims.preferred_username) };
    if ((identity.email === '' || identity.name === '') && m.userinfoEndpoint !== undefined && accessToken !== '') {
      const info = await this.userinfo(m, accessToken);
      if (info !== 'revoked' && info.sub === identity.sub) identity = { sub: identity.sub, email: identity.email || info.email, name: identity.name || info.name };
    }
    return { identity, accessToken, refreshToken: str(a.data.refresh_token), idToken };
  }

  refresh(accessToken: string): Promise<Identity | 'revoked' | undefined> | undefined {
    const m = this.meta();
    if (!(m instanceof Promise) && m.userinfoEndpoint === undefined) return undefined;
    return Promise.resolve(m).then((x) => (x.userinfoEndpoint === undefined ? undefined : this.userinfo(x, accessToken)));
  }

  private async userinfo(m: OidcMetadata, accessToken: string): Promise<Identity | 'revoked'> {
    const a = await idpCall(m.userinfoEndpoint!, 'the userinfo endpoint', { headers: { authorization: `Bearer ${accessToken}` } });
    if (a.status === 401 || a.status === 403) return 'revoked';
    if (a.status !== 200 || a.data === undefined) throw idpUnavailable(`the userinfo endpoint (${m.userinfoEndpoint}) answered HTTP ${a.status}`);
    return { sub: str(a.data.sub), email: str(a.data.email), name: str(a.data.name) || str(a.data.preferred_username) };
  }
}

export const openidConnect: ActionDefinition<AuthAction> = {
  ...AUTH_ACTION_COMMON,
  fields: ['issuer_url', ...AUTH_FIELDS],

  compile(config, cx) {
    const v = config.issuer_url;
    let issuer: string | undefined;
    if (v === undefined || v === null || v === '') cx.issue('issuer_url', "is required: the provider's issuer, e.g. https://accounts.google.com");
    else if (typeof v !== 'string') cx.issue('issuer_url', `must be a URL string, got ${describe(v)}`);
    else {
      const problem = jkuProblem(v);
      if (problem) cx.issue('issuer_url', problem);
      else issuer = v;
    }
    const settings = readAuthSettings(config, cx, 'register this endpoint as a client with your OpenID provider');
    if (!settings || issuer === undefined) return undefined;
    const scopes = [...new Set([...DEFAULT_SCOPES, ...settings.scopes])];
    return { settings, provider: new OidcProvider(issuer, scopes) };
  },

};

registerAction('openid-connect', openidConnect);
