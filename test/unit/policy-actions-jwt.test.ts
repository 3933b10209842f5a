import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// registers jwt-validation (until builtin.ts imports it)
import { jkuProblem } from '../../services/policy/actions/jwt-validation.js';
import { loadJwks } from '../../services/policy/actions/jwks.js';
import { clearJwksCache, setJwksFetcher } from '../../services/policy/index.js';
import { AGENT, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo, runReq } from './policy-actions-helpers.js';

const P = 'on_http_request[0].actions[0].config';
const URL_ = 'https://api.example.com/';
const ISS = 'https://issuer.example.com/';
const now = () => Math.floor(Date.now() / 1000);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function jwt(alg: string, key: KeyObject | string, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg, typ: 'JWT', ...header })}.${b64(payload)}`;
  let sig: Buffer;
  if (typeof key === 'string') {
    // HMAC secret
    sig = hmac(alg, key, input);
  } else if (alg.startsWith('ES')) sig = sign(`sha${alg.slice(2)}`, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) sig = sign(`sha${alg.slice(2)}`, Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  else if (alg === 'EdDSA') sig = sign(null, Buffer.from(input), key);
  else sig = sign(`sha${alg.slice(2)}`, Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

function hmac(alg: string, secret: string, input: string): Buffer {
  return createHmac(`sha${alg.slice(2)}`, secret).update(input).digest();
}

const jwk = (k: KeyObject, kid?: string) => ({ ...k.export({ format: 'jwk' }), ...(kid ? { kid } : {}) });
const claims = (over: Record<string, unknown> = {}) => ({ iss: ISS, aud: 'api', sub: 'user-1', exp: now() + 300, ...over });

function policy(cfg: Record<string, unknown>, body = '${actions.ngrok.jwt_validation.tokens[0].payload.sub} ${actions.ngrok.jwt_validation.tokens[0].verified}'): string {
  return `on_http_request:\n  - actions:\n      - type: jwt-validation\n        config: ${JSON.stringify(cfg)}\n${echo(body)}`;
}

const base = (keys: Record<string, unknown>, algs = ['RS256', 'ES256']) => ({
  issuer: { allow_list: [{ value: ISS }] },
  audience: { allow_list: [{ value: 'api' }, { value: 'admin' }] },
  http: { tokens: [{ type: 'jwt', method: 'header', name: 'Authorization', prefix: 'Bearer ' }] },
  jws: { allowed_algorithms: algs, keys },
});
const inlineCfg = base({ inline: [jwk(rsa.publicKey, 'rsa-1'), jwk(rsa2.publicKey, 'rsa-2'), jwk(ec.publicKey, 'ec-1')] });
const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

async function expect401(cfg: Record<string, unknown>, opts: { headers?: Record<string, string> }, code = 'MG_JWT_INVALID'): Promise<string> {
  const { out } = await runReq(policy(cfg), URL_, opts);
  assert.equal(out.kind, 'respond', JSON.stringify(out));
  if (out.kind !== 'respond') return '';
  assert.equal(out.response.status, 401);
  assert.deepEqual(out.response.headers['meshgate-error-code'], [code]);
  const body = JSON.parse(out.response.body) as { error: { code: string; message: string } };
  assert.equal(body.error.code, code);
  return `${out.response.headers['www-authenticate']?.[0]} | ${body.error.message}`;
}

describe('action jwt-validation: config', () => {
  const run = (cfg: Record<string, unknown>) => issuesOf(`on_http_request:\n  - actions: [{type: jwt-validation, config: ${JSON.stringify(cfg)}}]\n`, AGENT);
  const keys = { inline: [jwk(rsa.publicKey)] };

  it('requires the issuer allow list, with paths', () => {
    const { issuer: _i, ...noIssuer } = base(keys);
    assert.equal(issueAt(run(noIssuer), `${P}.issuer`).message, 'is required');
    assert.match(issueAt(run({ ...base(keys), issuer: { allow_list: [] } }), `${P}.issuer.allow_list`).message, /must have 1 to 10/);
    assert.equal(issueAt(run({ ...base(keys), issuer: { allow_list: [{ valu: 'x' }] } }), `${P}.issuer.allow_list[0].valu`).message, "unknown field 'valu' (accepted: value)");
  });

  it("refuses 'none', unknown algorithms and a missing algorithm list", () => {
    assert.equal(issueAt(run(base(keys, ['none'])), `${P}.jws.allowed_algorithms[0]`).message, "'none' is not allowed: unsigned tokens are never accepted");
    assert.match(issueAt(run(base(keys, ['RS256', 'XX1'])), `${P}.jws.allowed_algorithms[1]`).message, /unsupported algorithm/);
    const c = base(keys);
    assert.match(issueAt(run({ ...c, jws: { keys } }), `${P}.jws.allowed_algorithms`).message, /is required/);
  });

  it('refuses bad token specs: unknown type, body method (not supported yet), bad header name', () => {
    const tok = (t: Record<string, unknown>) => ({ ...base(keys), http: { tokens: [t] } });
    assert.match(issueAt(run(tok({ type: 'saml' })), `${P}.http.tokens[0].type`).message, /must be one of jwt, access_token/);
    assert.match(issueAt(run(tok({ method: 'body' })), `${P}.http.tokens[0].method`).message, /not supported yet/);
    assert.match(issueAt(run(tok({ name: 'bad header' })), `${P}.http.tokens[0].name`).message, /not a valid header name/);
    assert.match(issueAt(run(tok({ nme: 'x' })), `${P}.http.tokens[0].nme`).message, /unknown field/);
  });

  it('refuses no key source, bad inline keys and non-https JWKS URLs', () => {
    assert.equal(issueAt(run(base({})), `${P}.jws.keys`).message, 'needs at least one key source: sources.additional_jkus or inline');
    assert.match(issueAt(run(base({ inline: [{ kty: 'RSA', n: 'x' }] })), `${P}.jws.keys.inline[0]`).message, /cannot be imported/);
    assert.match(issueAt(run(base({ inline: [{ pem: 'nope' }] })), `${P}.jws.keys.inline[0]`).message, /not a PEM public key/);
    assert.match(issueAt(run(base({ inline: [{ secret: 'short' }] })), `${P}.jws.keys.inline[0]`).message, /at least 16/);
    assert.match(issueAt(run(base({ sources: { additional_jkus: ['http://example.com/jwks'] } })), `${P}.jws.keys.sources.additional_jkus[0]`).message, /must be an https URL/);
  });
});

describe('action jwt-validation: inline keys', () => {
  it('accepts an RS256 token by kid and publishes header, payload and verified', async () => {
    const t = jwt('RS256', rsa2.privateKey, claims({ sub: 'alice' }), { kid: 'rsa-2' });
    const { out } = await runReq(policy(inlineCfg, '${actions.ngrok.jwt_validation.tokens[0].payload.sub} ${actions.ngrok.jwt_validation.tokens[0].verified} ${actions.ngrok.jwt_validation.tokens[0].header.kid}'), URL_, bearer(t));
    assert.equal(bodyOf(out), 'alice true rsa-2');
  });

  it('accepts an ES256 token without kid (the only key that fits), with aud as a list', async () => {
    const cfg = base({ inline: [jwk(ec.publicKey)] });
    const t = jwt('ES256', ec.privateKey, claims({ sub: 'bob', aud: ['other', 'admin'] }));
    assert.equal(bodyOf((await runReq(policy(cfg), URL_, bearer(t))).out), 'bob true');
  });

  it('accepts EdDSA (PEM key), HS256 (secret) and PS256, and a custom header without prefix', async () => {
    const pem = ed.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const cfg = { ...base({ inline: [{ kid: 'ed', pem }, { kid: 'hs', secret: 'a-long-shared-secret' }, jwk(rsa.publicKey, 'ps')] }, ['EdDSA', 'HS256', 'PS256']), http: { tokens: [{ name: 'x-token' }] } };
    for (const t of [
      jwt('EdDSA', ed.privateKey, claims({ sub: 'ed' }), { kid: 'ed' }),
      jwt('HS256', 'a-long-shared-secret', claims({ sub: 'hs' }), { kid: 'hs' }),
      jwt('PS256', rsa.privateKey, claims({ sub: 'ps' }), { kid: 'ps' }),
    ]) {
      const { out } = await runReq(policy(cfg), URL_, { headers: { 'x-token': t } });
      assert.match(bodyOf(out), / true$/);
    }
  });

  it('answers 401 for a missing header, expired, not-yet-valid, wrong issuer, wrong audience', async () => {
    assert.equal(await expect401(inlineCfg, {}), 'Bearer | no token in the authorization header');
    const k = rsa.privateKey;
    const h = { kid: 'rsa-1' };
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', k, claims({ exp: now() - 61 }), h))), /invalid_token.*the token has expired/);
    // within the 60 s leeway
    assert.equal(bodyOf((await runReq(policy(inlineCfg), URL_, bearer(jwt('RS256', k, claims({ exp: now() - 30 }), h)))).out), 'user-1 true');
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', k, claims({ nbf: now() + 120 }), h))), /not valid yet/);
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', k, claims({ iss: 'https://evil.example.com/' }), h))), /issuer is not allowed/);
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', k, claims({ aud: 'other' }), h))), /audience is not allowed/);
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', k, claims({ aud: undefined }), h))), /audience is not allowed/);
  });

  it('answers 401 for a bad signature, an unknown kid, a disallowed alg and garbage', async () => {
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', rsa2.privateKey, claims(), { kid: 'rsa-1' }))), /signature is not valid/);
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', rsa.privateKey, claims(), { kid: 'nope' }))), /no RS256 key with the token's kid/);
    // two RSA keys and no kid: ambiguous
    assert.match(await expect401(inlineCfg, bearer(jwt('RS256', rsa.privateKey, claims()))), /no kid and 2 keys fit/);
    assert.match(await expect401(inlineCfg, bearer(jwt('HS256', 'whatever-secret-123', claims()))), /algorithm HS256 is not allowed/);
    const unsigned = `${b64({ alg: 'none' })}.${b64(claims())}.`;
    assert.match(await expect401(inlineCfg, bearer(unsigned)), /algorithm none is not allowed/);
    assert.match(await expect401(inlineCfg, bearer('not-a-jwt')), /not a compact JWS/);
    assert.match(await expect401(inlineCfg, { headers: { authorization: 'Basic abc' } }), /^Bearer \| .*prefix/);
    // tampered payload
    const [h, , s] = jwt('RS256', rsa.privateKey, claims(), { kid: 'rsa-1' }).split('.');
    assert.match(await expect401(inlineCfg, bearer(`${h}.${b64(claims({ sub: 'root' }))}.${s}`)), /signature is not valid/);
  });

  it('checks the JOSE typ for at+jwt tokens', async () => {
    const cfg = { ...inlineCfg, http: { tokens: [{ type: 'at+jwt', prefix: 'Bearer ' }] } };
    assert.match(await expect401(cfg, bearer(jwt('RS256', rsa.privateKey, claims(), { kid: 'rsa-1' }))), /typ is not at\+jwt/);
    const ok = jwt('RS256', rsa.privateKey, claims(), { kid: 'rsa-1', typ: 'application/at+jwt' });
    assert.equal(bodyOf((await runReq(policy(cfg), URL_, bearer(ok))).out), 'user-1 true');
  });
});

describe('action jwt-validation: JWKS over HTTP', () => {
  let server: Server;
  let hits = 0;
  let status = 200;
  let base_ = '';
  const jwks = { keys: [{ ...jwk(rsa.publicKey, 'r1'), use: 'sig', alg: 'RS256' }, jwk(ec.publicKey, 'e1'), { kty: 'oct', k: 'c2VjcmV0', kid: 'h1' }] };

  before(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/big') return void res.end('x'.repeat(300 * 1024));
      if (req.url === '/slow') return void setTimeout(() => res.end(JSON.stringify(jwks)), 50);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? JSON.stringify(jwks) : 'down');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base_ = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    clearJwksCache();
    hits = 0;
    status = 200;
  });
  afterEach(() => setJwksFetcher(undefined));

  const cfg = (path = '/jwks.json') => base({ sources: { additional_jkus: [`${base_}${path}`] } });

  it('fetches the JWKS once, then serves from the cache (even with the server answering errors)', async () => {
    const t = jwt('RS256', rsa.privateKey, claims({ sub: 'carol' }), { kid: 'r1' });
    assert.equal(bodyOf((await runReq(policy(cfg()), URL_, bearer(t))).out), 'carol true');
    assert.equal(hits, 1);
    status = 500;
    const t2 = jwt('ES256', ec.privateKey, claims({ sub: 'dave' }), { kid: 'e1' });
    assert.equal(bodyOf((await runReq(policy(cfg()), URL_, bearer(t2))).out), 'dave true');
    assert.equal(hits, 1);
  });

  it('shares one fetch between concurrent requests; does not fetch when there is no token', async () => {
    const t = jwt('RS256', rsa.privateKey, claims(), { kid: 'r1' });
    const outs = await Promise.all([1, 2, 3].map(() => runReq(policy(cfg('/slow')), URL_, bearer(t))));
    for (const { out } of outs) assert.equal(bodyOf(out), 'user-1 true');
    assert.equal(hits, 1);
    clearJwksCache();
    hits = 0;
    await expect401(cfg(), {});
    assert.equal(hits, 0);
  });

  it('ignores oct keys from a URL', async () => {
    const t = jwt('HS256', 'secret', claims(), { kid: 'h1' });
    assert.match(await expect401({ ...cfg(), jws: { ...cfg().jws, allowed_algorithms: ['HS256'] } }, bearer(t)), /no HS256 key/);
  });

  it('a failed fetch → 401 MG_JWT_KEYS_UNAVAILABLE (ngrok ERR_NGROK_3422); the detail stays server-side', async () => {
    status = 503;
    const t = jwt('RS256', rsa.privateKey, claims(), { kid: 'r1' });
    assert.equal(await expect401(cfg(), bearer(t), 'MG_JWT_KEYS_UNAVAILABLE'), 'Bearer error="invalid_token", error_description="the signing keys could not be fetched" | the signing keys could not be fetched');
    // failures are cached briefly: no second hit right away
    assert.equal(hits, 1);
    await expect401(cfg(), bearer(t), 'MG_JWT_KEYS_UNAVAILABLE');
    assert.equal(hits, 1);
    clearJwksCache();
    const r = await loadJwks(`${base_}/jwks.json`);
    assert.deepEqual(r, { ok: false, message: `fetching the JWKS at ${base_}/jwks.json failed: HTTP status 503` });
    const big = await loadJwks(`${base_}/big`);
    assert.match(big.ok ? '' : big.message, /larger than 262144 bytes/);
    // nothing listening
    const dead = base({ sources: { additional_jkus: ['http://127.0.0.1:1/jwks'] } });
    await expect401(dead, bearer(t), 'MG_JWT_KEYS_UNAVAILABLE');
    // a key found inline still verifies when a JWKS is down
    const mixed = base({ sources: { additional_jkus: ['http://127.0.0.1:1/jwks'] }, inline: [jwk(rsa.publicKey, 'r1')] });
    assert.equal(bodyOf((await runReq(policy(mixed), URL_, bearer(t))).out), 'user-1 true');
  });

  it('only allows http JWKS URLs to loopback IPs', () => {
    assert.equal(jkuProblem('http://127.0.0.1:8080/jwks'), undefined);
    assert.equal(jkuProblem('http://[::1]/jwks'), undefined);
    assert.equal(jkuProblem('https://keys.example.com/jwks'), undefined);
    assert.match(jkuProblem('http://127.evil.example/jwks') ?? '', /must be an https URL/);
    assert.match(jkuProblem('ftp://x/jwks') ?? '', /must be an https URL/);
  });

  it('uses a plugged-in fetcher', async () => {
    let calls = 0;
    setJwksFetcher((url) => {
      calls++;
      assert.equal(url, 'https://keys.example.com/jwks');
      return Promise.resolve(JSON.stringify(jwks));
    });
    const c = base({ sources: { additional_jkus: ['https://keys.example.com/jwks'] } });
    const t = jwt('RS256', rsa.privateKey, claims({ sub: 'erin' }), { kid: 'r1' });
    assert.equal(bodyOf((await runReq(policy(c), URL_, bearer(t))).out), 'erin true');
    assert.equal(bodyOf((await runReq(policy(c), URL_, bearer(t))).out), 'erin true');
    assert.equal(calls, 1);
  });
});
