/**
 * `verify-webhook`: check that a request is a webhook signed by the named provider, over the raw
 * request body (`req.body`, which the edge buffers first: this action asks for up to 1 MiB through
 * `requestBodyLimit`; a larger body is answered 413 MG_REQUEST_BODY_TOO_LARGE by the edge).
 *
 * Config:
 * - `provider` (required, plain string): one of PROVIDERS below;
 * - `secret` (required, `${}` interpolated): the signing secret (Twilio: the auth token);
 * - `enforce` (default true; false only sets the result variables);
 * - meshgate extension, only with `provider: hmac`: `header` (required, the header carrying the
 *   signature), `algorithm` sha1|sha256|sha512 (default sha256), `encoding` hex|base64 (default
 *   hex), `prefix` (optional, stripped from the header value, e.g. "sha256=").
 *
 * Providers (signatures compared in constant time):
 * - `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`;
 * - `stripe`: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (any of
 *   several v1 entries may match);
 * - `slack`: `X-Slack-Request-Timestamp: <unix>`, `X-Slack-Signature: v0=<hex
 *   HMAC-SHA256(secret, "v0:<ts>:<body>")>`;
 * - `twilio`: `X-Twilio-Signature: <base64 HMAC-SHA1(auth token, URL + params)>`, URL being
 *   `scheme://host[:port]/path[?query]` as the client called it (default port omitted), params the
 *   application/x-www-form-urlencoded body fields sorted by name (values of a repeated name
 *   sorted), each written name+value. For other content types the URL alone is signed and, when
 *   the query has `bodySHA256`, it must be the hex SHA-256 of the body;
 * - `hmac`: generic, as configured.
 * Stripe and Slack timestamps must be within TOLERANCE_S (300 s) of the gateway clock, either
 * direction (anti-replay).
 *
 * Failure (missing or malformed header, wrong signature, stale timestamp) and enforced → synthetic
 * 403, `meshgate-error-code: MG_WEBHOOK_INVALID` (ngrok ERR_NGROK_3204).
 * Result: `actions.ngrok.verify_webhook.{verified, error.code, error.message}` (error fields ''
 * when verified; error.code 'ERR_NGROK_3204' otherwise).
 * Not implemented: ngrok's other ~55 providers and the automatic challenge answers (Twitter,
 * Worldline, Xero, Zoom).
 */
import type { ErrorCode } from '../../core/errors.js';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import type { PolicyRequest } from '../types.js';
import { describe, isHeaderName, readEnum, readTemplate } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { readBool, readString, rejection, requestUrl } from './util.js';

/** Error code of the 403 (to be added to services/core/errors.ts: 403, ngrok ERR_NGROK_3204). */
export const WEBHOOK_INVALID: ErrorCode = 'MG_WEBHOOK_INVALID';
export const NGROK_WEBHOOK_ERROR = 'ERR_NGROK_3204';
/** Bytes of body the action reads (the edge buffers this much). */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
/** Timestamp tolerance of stripe and slack, seconds. */
export const TOLERANCE_S = 300;

export const PROVIDERS = ['github', 'stripe', 'slack', 'twilio', 'hmac'] as const;
export type Provider = (typeof PROVIDERS)[number];
type Algorithm = 'sha1' | 'sha256' | 'sha512';
type Encoding = 'hex' | 'base64';

interface GenericHmac {
  readonly header: string;
  readonly algorithm: Algorithm;
  readonly encoding: Encoding;
  readonly prefix: string;
}

interface WebhookConfig {
  readonly provider: Provider;
  readonly secret: Template;
  readonly secretLabel: string;
  readonly enforce: boolean;
  readonly hmac: GenericHmac | undefined;
}

let clock: () => number = Date.now;

/** Replaces the clock (ms since epoch) timestamp checks read (tests); `undefined` restores Date.now. */
export function setWebhookClock(fn?: () => number): void {
  clock = fn ?? Date.now;
}

const HMAC_FIELDS = ['header', 'algorithm', 'encoding', 'prefix'] as const;

