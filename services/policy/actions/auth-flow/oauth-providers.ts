/**
 * The OAuth 2.0 providers of the `oauth` action: where each one's endpoints are, which scopes the
 * identity needs, and how its user document maps to {sub, email, name}. The URLs are the public
 * services'; the action's `endpoints` override points them at GitHub Enterprise, a self-hosted
 * GitLab or a test double.
 *
 * PKCE is sent where the provider is known to support it for web apps; the others ignore it or
 * refuse it, so it stays off there (state still protects the flow).
 */
import type { Identity } from './auth-flow.js';
import { str } from './idp-http.js';

export interface OAuthProviderSpec {
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly userinfoUrl: string;
  /** Scopes the identity mapping needs (always requested). */
  readonly scopes: readonly string[];
  readonly pkce: boolean;
  /** The user document (userinfo answer) → identity. */
  identity(doc: Record<string, unknown>): Identity;
  /** Extra headers for the userinfo call (Twitch wants the client id). */
  userinfoHeaders?(clientId: string): Record<string, string>;
  /** When the user document has no email: a list of addresses at `<userinfo_url>/emails` (GitHub). */
  readonly emailsFromList?: boolean;
}

/** `{sub, email, name}` keys of an OpenID-style userinfo document. */
const oidcLike = (d: Record<string, unknown>): Identity => ({ sub: str(d.sub), email: str(d.email), name: str(d.name) || str(d.preferred_username) });

export const OAUTH_PROVIDERS: Readonly<Record<string, OAuthProviderSpec>> = Object.freeze({
  amazon: {
    authorizeUrl: 'https://www.amazon.com/ap/oa',
    tokenUrl: 'https://api.amazon.com/auth/o2/token',
    userinfoUrl: 'https://api.amazon.com/user/profile',
    scopes: ['profile'],
    pkce: true,
    identity: (d) => ({ sub: str(d.user_id), email: str(d.email), name: str(d.name) }),
  },
  facebook: {
    authorizeUrl: 'https://www.facebook.com/v19.0/dialog/oauth',
    tokenUrl: 'https://graph.facebook.com/v19.0/oauth/access_token',
    userinfoUrl: 'https://graph.facebook.com/me?fields=id,name,email',
    scopes: ['public_profile', 'email'],
    pkce: true,
    identity: (d) => ({ sub: str(d.id), email: str(d.email), name: str(d.name) }),
  },
  github: {
    authorizeUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    userinfoUrl: 'https://api.github.com/user',
    scopes: ['read:user', 'user:email'],
    pkce: true,
    identity: (d) => ({ sub: str(d.id), email: str(d.email), name: str(d.name) || str(d.login) }),
    emailsFromList: true,
  },
  gitlab: {
    authorizeUrl: 'https://gitlab.com/oauth/authorize',
    tokenUrl: 'https://gitlab.com/oauth/token',
    userinfoUrl: 'https://gitlab.com/oauth/userinfo',
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    identity: oidcLike,
  },
  google: {
    authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    userinfoUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    identity: oidcLike,
  },
  linkedin: {
    authorizeUrl: 'https://www.linkedin.com/oauth/v2/authorization',
    tokenUrl: 'https://www.linkedin.com/oauth/v2/accessToken',
    userinfoUrl: 'https://api.linkedin.com/v2/userinfo',
    scopes: ['openid', 'profile', 'email'],
    pkce: false,
    identity: oidcLike,
  },
  microsoft: {
    authorizeUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
    tokenUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
    userinfoUrl: 'https://graph.microsoft.com/oidc/userinfo',
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    identity: oidcLike,
  },
  twitch: {
    authorizeUrl: 'https://id.twitch.tv/oauth2/authorize',
    tokenUrl: 'https://id.twitch.tv/oauth2/token',
    userinfoUrl: 'https://api.twitch.tv/helix/users',
    scopes: ['user:read:email'],
    pkce: false,
    identity: (d) => {
      const u = Array.isArray(d.data) && typeof d.data[0] === 'object' && d.data[0] !== null ? (d.data[0] as Record<string, unknown>) : {};
      return { sub: str(u.id), email: str(u.email), name: str(u.display_name) || str(u.login) };
    },
    userinfoHeaders: (clientId) => ({ 'client-id': clientId }),
  },
});

export const PROVIDER_NAMES = Object.keys(OAUTH_PROVIDERS).sort();
