import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import '../../services/policy/actions/verify-webhook.js';
import { setWebhookClock, twilioParams } from '../../services/policy/actions/verify-webhook.js';
import type { Exchange, RequestOutcome } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';
import { bodyOf, echo } from './policy-actions-helpers.js';

const P = 'on_http_request[0].actions[0].config';
const NOW = 1_700_000_000;
const hmac = (alg: string, key: string, data: string) => createHmac(alg, key).update(data, 'utf8');
const hex = (alg: string, key: string, data: string) => hmac(alg, key, data).digest('hex');
const b64 = (alg: string, key: string, data: string) => hmac(alg, key, data).digest('base64');

/** verify-webhook with `cfg`, then an echo of the result variables. */
function policy(cfg: string): string {
  return `on_http_request:
  - actions: [{type: verify-webhook, config: ${cfg}}]
${echo('${actions.ngrok.verify_webhook.verified}|${actions.ngrok.verify_webhook.error.code}|${actions.ngrok.verify_webhook.error.message}')}`;
}

async function run(
  src: string,
  body: string | undefined,
  headers: Record<string, string>,
  url = 'https://api.example.com/hook',
): Promise<{ out: RequestOutcome<string>; x: Exchange }> {
  const x = exchange(url, { method: 'POST', headers });
  if (body !== undefined) x.req.body = Buffer.from(body, 'utf8');
  const out = await compileOk(src, AGENT).runRequest(x, endpoint('agent'), new FakeHost());
  return { out, x };
}

function assert403(out: RequestOutcome<string>, msg: RegExp): void {
  assert.equal(out.kind, 'respond', JSON.stringify(out));
  if (out.kind !== 'respond') return;
  assert.equal(out.response.status, 403);
  assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_WEBHOOK_INVALID']);
  const err = JSON.parse(out.response.body).error;
  assert.equal(err.code, 'MG_WEBHOOK_INVALID');
  assert.match(err.message, msg);
}