export const verifyWebhook: ActionDefinition<WebhookConfig> = {
  phases: ['on_http_request'],
  fields: ['provider', 'secret', 'enforce', ...HMAC_FIELDS],

  compile(config, cx) {
    let ok = true;
    let provider: Provider | undefined;
    const p = config.provider;
    if (p === undefined || p === null) {
      cx.issue('provider', `is required: one of ${PROVIDERS.join(', ')}`);
      ok = false;
    } else if (typeof p !== 'string' || !(PROVIDERS as readonly string[]).includes(p)) {
      cx.issue('provider', `unsupported provider ${describe(p)}; supported: ${PROVIDERS.join(', ')}`);
      ok = false;
    } else provider = p as Provider;

    const secret = readTemplate(config, 'secret', cx, { required: true });
    if (secret === undefined) ok = false;
    else if (secret.isStatic && secret.staticValue === '') {
      cx.issue('secret', 'must not be empty');
      ok = false;
    }
    const enforce = readBool(config, 'enforce', true, cx);
    if (enforce === undefined) ok = false;

    let hmac: GenericHmac | undefined;
    if (provider === 'hmac') {
      const header = readString(config, 'header', cx, { required: true, maxLength: 256 });
      if (header !== undefined && !isHeaderName(header)) {
        cx.issue('header', `'${header}' is not a valid header name`);
        ok = false;
      }
      const algorithm = readEnum<Algorithm>(config, 'algorithm', ['sha1', 'sha256', 'sha512'], 'sha256', cx);
      const encoding = readEnum<Encoding>(config, 'encoding', ['hex', 'base64'], 'hex', cx);
      const prefix = readString(config, 'prefix', cx, { default: '', maxLength: 64 });
      if (header === undefined || algorithm === undefined || encoding === undefined || prefix === undefined) ok = false;
      else hmac = { header: header.toLowerCase(), algorithm, encoding, prefix };
    } else if (provider !== undefined) {
      for (const f of HMAC_FIELDS) {
        if (config[f] !== undefined) {
          cx.issue(f, `is only accepted with provider: hmac (provider is ${provider})`);
          ok = false;
        }
      }
    }
    if (!ok) return undefined;
    return { provider: provider!, secret: secret!, secretLabel: `${cx.path}.secret`, enforce: enforce!, hmac };
  },

  termination() {
    return 'maybe';
  },

  requestBodyLimit() {
    return WEBHOOK_BODY_LIMIT;
  },

  run(cx, c) {
    const secret = c.secret.isStatic ? c.secret.staticValue : cx.evalString(c.secret);
    if (secret === '') throw new PolicyRuntimeError(c.secretLabel, 'the secret is empty');
    const problem = verify(c, secret, cx.exchange.req, clock());
    cx.setResult('verify_webhook', {
      verified: problem === undefined,
      error: problem === undefined ? { code: '', message: '' } : { code: NGROK_WEBHOOK_ERROR, message: problem },
    });
    if (problem === undefined || !c.enforce) return undefined;
    return { kind: 'respond', response: rejection(403, WEBHOOK_INVALID, `webhook verification failed: ${problem}`) };
  },
};

