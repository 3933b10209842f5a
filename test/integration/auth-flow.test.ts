/**
 * The openid-connect sign-in run by the policy engine in this process against a real local
 * provider (test/helpers/oidc-provider.ts, loopback HTTP): discovery, PKCE, the token exchange and
 * every id_token check, result variables, userinfo refresh and session expiry (with the engine's
 * clock moved instead of sleeping). The same flow through real edge processes is
 * test/e2e/oidc.test.ts.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { request } from 'undici';
import { setJwtClock } from '../../services/policy/actions/jwks.js';
import type { Exchange, RequestOutcome } from '../../services/policy/index.js';
import { FakeProvider } from '../helpers/oidc-provider.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost } from '../unit/policy-fixtures.js';

const CLIENT_ID = 'flow-client';
const SECRET = 'flow-secret-0123';
const USER = { sub: 'user-7', email: 'bob@example.org', name: 'Bob', login: 'bob' };
const BROWSER = 'text/html';
const RESULT = '${actions.ngrok.oidc.identity.email}|${actions.ngrok.openid_connect.identity.name}|${actions.ngrok.oidc.identity.id}|${actions.ngrok.oidc.identity.current_session_id}|${actions.ngrok.oidc.identity_token != ""}|${actions.ngrok.oidc.access_token != ""}|${actions.ngrok.oidc.userinfo_refreshed}|${actions.ngrok.oidc.error.code}';

function policyFor(issuer: string, extra: Record<string, unknown> = {}): string {
  const cfg = { issuer_url: issuer, client_id: CLIENT_ID, client_secret: SECRET, ...extra };
  return `on_http_request:\n  - actions:\n      - type: openid-connect\n        config: ${JSON.stringify(cfg)}\n      - type: custom-response\n        config: {body: ${JSON.stringify(RESULT)}}\n`;
}

/** One browser: a cookie jar over the engine run in-process. */
class Browser {
  readonly jar = new Map<string, string>();
  readonly host = new FakeHost();
  constructor(private readonly policy: string) {}

  async get(url: string, accept = BROWSER): Promise<{ out: RequestOutcome<string>; x: Exchange }> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const x = exchange(url, { headers: { accept, ...(cookie ? { cookie } : {}) } });
    const out = await compileOk(this.policy, AGENT).runRequest(x, endpoint('agent'), this.host);
    const set = [...(out.kind === 'respond' ? (out.response.headers['set-cookie'] ?? []) : []), ...(x.responseHeaders?.['set-cookie'] ?? [])];
    for (const line of set) {
      const [pair] = line.split(';');
      const i = pair.indexOf('=');
      if (/Max-Age=0(;|$)/.test(line)) this.jar.delete(pair.slice(0, i));
      else this.jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return { out, x };
  }

  /** GET → provider → callback: the callback's outcome. */
  async signIn(url = 'https://api.example.com/start'): Promise<RequestOutcome<string>> {
    const first = await this.get(url);
    assert.ok(first.out.kind === 'respond' && first.out.response.status === 302, JSON.stringify(first.out));
    const res = await request(first.out.response.headers.location[0]);
    await res.body.text();
    assert.equal(res.statusCode, 302);
    return (await this.get(String(res.headers.location))).out;
  }
}

const body = (o: RequestOutcome<string>): string => (o.kind === 'respond' ? o.response.body : JSON.stringify(o));

