/**
 * openid-connect and oauth without a network: config refused at load (with the field's path),
 * sealed cookies (tamper detection, key derivation), and the paths of a request that need no
 * identity provider (API clients, the redirect to a fixed authorize URL, callbacks that cannot be
 * valid, logout, CORS preflights, chaining after another auth action). The sign-in itself, against
 * a real local provider, is in test/integration/auth-flow.test.ts and test/e2e/oidc.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deriveSessionKey, seal, sessionKeyOf, unseal } from '../../services/policy/actions/auth-flow/sealed-cookie.js';
import { parseGoDuration } from '../../services/policy/actions/auth-flow/auth-settings.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo, runReq } from './policy-actions-helpers.js';

const P = 'on_http_request[0].actions[0].config';
const GH = { provider: 'github', client_id: 'cid', client_secret: 'csecret' };
const OIDC = { issuer_url: 'https://id.example.com', client_id: 'cid', client_secret: 'csecret' };
const BROWSER = { accept: 'text/html,application/xhtml+xml' };

function policy(type: string, cfg: Record<string, unknown>, rest = echo('passed ${actions.ngrok.oauth.identity.email}')): string {
  return `on_http_request:\n  - actions:\n      - type: ${type}\n        config: ${JSON.stringify(cfg)}\n${rest}`;
}

const issue = (type: string, cfg: Record<string, unknown>, field: string) => issueAt(issuesOf(policy(type, cfg), AGENT), `${P}.${field}`).message;

describe('openid-connect / oauth config', () => {
  it('compiles ngrok-shaped configs, with either idle spelling', () => {
    compileOk(policy('openid-connect', { ...OIDC, scopes: ['groups'], idle_session_duration: '30m', max_session_duration: '12h', allow_cors_preflight: true, auth_id: 'corp' }), AGENT);
    compileOk(policy('oauth', { ...GH, idle_session_timeout: '1h30m', userinfo_refresh_interval: '10m', authz_url_params: { allow_signup: 'false' }, auth_cookie_domain: 'example.com' }), AGENT);
    compileOk(policy('oauth', { ...GH, client_secret: '${vars.gh_secret}' }), AGENT);
  });

  it('refuses a missing issuer_url and a plain-http issuer', () => {
    assert.match(issue('openid-connect', { client_id: 'a', client_secret: 'b' }, 'issuer_url'), /^is required/);
    assert.match(issue('openid-connect', { ...OIDC, issuer_url: 'http://id.example.com' }, 'issuer_url'), /must be an https URL \(http only to a loopback host\)/);
    compileOk(policy('openid-connect', { ...OIDC, issuer_url: 'http://127.0.0.1:9999' }), AGENT);
  });

  it('refuses bad durations, naming the field', () => {
    assert.match(issue('oauth', { ...GH, max_session_duration: 'forever' }, 'max_session_duration'), /'forever' is not a duration/);
    assert.match(issue('oauth', { ...GH, max_session_duration: '500ms' }, 'max_session_duration'), /must be 1s to 8760h/);
    assert.match(issue('oauth', { ...GH, idle_session_timeout: 3600 }, 'idle_session_timeout'), /must be a duration such as '30m'.*got the number 3600/);
    assert.match(issue('openid-connect', { ...OIDC, idle_session_duration: '9000h' }, 'idle_session_duration'), /must be 1s to 8760h, got '9000h'/);
    assert.match(issue('oauth', { ...GH, idle_session_timeout: '1h', idle_session_duration: '1h' }, 'idle_session_duration'), /not both/);
    assert.match(issue('oauth', { ...GH, userinfo_refresh_interval: '-1s' }, 'userinfo_refresh_interval'), /not a duration/);
  });

  it('parses Go-style durations', () => {
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('90s'), 90_000);
    assert.equal(parseGoDuration('1.5s'), 1_500);
    assert.equal(parseGoDuration('250ms'), 250);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(parseGoDuration('1d'), undefined);
  });

  it('refuses an unknown or missing provider', () => {
    assert.match(issue('oauth', { ...GH, provider: 'myspace' }, 'provider'), /unknown provider 'myspace'; one of amazon, facebook, github, gitlab, google, linkedin, microsoft, twitch/);
    assert.match(issue('oauth', { client_id: 'a', client_secret: 'b' }, 'provider'), /^is required: one of amazon/);
  });

  it('refuses a missing client_id or client_secret: there are no managed apps', () => {
    assert.equal(issue('oauth', { provider: 'google', client_id: 'a' }, 'client_secret'), 'is required: meshgate has no managed OAuth apps; register an OAuth app with google and give its client_secret');
    assert.match(issue('oauth', { provider: 'google', client_secret: 'a' }, 'client_id'), /^is required: meshgate has no managed OAuth apps/);
    assert.match(issue('openid-connect', { issuer_url: 'https://id.example.com', client_id: 'a', client_secret: '' }, 'client_secret'), /register this endpoint as a client with your OpenID provider/);
  });

  it('refuses unknown fields, at the action and inside endpoints', () => {
    assert.match(issue('openid-connect', { ...OIDC, client_secrett: 'x' }, 'client_secrett'), /unknown field 'client_secrett' \(openid-connect accepts issuer_url, auth_id, client_id, client_secret/);
    assert.match(issue('oauth', { ...GH, endpoints: { authorise_url: 'https://x.example.com' } }, 'endpoints.authorise_url'), /unknown field 'authorise_url' \(accepted: authorize_url, token_url, userinfo_url\)/);
    assert.match(issue('oauth', { ...GH, endpoints: { token_url: 'http://ghe.example.com/token' } }, 'endpoints.token_url'), /must be an https URL/);
  });

  it('refuses reserved authorize parameters, bad scopes, auth_id and cookie domain', () => {
    assert.match(issue('oauth', { ...GH, authz_url_params: { state: 'x' } }, 'authz_url_params.state'), /set by the sign-in flow itself/);
    assert.match(issue('oauth', { ...GH, authz_url_params: { scope: 'x' } }, 'authz_url_params.scope'), /use scopes/);
    assert.match(issue('oauth', { ...GH, scopes: ['repo read'] }, 'scopes[0]'), /is not a scope/);
    assert.match(issue('oauth', { ...GH, auth_id: 'a b' }, 'auth_id'), /1 to 64 letters/);
    assert.match(issue('oauth', { ...GH, auth_cookie_domain: 'https://example.com' }, 'auth_cookie_domain'), /must be a domain name/);
  });

  it('is allowed in on_http_request only', () => {
    const issues = issuesOf(`on_http_response:\n  - actions:\n      - type: oauth\n        config: ${JSON.stringify(GH)}\n`, AGENT);
    assert.match(issueAt(issues, 'on_http_response[0].actions[0].type').message, /oauth cannot be used in on_http_response/);
  });
});

describe('sealed session cookies', () => {
  const key = randomBytes(32);
  const aad = 'meshgate-session\nmeshgate_session\noidc https://id.example.com\ncid\n';

  it('round-trips a value', () => {
    const v = { sub: 'u1', at: 'x'.repeat(2000) };
    const sealed = seal(key, aad, v);
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
    assert.ok(sealed.length < 1000, 'long tokens are compressed');
    assert.deepEqual(unseal(key, aad, sealed), v);
    assert.notEqual(seal(key, aad, v), sealed, 'a fresh salt and IV every time');
  });

  it('detects tampering anywhere (salt, IV, ciphertext, tag)', () => {
    const sealed = seal(key, aad, { sub: 'u1', em: 'ann@example.org' });
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (const at of [0, 15, 16, 27, 28, raw.length - 17, raw.length - 1]) {
      const t = Buffer.from(raw);
      t[at] ^= 0x01;
      assert.equal(unseal(key, aad, 'v1.' + t.toString('base64url')), undefined, `byte ${at} flipped`);
    }
    assert.equal(unseal(key, aad, sealed.slice(0, -1)), undefined, 'truncated');
    assert.equal(unseal(key, aad, 'v2' + sealed.slice(2)), undefined, 'other version');
    assert.equal(unseal(key, aad, 'v1.!!!'), undefined, 'not base64url');
    assert.equal(unseal(key, aad, ''), undefined);
  });

  it('refuses another key, another cookie name or another provider', () => {
    const sealed = seal(key, aad, { sub: 'u1' });
    assert.equal(unseal(randomBytes(32), aad, sealed), undefined);
    assert.equal(unseal(key, aad.replace('meshgate_session', 'meshgate_session_x'), sealed), undefined);
    assert.equal(unseal(key, aad.replace('id.example.com', 'evil.example.com'), sealed), undefined);
  });

  it('derives one key per cluster secret, and falls back to a per-process key', () => {
    const a = deriveSessionKey('cluster-secret-0123456789')!;
    assert.equal(a.length, 32);
    assert.deepEqual(deriveSessionKey('cluster-secret-0123456789'), a);
    assert.notDeepEqual(deriveSessionKey('cluster-secret-0123456780'), a);
    assert.equal(deriveSessionKey(''), undefined);
    const host = Object.assign(new FakeHost(), { sessionKey: a });
    assert.equal(sessionKeyOf(host), a);
    const p = sessionKeyOf(undefined);
    assert.equal(p.length, 32);
    assert.equal(sessionKeyOf(new FakeHost()), p, 'the per-process key is stable');
  });
});

describe('openid-connect / oauth requests that need no provider', () => {
  it('answers an API client 401 MG_AUTH_REQUIRED with the login URL', async () => {
    const { out } = await runReq(policy('oauth', GH), 'https://api.example.com/v1/items?page=2', { headers: { accept: 'application/json' } });
    assert.equal(out.kind, 'respond');
    if (out.kind !== 'respond') return;
    assert.equal(out.response.status, 401);
    assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_AUTH_REQUIRED']);
    assert.match(bodyOf(out), /open https:\/\/api\.example\.com\/ngrok\/login\?redirect_path=%2Fv1%2Fitems%3Fpage%3D2 in a browser/);
  });

  it('treats XHR, fetch (Sec-Fetch-Mode: cors) and POST as API clients', async () => {
    for (const opts of [
      { headers: { ...BROWSER, 'x-requested-with': 'XMLHttpRequest' } },
      { headers: { ...BROWSER, 'sec-fetch-mode': 'cors' } },
      { method: 'POST', headers: BROWSER },
    ]) {
      const { out } = await runReq(policy('oauth', GH), 'https://api.example.com/', opts);
      assert.ok(out.kind === 'respond' && out.response.status === 401, JSON.stringify(opts));
    }
  });

  it('redirects a browser to the provider with state, PKCE and a sealed pending-login cookie', async () => {
    const { out } = await runReq(policy('oauth', { ...GH, scopes: ['read:org'], authz_url_params: { allow_signup: 'false' } }), 'https://api.example.com/dash?tab=1', { headers: BROWSER });
    assert.equal(out.kind, 'respond');
    if (out.kind !== 'respond') return;
    assert.equal(out.response.status, 302);
    const loc = new URL(out.response.headers.location[0]);
    assert.equal(loc.origin + loc.pathname, 'https://github.com/login/oauth/authorize');
    const q = loc.searchParams;
    assert.equal(q.get('client_id'), 'cid');
    assert.equal(q.get('redirect_uri'), 'https://api.example.com/meshgate/oauth/callback');
    assert.equal(q.get('scope'), 'read:user user:email read:org');
    assert.equal(q.get('allow_signup'), 'false');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('state')!, /^\.[A-Za-z0-9_-]{32}$/);
    assert.equal(q.get('nonce'), null, 'oauth sends no nonce');
    const cookie = out.response.headers['set-cookie'][0];
    assert.match(cookie, /^meshgate_login_[A-Za-z0-9_-]{12}=v1\.[A-Za-z0-9_-]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/);
    assert.ok(cookie.startsWith(`meshgate_login_${q.get('state')!.slice(1, 13)}=`));
  });

  it('names the action in state and cookies when auth_id is set, and honours auth_cookie_domain', async () => {
    const { out } = await runReq(policy('oauth', { ...GH, auth_id: 'team', auth_cookie_domain: 'example.com' }), 'https://api.example.com/', { headers: BROWSER });
    assert.ok(out.kind === 'respond');
    if (out.kind !== 'respond') return;
    assert.match(new URL(out.response.headers.location[0]).searchParams.get('state')!, /^team\./);
    assert.match(out.response.headers['set-cookie'][0], /; Domain=example\.com$/);
  });

  it('answers a callback without a pending sign-in with MG_OAUTH_FAILED (HTML for browsers)', async () => {
    const { out } = await runReq(policy('oauth', GH), 'https://api.example.com/meshgate/oauth/callback?code=abc&state=.xyzxyzxyzxyzxyz', { headers: BROWSER });
    assert.ok(out.kind === 'respond');
    if (out.kind !== 'respond') return;
    assert.equal(out.response.status, 401);
    assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_OAUTH_FAILED']);
    assert.match(out.response.headers['content-type'][0], /text\/html/);
    assert.match(out.response.body, /no sign-in is in progress in this browser/);
    assert.match(out.response.body, /<code>MG_OAUTH_FAILED<\/code>/);
  });

  it('reports the provider error of a refused sign-in, escaped', async () => {
    const { out } = await runReq(policy('oauth', GH), 'https://api.example.com/meshgate/oauth/callback?error=access_denied&error_description=%3Cscript%3E&state=.abc', { headers: BROWSER });
    assert.ok(out.kind === 'respond');
    if (out.kind !== 'respond') return;
    assert.match(out.response.body, /refused the sign-in: access_denied: &#60;script&#62;/);
    assert.doesNotMatch(out.response.body, /<script>/);
  });

  it('leaves a callback for another auth_id to the next rules', async () => {
    const { out } = await runReq(
      policy('oauth', { ...GH, auth_id: 'a' }, echo('not mine')),
      'https://api.example.com/meshgate/oauth/callback?code=c&state=b.random',
      { headers: { accept: 'application/json' } },
    );
    // not handled as a callback: an API client without a session gets the 401
    assert.ok(out.kind === 'respond' && out.response.status === 401 && out.response.headers['meshgate-error-code'][0] === 'MG_AUTH_REQUIRED');
  });

  it('signs out: clears the session cookie, then a page or a redirect', async () => {
    const page = await runReq(policy('oauth', GH), 'https://api.example.com/ngrok/logout', { headers: BROWSER });
    assert.ok(page.out.kind === 'respond');
    if (page.out.kind !== 'respond') return;
    assert.equal(page.out.response.status, 200);
    assert.deepEqual(page.out.response.headers['set-cookie'], ['meshgate_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure']);
    const to = await runReq(policy('oauth', { ...GH, auth_id: 'x' }), 'https://api.example.com/meshgate/logout?auth_id=x&redirect_path=//evil.example.com/');
    assert.ok(to.out.kind === 'respond');
    if (to.out.kind !== 'respond') return;
    assert.deepEqual(to.out.response.headers.location, ['/'], 'only local paths');
    for (const [given, want] of [
      ['/%09/evil.example.com', '/'],
      ['/%5C%5Cevil.example.com', '/'],
      ['https://evil.example.com/', '/'],
      ['/caf%C3%A9?x=a b', '/caf%C3%A9?x=a%20b'],
    ]) {
      const r = await runReq(policy('oauth', GH), `https://api.example.com/ngrok/logout?redirect_path=${encodeURIComponent(decodeURIComponent(given))}`);
      assert.ok(r.out.kind === 'respond');
      if (r.out.kind === 'respond') assert.deepEqual(r.out.response.headers.location, [want], given);
    }
    assert.match(to.out.response.headers['set-cookie'][0], /^meshgate_session_x=;/);
  });

  it('lets a CORS preflight through when allow_cors_preflight is set', async () => {
    const preflight = { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } };
    const open = await runReq(policy('oauth', { ...GH, allow_cors_preflight: true }), 'https://api.example.com/x', preflight);
    assert.equal(bodyOf(open.out), 'passed ');
    const closed = await runReq(policy('oauth', GH), 'https://api.example.com/x', preflight);
    assert.ok(closed.out.kind === 'respond' && closed.out.response.status === 401);
  });

  it('runs after another auth action (basic-auth, then oauth)', async () => {
    const doc = `on_http_request:\n  - actions:\n      - type: basic-auth\n        config: {credentials: ["ops:correct-horse"]}\n      - type: oauth\n        config: ${JSON.stringify(GH)}\n${echo('both')}`;
    const auth = { authorization: 'Basic ' + Buffer.from('ops:correct-horse').toString('base64') };
    const { out } = await runReq(doc, 'https://api.example.com/', { headers: { ...auth, ...BROWSER } });
    assert.ok(out.kind === 'respond' && out.response.status === 302, 'basic-auth passed, oauth asks to sign in');
    const wrong = await runReq(doc, 'https://api.example.com/', { headers: BROWSER });
    assert.ok(wrong.out.kind === 'respond' && wrong.out.response.status === 401 && wrong.out.response.headers['meshgate-error-code'][0] === 'MG_BASIC_AUTH_FAILED');
  });

  it('evaluates client_secret per request; an empty one is a runtime error', async () => {
    const doc = `on_http_request:\n  - actions:\n      - type: set-vars\n        config: {vars: [{secret: ""}]}\n      - type: oauth\n        config: ${JSON.stringify({ ...GH, client_secret: '${vars.secret}' })}\n`;
    const x = exchange('https://api.example.com/', { headers: BROWSER });
    const out = await compileOk(doc, AGENT).runRequest(x, endpoint('agent'), new FakeHost());
    assert.equal(out.kind, 'error');
    if (out.kind !== 'error') return;
    assert.equal(out.code, 'MG_POLICY_RUNTIME_ERROR');
    assert.match(out.message, /config\.client_secret: evaluated to an empty string/);
  });
});