/** Why the request is not a valid webhook of `c.provider`, or undefined when it is. */
export function verify(c: Pick<WebhookConfig, 'provider' | 'hmac'>, secret: string, req: PolicyRequest, nowMs: number): string | undefined {
  const body = req.body ?? Buffer.alloc(0);
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return v === undefined || v.length === 0 ? undefined : v.join(',');
  };
  const stale = (ts: string): string | undefined => {
    if (!/^\d{1,12}$/.test(ts)) return `the timestamp '${ts}' is not a Unix time`;
    if (Math.abs(nowMs / 1000 - Number(ts)) > TOLERANCE_S) return `the timestamp is more than ${TOLERANCE_S} s away from the current time`;
    return undefined;
  };
  switch (c.provider) {
    case 'github': {
      const h = header('x-hub-signature-256');
      if (h === undefined) return 'missing X-Hub-Signature-256 header';
      if (!h.startsWith('sha256=')) return "X-Hub-Signature-256 does not start with 'sha256='";
      return hexMatches(h.slice(7), hmacOf('sha256', secret, [body])) ? undefined : 'invalid signature';
    }
    case 'stripe': {
      const h = header('stripe-signature');
      if (h === undefined) return 'missing Stripe-Signature header';
      let t: string | undefined;
      const v1: string[] = [];
      for (const part of h.split(',')) {
        const eq = part.indexOf('=');
        if (eq < 0) continue;
        const k = part.slice(0, eq).trim();
        const v = part.slice(eq + 1).trim();
        if (k === 't') t ??= v;
        else if (k === 'v1') v1.push(v);
      }
      if (t === undefined) return 'Stripe-Signature has no timestamp (t=)';
      if (v1.length === 0) return 'Stripe-Signature has no v1 signature';
      const expected = hmacOf('sha256', secret, [Buffer.from(`${t}.`, 'utf8'), body]);
      let matched = false;
      for (const s of v1) if (hexMatches(s, expected)) matched = true;
      if (!matched) return 'invalid signature';
      return stale(t);
    }
    case 'slack': {
      const ts = header('x-slack-request-timestamp');
      const sig = header('x-slack-signature');
      if (ts === undefined) return 'missing X-Slack-Request-Timestamp header';
      if (sig === undefined) return 'missing X-Slack-Signature header';
      if (!sig.startsWith('v0=')) return "X-Slack-Signature does not start with 'v0='";
      const expected = hmacOf('sha256', secret, [Buffer.from(`v0:${ts}:`, 'utf8'), body]);
      if (!hexMatches(sig.slice(3), expected)) return 'invalid signature';
      return stale(ts);
    }
    case 'twilio': {
      const sig = header('x-twilio-signature');
      if (sig === undefined) return 'missing X-Twilio-Signature header';
      const url = requestUrl(req);
      const contentType = (header('content-type') ?? '').split(';')[0].trim().toLowerCase();
      let signed = url;
      if (contentType === 'application/x-www-form-urlencoded') {
        signed += twilioParams(body.toString('utf8'));
      } else {
        const bodySha = new URLSearchParams(req.query).get('bodySHA256');
        if (bodySha !== null && !hexMatches(bodySha, createHash('sha256').update(body).digest())) return 'the body does not match bodySHA256';
      }
      return base64Matches(sig, hmacOf('sha1', secret, [Buffer.from(signed, 'utf8')])) ? undefined : 'invalid signature';
    }
    case 'hmac': {
      const g = c.hmac!;
      const h = header(g.header);
      if (h === undefined) return `missing ${g.header} header`;
      if (!h.startsWith(g.prefix)) return `${g.header} does not start with '${g.prefix}'`;
      const expected = hmacOf(g.algorithm, secret, [body]);
      const presented = h.slice(g.prefix.length).trim();
      const ok = g.encoding === 'hex' ? hexMatches(presented, expected) : base64Matches(presented, expected);
      return ok ? undefined : 'invalid signature';
    }
  }
}

/** Twilio's parameter string: form fields sorted by name, values of one name sorted, name+value each. */
export function twilioParams(form: string): string {
  const byName = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(form)) {
    const list = byName.get(k);
    if (list) list.push(v);
    else byName.set(k, [v]);
  }
  let out = '';
  for (const k of [...byName.keys()].sort()) for (const v of byName.get(k)!.sort()) out += k + v;
  return out;
}

function hmacOf(alg: Algorithm, secret: string, parts: readonly Buffer[]): Buffer {
  const h = createHmac(alg, secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

function hexMatches(presented: string, expected: Buffer): boolean {
  if (!/^[0-9a-fA-F]*$/.test(presented) || presented.length !== expected.length * 2) return false;
  return timingSafeEqual(Buffer.from(presented, 'hex'), expected);
}

function base64Matches(presented: string, expected: Buffer): boolean {
  const p = presented.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p)) return false;
  const got = Buffer.from(p, 'base64');
  if (got.length !== expected.length) return false;
  return timingSafeEqual(got, expected);
}

registerAction('verify-webhook', verifyWebhook);