describe('action verify-webhook', () => {
  beforeEach(() => setWebhookClock(() => NOW * 1000));
  afterEach(() => setWebhookClock());

  const body = '{"action":"opened","n":1}';

  describe('github', () => {
    const src = policy('{provider: github, secret: "gh-secret"}');
    it('verifies X-Hub-Signature-256 and publishes verified', async () => {
      const { out } = await run(src, body, { 'x-hub-signature-256': `sha256=${hex('sha256', 'gh-secret', body)}` });
      assert.equal(bodyOf(out), 'true||');
    });
    it('answers 403 MG_WEBHOOK_INVALID on a bad signature, a missing header or a wrong prefix', async () => {
      assert403((await run(src, body, { 'x-hub-signature-256': `sha256=${hex('sha256', 'other', body)}` })).out, /invalid signature/);
      assert403((await run(src, body + ' ', { 'x-hub-signature-256': `sha256=${hex('sha256', 'gh-secret', body)}` })).out, /invalid signature/);
      assert403((await run(src, body, {})).out, /missing X-Hub-Signature-256/);
      assert403((await run(src, body, { 'x-hub-signature-256': hex('sha256', 'gh-secret', body) })).out, /sha256=/);
      assert403((await run(src, body, { 'x-hub-signature-256': 'sha256=zz' })).out, /invalid signature/);
    });
    it('with enforce: false continues and sets verified false with error code and message', async () => {
      const { out } = await run(policy('{provider: github, secret: "gh-secret", enforce: false}'), body, {});
      assert.equal(bodyOf(out), 'false|ERR_NGROK_3204|missing X-Hub-Signature-256 header');
    });
    it('treats a missing body as empty and takes the secret from CEL', async () => {
      const dyn = `on_http_request:
  - actions:
      - {type: set-vars, config: {vars: [{s: "dyn-secret"}]}}
      - {type: verify-webhook, config: {provider: github, secret: "\${vars.s}"}}
${echo('ok')}`;
      assert.equal(bodyOf((await run(dyn, body, { 'x-hub-signature-256': `sha256=${hex('sha256', 'dyn-secret', body)}` })).out), 'ok');
      assert.equal(bodyOf((await run(src, undefined, { 'x-hub-signature-256': `sha256=${hex('sha256', 'gh-secret', '')}` })).out), 'true||');
    });
  });

  describe('stripe', () => {
    const src = policy('{provider: stripe, secret: "whsec_test"}');
    const sig = (t: number, b = body, key = 'whsec_test') => `t=${t},v1=${hex('sha256', key, `${t}.${b}`)}`;
    it('verifies t= and v1= within the tolerance, any of several v1 entries', async () => {
      assert.equal(bodyOf((await run(src, body, { 'stripe-signature': sig(NOW - 10) })).out), 'true||');
      assert.equal(bodyOf((await run(src, body, { 'stripe-signature': `t=${NOW},v1=${'0'.repeat(64)},v1=${hex('sha256', 'whsec_test', `${NOW}.${body}`)}` })).out), 'true||');
    });
    it('refuses a bad signature, a missing header, a missing part and a stale timestamp', async () => {
      assert403((await run(src, body, { 'stripe-signature': sig(NOW, body, 'whsec_other') })).out, /invalid signature/);
      assert403((await run(src, body, {})).out, /missing Stripe-Signature/);
      assert403((await run(src, body, { 'stripe-signature': `v1=${hex('sha256', 'whsec_test', body)}` })).out, /no timestamp/);
      assert403((await run(src, body, { 'stripe-signature': `t=${NOW}` })).out, /no v1 signature/);
      assert403((await run(src, body, { 'stripe-signature': sig(NOW - 301) })).out, /more than 300 s/);
      assert403((await run(src, body, { 'stripe-signature': sig(NOW + 301) })).out, /more than 300 s/);
      assert.equal(bodyOf((await run(src, body, { 'stripe-signature': sig(NOW - 300) })).out), 'true||');
    });
  });

  describe('slack', () => {
    const src = policy('{provider: slack, secret: "slack-secret"}');
    const h = (ts: number, key = 'slack-secret') => ({
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': `v0=${hex('sha256', key, `v0:${ts}:${body}`)}`,
    });
    it('verifies v0 signatures within the tolerance', async () => {
      assert.equal(bodyOf((await run(src, body, h(NOW + 5))).out), 'true||');
    });
    it('refuses a bad signature, missing headers and a stale timestamp', async () => {
      assert403((await run(src, body, h(NOW, 'nope'))).out, /invalid signature/);
      assert403((await run(src, body, { 'x-slack-signature': h(NOW)['x-slack-signature'] })).out, /missing X-Slack-Request-Timestamp/);
      assert403((await run(src, body, { 'x-slack-request-timestamp': String(NOW) })).out, /missing X-Slack-Signature/);
      assert403((await run(src, body, h(NOW - 600))).out, /more than 300 s/);
      assert403((await run(src, body, { ...h(NOW), 'x-slack-request-timestamp': 'abc' })).out, /invalid signature|not a Unix time/);
    });
  });

  describe('twilio', () => {
    const src = policy('{provider: twilio, secret: "auth-token"}');
    const url = 'https://api.example.com/sms?x=1';
    const form = 'To=%2B15551234&From=%2B15559876&Body=hello+world&Body=a';
    const signed = `${url}BodyaBodyhello worldFrom+15559876To+15551234`;
    it('builds the parameter string Twilio signs (sorted names, sorted values)', () => {
      assert.equal(twilioParams(form), 'BodyaBodyhello worldFrom+15559876To+15551234');
    });
    it('verifies form-encoded POSTs over URL + sorted params', async () => {
      const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-twilio-signature': b64('sha1', 'auth-token', signed) };
      assert.equal(bodyOf((await run(src, form, headers, url)).out), 'true||');
    });
    it('refuses a bad signature, a missing header and a changed URL', async () => {
      const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': b64('sha1', 'auth-token', signed) };
      assert403((await run(src, form, { ...headers, 'x-twilio-signature': b64('sha1', 'other', signed) }, url)).out, /invalid signature/);
      assert403((await run(src, form, { 'content-type': 'application/x-www-form-urlencoded' }, url)).out, /missing X-Twilio-Signature/);
      assert403((await run(src, form, headers, 'https://api.example.com/sms?x=2')).out, /invalid signature/);
    });
    it('for JSON bodies signs the URL and checks bodySHA256', async () => {
      const json = '{"a":1}';
      const sha = (await import('node:crypto')).createHash('sha256').update(json).digest('hex');
      const u = `https://api.example.com/hook?bodySHA256=${sha}`;
      const headers = { 'content-type': 'application/json', 'x-twilio-signature': b64('sha1', 'auth-token', u) };
      assert.equal(bodyOf((await run(src, json, headers, u)).out), 'true||');
      assert403((await run(src, '{"a":2}', headers, u)).out, /bodySHA256/);
    });
  });

  describe('generic hmac (meshgate extension)', () => {
    it('verifies hex with a prefix (default sha256)', async () => {
      const src = policy('{provider: hmac, secret: k, header: X-Signature, prefix: "sha256="}');
      assert.equal(bodyOf((await run(src, body, { 'x-signature': `sha256=${hex('sha256', 'k', body)}` })).out), 'true||');
      assert403((await run(src, body, { 'x-signature': hex('sha256', 'k', body) })).out, /does not start with 'sha256='/);
      assert403((await run(src, body, { 'x-signature': `sha256=${hex('sha256', 'j', body)}` })).out, /invalid signature/);
      assert403((await run(src, body, {})).out, /missing x-signature header/);
    });
    it('verifies base64 with sha512 and sha1', async () => {
      const s512 = policy('{provider: hmac, secret: k, header: x-sig, algorithm: sha512, encoding: base64}');
      assert.equal(bodyOf((await run(s512, body, { 'x-sig': b64('sha512', 'k', body) })).out), 'true||');
      assert403((await run(s512, body, { 'x-sig': b64('sha256', 'k', body) })).out, /invalid signature/);
      const s1 = policy('{provider: hmac, secret: k, header: x-sig, algorithm: sha1, encoding: base64}');
      assert.equal(bodyOf((await run(s1, body, { 'x-sig': b64('sha1', 'k', body) })).out), 'true||');
    });
  });

  describe('validation', () => {
    const issues = (cfg: string) => issuesOf(`on_http_request:\n  - actions: [{type: verify-webhook, config: ${cfg}}]\n`, AGENT);
    it('refuses unknown providers naming the supported ones, and missing provider/secret', () => {
      assert.equal(issueAt(issues('{provider: gitlab, secret: s}'), `${P}.provider`).message, 'unsupported provider the string "gitlab"; supported: github, stripe, slack, twilio, hmac');
      assert.match(issueAt(issues('{secret: s}'), `${P}.provider`).message, /is required: one of github, stripe/);
      assert.equal(issueAt(issues('{provider: github}'), `${P}.secret`).message, 'is required');
      assert.equal(issueAt(issues('{provider: github, secret: ""}'), `${P}.secret`).message, 'must not be empty');
      assert.equal(issueAt(issues('{provider: github, secret: s, enforce: "no"}'), `${P}.enforce`).message, 'must be true or false, got the string "no"');
    });
    it('checks the hmac fields, and refuses them with other providers', () => {
      assert.equal(issueAt(issues('{provider: hmac, secret: s}'), `${P}.header`).message, 'is required');
      assert.match(issueAt(issues('{provider: hmac, secret: s, header: "a b"}'), `${P}.header`).message, /not a valid header name/);
      assert.match(issueAt(issues('{provider: hmac, secret: s, header: x, algorithm: md5}'), `${P}.algorithm`).message, /must be one of sha1, sha256, sha512/);
      assert.match(issueAt(issues('{provider: hmac, secret: s, header: x, encoding: b32}'), `${P}.encoding`).message, /must be one of hex, base64/);
      assert.match(issueAt(issues('{provider: github, secret: s, header: x}'), `${P}.header`).message, /only accepted with provider: hmac/);
      assert.match(issueAt(issues('{provider: github, secret: s, bogus: 1}'), `${P}.bogus`).message, /unknown field 'bogus'/);
    });
    it('asks the edge for a 1 MiB request body', () => {
      assert.equal(compileOk(policy('{provider: github, secret: s}'), AGENT).requestBodyLimit, 1024 * 1024);
      assert.equal(compileOk(`on_http_request:\n${echo('x')}`, AGENT).requestBodyLimit, 0);
    });
  });
});