describe('openid-connect sign-in against a local provider (engine in-process)', function () {
  this.timeout(20_000);
  let idp: FakeProvider;
  before(async () => {
    idp = await FakeProvider.start({ mode: 'oidc', clientId: CLIENT_ID, clientSecret: SECRET, user: USER });
  });
  after(() => idp.stop());
  afterEach(() => {
    setJwtClock(undefined);
    idp.idTokenClaims = {};
    idp.signWith = undefined;
    idp.failUserinfo = false;
  });

  it('signs in and publishes actions.ngrok.oidc.* (and openid_connect.*) for later rules', async () => {
    const b = new Browser(policyFor(idp.url));
    const cb = await b.signIn('https://api.example.com/start?a=1');
    assert.ok(cb.kind === 'respond');
    if (cb.kind !== 'respond') return;
    assert.deepEqual(cb.response.headers.location, ['/start?a=1']);
    assert.ok(b.jar.has('meshgate_session'));
    assert.equal([...b.jar.keys()].filter((k) => k.startsWith('meshgate_login_')).length, 0, 'the pending sign-in is cleared');
    const { out, x } = await b.get('https://api.example.com/start?a=1');
    const [email, name, id, sid, idt, at, refreshed, err] = body(out).split('|');
    assert.deepEqual([email, name, idt, at, refreshed, err], [USER.email, USER.name, 'true', 'true', 'false', '']);
    assert.match(id, /^idt_[0-9a-f]{24}$/);
    assert.match(sid, /^ses_/);
    assert.equal(x.req.headers.cookie, undefined, 'the session cookie is removed from the forwarded request');
    const auth = idp.authorizations.at(-1)!;
    assert.equal(auth.get('scope'), 'openid profile email');
  });

  it('accepts an issuer_url with a trailing slash', async () => {
    const cb = await new Browser(policyFor(idp.url + '/')).signIn();
    assert.ok(cb.kind === 'respond' && cb.response.status === 302, body(cb));
  });

  for (const [what, tweak, message] of [
    ['another audience', (p: FakeProvider) => (p.idTokenClaims = { aud: 'someone-else' }), /audience does not contain the client id/],
    ['another nonce', (p: FakeProvider) => (p.idTokenClaims = { nonce: 'replayed' }), /nonce does not match/],
    ['another issuer', (p: FakeProvider) => (p.idTokenClaims = { iss: 'https://evil.example.com' }), /issuer &#34;https:\/\/evil\.example\.com&#34; is not/],
    ['an expired token', (p: FakeProvider) => (p.idTokenClaims = { exp: Math.floor(Date.now() / 1000) - 3600 }), /has expired/],
    ['a key not in the JWKS', (p: FakeProvider) => (p.signWith = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), /signature is not valid/],
  ] as const) {
    it(`refuses an id_token with ${what} (MG_OAUTH_FAILED)`, async () => {
      tweak(idp);
      const cb = await new Browser(policyFor(idp.url)).signIn();
      assert.ok(cb.kind === 'respond');
      if (cb.kind !== 'respond') return;
      assert.equal(cb.response.status, 401);
      assert.deepEqual(cb.response.headers['meshgate-error-code'], ['MG_OAUTH_FAILED']);
      assert.match(cb.response.body, message);
    });
  }

  it('refuses a replayed callback (the code is single-use)', async () => {
    const b = new Browser(policyFor(idp.url));
    const first = await b.get('https://api.example.com/');
    assert.ok(first.out.kind === 'respond');
    if (first.out.kind !== 'respond') return;
    const res = await request(first.out.response.headers.location[0]);
    await res.body.text();
    const saved = new Map(b.jar);
    assert.equal((await b.get(String(res.headers.location))).out.kind, 'respond');
    for (const [k, v] of saved) b.jar.set(k, v);
    const again = (await b.get(String(res.headers.location))).out;
    assert.ok(again.kind === 'respond' && again.response.status === 401);
    assert.match(again.response.body, /invalid_grant/);
  });

  it('reports a wrong issuer_url as MG_IDP_UNAVAILABLE', async () => {
    const { out } = await new Browser(policyFor(idp.url + '/tenant-x')).get('https://api.example.com/');
    assert.ok(out.kind === 'respond');
    if (out.kind !== 'respond') return;
    assert.equal(out.response.status, 502);
    assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_IDP_UNAVAILABLE']);
    assert.match(out.response.body, /openid-configuration\) answered HTTP 404/);
  });

  it('ends a session after idle_session_timeout and max_session_duration (engine clock)', async () => {
    const base = Date.now();
    let offset = 0;
    setJwtClock(() => base + offset);
    const b = new Browser(policyFor(idp.url, { idle_session_timeout: '10m', max_session_duration: '1h' }));
    await b.signIn();
    for (offset = 0; offset <= 50 * 60_000; offset += 5 * 60_000) {
      const { out } = await b.get('https://api.example.com/', 'application/json');
      assert.equal(out.kind === 'respond' && out.response.status, 200, `active at +${offset / 60_000} min`);
    }
    offset = 61 * 60_000;
    const { out } = await b.get('https://api.example.com/', 'application/json');
    assert.ok(out.kind === 'respond' && out.response.status === 401, 'past max_session_duration');
    const c = new Browser(policyFor(idp.url, { idle_session_timeout: '10m' }));
    offset = 0;
    await c.signIn();
    offset = 11 * 60_000;
    const idle = await c.get('https://api.example.com/', 'application/json');
    assert.ok(idle.out.kind === 'respond' && idle.out.response.status === 401, 'idle too long');
  });

  it('keeps the session when userinfo cannot be read, and waits an interval before trying again', async () => {
    const base = Date.now();
    let offset = 0;
    setJwtClock(() => base + offset);
    const b = new Browser(policyFor(idp.url, { userinfo_refresh_interval: '1m' }));
    await b.signIn();
    idp.failUserinfo = true;
    offset = 2 * 60_000;
    const calls = () => idp.requests.filter((p) => p === '/userinfo').length;
    const before = calls();
    const r = await b.get('https://api.example.com/', 'application/json');
    assert.equal(r.out.kind === 'respond' && r.out.response.status, 200);
    assert.deepEqual(body(r.out).split('|').slice(6), ['false', 'MG_IDP_UNAVAILABLE']);
    assert.equal(calls(), before + 1);
    offset += 10_000;
    await b.get('https://api.example.com/', 'application/json');
    assert.equal(calls(), before + 1, 'no retry within the interval');
  });

  it('re-reads userinfo every userinfo_refresh_interval, and ends the session when the token is revoked', async () => {
    const base = Date.now();
    let offset = 0;
    setJwtClock(() => base + offset);
    const b = new Browser(policyFor(idp.url, { userinfo_refresh_interval: '1m' }));
    await b.signIn();
    offset = 2 * 60_000;
    const fresh = await b.get('https://api.example.com/', 'application/json');
    assert.equal(body(fresh.out).split('|')[6], 'true', 'userinfo_refreshed');
    const before = idp.requests.filter((p) => p === '/userinfo').length;
    const soon = await b.get('https://api.example.com/', 'application/json');
    assert.equal(body(soon.out).split('|')[6], 'false');
    assert.equal(idp.requests.filter((p) => p === '/userinfo').length, before, 'not again before the interval');
    // the provider revokes the access token: the next refresh ends the session
    idp.revokeAll();
    offset = 4 * 60_000;
    const gone = await b.get('https://api.example.com/', 'application/json');
    assert.ok(gone.out.kind === 'respond' && gone.out.response.status === 401);
    assert.match(gone.out.response.body, /MG_AUTH_REQUIRED/);
  });
});
