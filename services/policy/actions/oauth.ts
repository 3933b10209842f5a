/**
 * `oauth`: only signed-in users get through; they sign in with one of the OAuth 2.0 providers of
 * ngrok's action (reference §4): amazon, facebook, github, gitlab, google, linkedin, microsoft,
 * twitch (table in auth-flow/oauth-providers.ts). The browser flow, sessions, special paths and
 * result variables are shared with `openid-connect` — see auth-flow/auth-flow.ts; the shared
 * fields are described in auth-flow/auth-settings.ts.
 *
 * Own config:
 *   provider     required, one of the names above.
 *   scopes       added to the provider's defaults (what the identity needs, e.g. github
 *                `read:user user:email`).
 *   endpoints    *meshgate extension*: `{authorize_url, token_url, userinfo_url}`, each optional,
 *                replacing the provider's (GitHub Enterprise, self-hosted GitLab, a local test
 *                provider); https, or http to a loopback host.
 * Self-hosted, there are no ngrok-managed apps: client_id and client_secret are required.
 *
 * Sign-in: authorization code with `state` (and PKCE where the provider supports it), the code
 * redeemed at the token endpoint (client credentials in the form, JSON asked for), then the user
 * read from the userinfo URL with the access token (GitHub: a private email is taken from
 * `<userinfo_url>/emails`, the primary verified one). userinfo_refresh_interval re-reads it.
 *
 * Result: `actions.ngrok.oauth.*`: identity.{id, email, name, provider_user_id,
 * current_provider_session_id}, access_token, refresh_token, expires_at, session_timed_out,
 * session_max_duration_reached, userinfo_refreshed, error.{code, message}.
 */
import type { AuthAction, Client, Identity, IdentityProvider, SignIn } from './auth-flow/auth-flow.js';
import { AUTH_ACTION_COMMON } from './auth-flow/auth-flow.js';
import { AUTH_FIELDS, readAuthSettings } from './auth-flow/auth-settings.js';
import { idpCall, idpUnavailable, oauthError, oauthFailed, str } from './auth-flow/idp-http.js';
import { OAUTH_PROVIDERS, PROVIDER_NAMES, type OAuthProviderSpec } from './auth-flow/oauth-providers.js';
import { describe, isPlainMap } from './config.js';
import { jkuProblem } from './jwt-validation.js';
import { registerAction, type ActionCompileContext, type ActionDefinition } from './registry.js';

const ENDPOINT_FIELDS = { authorize_url: 'authorizeUrl', token_url: 'tokenUrl', userinfo_url: 'userinfoUrl' } as const;

/** A provider of the table, with its endpoints possibly overridden. */
export class OAuthProvider implements IdentityProvider {
  readonly resultName = 'oauth' as const;
  readonly key: string;
  readonly pkce: boolean;
  readonly nonce = false;
  readonly forceLoginParams = [] as const;

  constructor(
    readonly name: string,
    readonly spec: OAuthProviderSpec,
    readonly scopes: readonly string[],
  ) {
    this.key = `oauth ${name} ${spec.authorizeUrl}`;
    this.pkce = spec.pkce;
  }

  authorizeEndpoint(): string {
    return this.spec.authorizeUrl;
  }

