/**
 * openid-connect and oauth through real edge, agent and upstream processes, signing in against a
 * local identity provider (test/helpers/oidc-provider.ts). The browser is plain HTTP with a cookie
 * jar that follows each redirect by hand, so every step of the flow is checked: the redirect to
 * the provider, the callback, the session cookie, what the upstream receives (the identity header,
 * never the session cookie), tampering, expiry, logout, and the error pages.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CookieBrowser, setCookieNames } from '../helpers/cookie-browser.js';
import { FakeProvider, type FakeUser } from '../helpers/oidc-provider.js';
import { CLUSTER_SECRET, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';

const CLIENT_ID = 'meshgate-e2e';
const SECRET = 'e2e-client-secret-123';
const USER: FakeUser = { sub: '4242', email: 'ann@example.org', name: 'Ann Example', login: 'ann' };

/** A closed loopback port (an issuer that is down). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function oidcEndpoint(host: string, issuer: string, extra = '', secret = SECRET, tail = '- type: forward-internal\n              config: {url: "https://app.internal"}'): string {
  return `
  - account: acme
    url: http://${host}
    traffic_policy: |
      on_http_request:
        - actions:
            - type: openid-connect
              config:
                issuer_url: "${issuer}"
                client_id: ${CLIENT_ID}
                client_secret: "${secret}"${extra}
            - type: add-headers
              config:
                headers:
                  x-user-email: "\${actions.ngrok.oidc.identity.email}"
                  x-user-name: "\${actions.ngrok.oidc.identity.name}"
            ${tail}`;
}

function githubEndpoint(host: string, gh: string, secret = SECRET): string {
  return `
  - account: acme
    url: http://${host}
    traffic_policy: |
      on_http_request:
        - actions:
            - type: oauth
              config:
                provider: github
                client_id: ${CLIENT_ID}
                client_secret: "${secret}"
                endpoints:
                  authorize_url: "${gh}/login/oauth/authorize"
                  token_url: "${gh}/login/oauth/access_token"
                  userinfo_url: "${gh}/api/user"
            - type: add-headers
              config:
                headers:
                  x-user-email: "\${actions.ngrok.oauth.identity.email}"
                  x-user-id: "\${actions.ngrok.oauth.identity.provider_user_id}"
            - type: forward-internal
              config: {url: "https://app.internal"}`;
}

function edgeYaml(endpoints: string, secret = CLUSTER_SECRET): string {
  return `
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
cluster_secret: ${secret}
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:${endpoints}
`;
}

describe('openid-connect and oauth through a real edge, agent and upstream', function () {
  this.timeout(60_000);
  let idp: FakeProvider;
  let gh: FakeProvider;
  let edge: EdgeHandle;
  let edgeB: EdgeHandle;

  before(async () => {
    idp = await FakeProvider.start({ mode: 'oidc', clientId: CLIENT_ID, clientSecret: SECRET, user: USER });
    gh = await FakeProvider.start({ mode: 'github', clientId: CLIENT_ID, clientSecret: SECRET, user: USER });
    const down = `http://127.0.0.1:${await closedPort()}`;
    const endpoints = [
      oidcEndpoint('app.example.com', idp.url),
      oidcEndpoint('idle.example.com', idp.url, '\n                idle_session_timeout: 2s'),
      oidcEndpoint('short.example.com', idp.url, '\n                max_session_duration: 2s'),
      oidcEndpoint('badsecret.example.com', idp.url, '', 'not-the-secret'),
      oidcEndpoint('down.example.com', down),
      githubEndpoint('gh.example.com', gh.url),
      githubEndpoint('gh-bad.example.com', gh.url, 'not-the-secret'),
    ].join('');
    [edge, edgeB] = await Promise.all([
      startEdge(edgeYaml(endpoints)),
      // a second edge of the same cluster (same cluster_secret): it must accept edge A's sessions
      startEdge(edgeYaml(oidcEndpoint('app.example.com', idp.url, '', SECRET, '- type: custom-response\n              config: {body: "edge B: ${actions.ngrok.oidc.identity.email}"}')), {}, 'edge-b'),
    ]);
    const up = await startUpstream('app');
    await startAgent('agent-app', { upstreamPort: up.port, url: 'https://app.internal', edge, authtoken: 'tok_acme' });
  });
  after(async () => {
    await stopAll();
    await Promise.all([idp?.stop(), gh?.stop()]);
  });

  /** Unauthenticated GET → provider → callback → original URL; returns the browser and the final answer. */
  async function signIn(b: CookieBrowser, url: string) {
    const first = await b.get(url);
    assert.equal(first.status, 302, first.text);
    const toIdp = new URL(String(first.headers.location));
    const atIdp = await b.follow(first, url);
    assert.equal(atIdp.status, 302, atIdp.text);
    const callback = new URL(String(atIdp.headers.location));
    const back = await b.follow(atIdp, toIdp.toString());
    return { first, toIdp, callback, back, final: back.status === 302 ? await b.follow(back, callback.toString()) : back };
  }

  it('redirects a browser to the provider, signs in, and passes the identity (not the cookie) upstream', async () => {
    const b = new CookieBrowser(edge.http);
    b.jar('app.example.com').set('theme', 'dark');
    const { first, toIdp, callback, back, final } = await signIn(b, 'http://app.example.com/hello?x=1');
    assert.equal(toIdp.origin + toIdp.pathname, `${idp.url}/authorize`);
    const q = toIdp.searchParams;
    assert.equal(q.get('client_id'), CLIENT_ID);
    assert.equal(q.get('redirect_uri'), 'http://app.example.com/meshgate/oauth/callback');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.deepEqual(q.get('scope')?.split(' '), ['openid', 'profile', 'email']);
    assert.ok(q.get('nonce') && q.get('state'));
    assert.equal(first.headers['cache-control'], 'no-store');
    assert.equal(callback.pathname, '/meshgate/oauth/callback');
    assert.equal(back.status, 302);
    assert.equal(back.headers.location, '/hello?x=1');
    assert.ok(setCookieNames(back.headers['set-cookie']).includes('meshgate_session'));
    assert.equal(final.status, 200, final.text);
    const seen = final.json();
    assert.equal(seen.path, '/hello');
    assert.equal(seen.headers['x-user-email'], USER.email);
    assert.equal(seen.headers['x-user-name'], USER.name);
    assert.equal(seen.headers.cookie, 'theme=dark', 'the session cookie must not reach the upstream');
  });

  it('accepts the session on another edge of the same cluster (cluster_secret-derived key)', async () => {
    const b = new CookieBrowser(edge.http);
    await signIn(b, 'http://app.example.com/');
    const onB = new CookieBrowser(edgeB.http);
    onB.jar('app.example.com').set('meshgate_session', b.jar('app.example.com').get('meshgate_session')!);
    const r = await onB.get('http://app.example.com/');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, `edge B: ${USER.email}`);
  });

  it('answers API clients 401 MG_AUTH_REQUIRED instead of a redirect, and lets them in with a session', async () => {
    const api = await send(edge.http, 'app.example.com', '/data', { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(api.headers['meshgate-error-code'], 'MG_AUTH_REQUIRED');
    assert.match(api.json().error.message, /http:\/\/app\.example\.com\/ngrok\/login\?redirect_path=%2Fdata/);
    const b = new CookieBrowser(edge.http);
    await signIn(b, 'http://app.example.com/');
    const withSession = await b.get('http://app.example.com/data', { accept: 'application/json' });
    assert.equal(withSession.status, 200);
  });

  it('sends a tampered session cookie back to sign in, clearing it', async () => {
    const b = new CookieBrowser(edge.http);
    await signIn(b, 'http://app.example.com/');
    const jar = b.jar('app.example.com');
    const v = jar.get('meshgate_session')!;
    jar.set('meshgate_session', v.slice(0, -6) + (v.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'));
    const r = await b.get('http://app.example.com/again');
    assert.equal(r.status, 302);
    assert.ok(String(r.headers.location).startsWith(`${idp.url}/authorize?`));
    assert.ok(String(r.headers['set-cookie']).includes('meshgate_session=; Path=/; Max-Age=0'));
  });

  it('keeps a session alive while it is used and ends it after idle_session_timeout', async () => {
    const b = new CookieBrowser(edge.http);
    const { final } = await signIn(b, 'http://idle.example.com/');
    assert.equal(final.status, 200);
    for (let i = 0; i < 4; i++) {
      await sleep(700);
      const r = await b.get('http://idle.example.com/');
      assert.equal(r.status, 200, `request ${i} after ${(i + 1) * 0.7}s of activity`);
    }
    await sleep(2_300);
    const r = await b.get('http://idle.example.com/');
    assert.equal(r.status, 302, 'an idle session must end');
    assert.ok(String(r.headers.location).startsWith(`${idp.url}/authorize?`));
  });

  it('ends a session after max_session_duration and signs in again', async () => {
    const b = new CookieBrowser(edge.http);
    const { final } = await signIn(b, 'http://short.example.com/');
    assert.equal(final.status, 200);
    await sleep(2_200);
    const again = await signIn(b, 'http://short.example.com/p');
    assert.equal(again.final.status, 200);
    assert.equal(again.final.json().path, '/p');
  });

  it('signs out on /ngrok/logout (page) and /meshgate/logout?redirect_path (redirect)', async () => {
    const b = new CookieBrowser(edge.http);
    await signIn(b, 'http://app.example.com/');
    const out = await b.get('http://app.example.com/ngrok/logout');
    assert.equal(out.status, 200);
    assert.match(out.text, /Signed out/);
    assert.equal(b.jar('app.example.com').has('meshgate_session'), false);
    assert.equal((await b.get('http://app.example.com/')).status, 302);
    await signIn(b, 'http://app.example.com/');
    const out2 = await b.get('http://app.example.com/meshgate/logout?redirect_path=/bye');
    assert.equal(out2.status, 302);
    assert.equal(out2.headers.location, '/bye');
    assert.equal(b.jar('app.example.com').has('meshgate_session'), false);
  });

  it('shows an error page with MG_OAUTH_FAILED when the provider refuses the client secret', async () => {
    const b = new CookieBrowser(edge.http);
    const first = await b.get('http://badsecret.example.com/');
    const atIdp = await b.follow(first, 'http://badsecret.example.com/');
    const cb = await b.follow(atIdp, String(first.headers.location));
    assert.equal(cb.status, 401);
    assert.equal(cb.headers['meshgate-error-code'], 'MG_OAUTH_FAILED');
    assert.match(String(cb.headers['content-type']), /text\/html/);
    assert.match(cb.text, /MG_OAUTH_FAILED/);
    assert.match(cb.text, /invalid_client/);
    assert.equal(b.jar('badsecret.example.com').size, 0, 'no session, and the pending sign-in is cleared');
  });

  it('answers 502 MG_IDP_UNAVAILABLE when the issuer is down, and keeps serving', async () => {
    const started = Date.now();
    const r = await new CookieBrowser(edge.http).get('http://down.example.com/');
    assert.equal(r.status, 502);
    assert.equal(r.headers['meshgate-error-code'], 'MG_IDP_UNAVAILABLE');
    assert.match(r.text, /could not be reached/);
    assert.ok(Date.now() - started < 6_000);
    const ok = await send(edge.http, 'app.example.com', '/', { headers: { accept: 'application/json' } });
    assert.equal(ok.status, 401);
  });

  it('signs in with oauth provider github (endpoint overrides), email from /user/emails', async () => {
    const b = new CookieBrowser(edge.http);
    const login = await b.get('http://gh.example.com/ngrok/login?redirect_path=/after');
    assert.equal(login.status, 302);
    const toIdp = new URL(String(login.headers.location));
    assert.equal(toIdp.origin + toIdp.pathname, `${gh.url}/login/oauth/authorize`);
    assert.deepEqual(toIdp.searchParams.get('scope')?.split(' '), ['read:user', 'user:email']);
    const atIdp = await b.follow(login, 'http://gh.example.com/');
    const back = await b.follow(atIdp, toIdp.toString());
    assert.equal(back.status, 302, back.text);
    assert.equal(back.headers.location, '/after');
    const final = await b.follow(back, 'http://gh.example.com/');
    assert.equal(final.status, 200, final.text);
    assert.equal(final.json().path, '/after');
    assert.equal(final.json().headers['x-user-email'], USER.email);
    assert.equal(final.json().headers['x-user-id'], USER.sub);
    assert.equal(final.json().headers.cookie, undefined);
  });

  it('shows MG_OAUTH_FAILED when GitHub refuses the client secret', async () => {
    const b = new CookieBrowser(edge.http);
    const first = await b.get('http://gh-bad.example.com/');
    const atIdp = await b.follow(first, 'http://gh-bad.example.com/');
    const cb = await b.follow(atIdp, String(first.headers.location));
    assert.equal(cb.status, 401);
    assert.equal(cb.headers['meshgate-error-code'], 'MG_OAUTH_FAILED');
    assert.match(cb.text, /incorrect_client_credentials/);
  });
});