  async redeem(code: string, redirectUri: string, verifier: string, _nonce: string, client: Client): Promise<SignIn> {
    const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: client.id, client_secret: client.secret };
    if (this.pkce) form.code_verifier = verifier;
    const url = this.spec.tokenUrl;
    const a = await idpCall(url, 'the token endpoint', { form });
    if (a.status >= 500) throw idpUnavailable(`the token endpoint (${url}) answered HTTP ${a.status}`);
    if (a.status !== 200 || a.data === undefined || a.data.error !== undefined) throw oauthFailed(`the token endpoint refused the sign-in: ${oauthError(a)}`);
    const accessToken = str(a.data.access_token);
    if (accessToken === '') throw oauthFailed('the token endpoint sent no access_token');
    const identity = await this.user(accessToken, client);
    if (identity === 'revoked') throw oauthFailed('the userinfo endpoint refused the new access token');
    if (identity.sub === '') throw oauthFailed(`the ${this.name} user document has no user id`);
    return { identity, accessToken, refreshToken: str(a.data.refresh_token), idToken: '' };
  }

  refresh(accessToken: string, client: Client): Promise<Identity | 'revoked'> {
    return this.user(accessToken, client);
  }

  private async user(accessToken: string, client: Client): Promise<Identity | 'revoked'> {
    const headers = { authorization: `Bearer ${accessToken}`, ...this.spec.userinfoHeaders?.(client.id) };
    const url = this.spec.userinfoUrl;
    const a = await idpCall(url, 'the userinfo endpoint', { headers });
    if (a.status === 401 || a.status === 403) return 'revoked';
    if (a.status !== 200 || a.data === undefined) throw idpUnavailable(`the userinfo endpoint (${url}) answered HTTP ${a.status}`);
    const id = this.spec.identity(a.data);
    if (id.email !== '' || !this.spec.emailsFromList) return id;
    const emailsUrl = url.replace(/\/+$/, '') + '/emails';
    const e = await idpCall(emailsUrl, 'the emails endpoint', { headers });
    const list = e.status === 200 ? (e.list ?? []) : [];
    const entries = list.filter((x): x is Record<string, unknown> => isPlainMap(x) && x.verified === true);
    const best = entries.find((x) => x.primary === true) ?? entries[0];
    return { ...id, email: best ? str(best.email) : '' };
  }
}

function readEndpoints(v: unknown, base: OAuthProviderSpec, cx: ActionCompileContext): OAuthProviderSpec | undefined {
  if (v === undefined || v === null) return base;
  if (!isPlainMap(v)) {
    cx.issue('endpoints', `must be a map with authorize_url, token_url and/or userinfo_url, got ${describe(v)}`);
    return undefined;
  }
  let ok = true;
  const over: Partial<Record<'authorizeUrl' | 'tokenUrl' | 'userinfoUrl', string>> = {};
  for (const [k, u] of Object.entries(v)) {
    const field = ENDPOINT_FIELDS[k as keyof typeof ENDPOINT_FIELDS];
    if (field === undefined) {
      cx.issue(`endpoints.${k}`, `unknown field '${k}' (accepted: ${Object.keys(ENDPOINT_FIELDS).join(', ')})`);
      ok = false;
      continue;
    }
    const problem = typeof u === 'string' ? jkuProblem(u) : `must be a URL string, got ${describe(u)}`;
    if (problem) {
      cx.issue(`endpoints.${k}`, problem);
      ok = false;
    } else over[field] = u as string;
  }
  return ok ? { ...base, ...over } : undefined;
}

export const oauth: ActionDefinition<AuthAction> = {
  ...AUTH_ACTION_COMMON,
  fields: ['provider', 'endpoints', ...AUTH_FIELDS],

  compile(config, cx) {
    const name = config.provider;
    let spec: OAuthProviderSpec | undefined;
    if (name === undefined || name === null || name === '') cx.issue('provider', `is required: one of ${PROVIDER_NAMES.join(', ')}`);
    else if (typeof name !== 'string' || !Object.hasOwn(OAUTH_PROVIDERS, name)) cx.issue('provider', `unknown provider ${typeof name === 'string' ? `'${name}'` : describe(name)}; one of ${PROVIDER_NAMES.join(', ')}`);
    else spec = readEndpoints(config.endpoints, OAUTH_PROVIDERS[name], cx);
    const app = typeof name === 'string' && spec ? `register an OAuth app with ${name}` : 'register an OAuth app with the provider';
    const settings = readAuthSettings(config, cx, app);
    if (!settings || !spec) return undefined;
    const scopes = [...new Set([...spec.scopes, ...settings.scopes])];
    return { settings, provider: new OAuthProvider(name as string, spec, scopes) };
  },

};

registerAction('oauth', oauth);
