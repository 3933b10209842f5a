/**
 * `rate-limit`: limit how often requests sharing a bucket key are accepted. Continues under the
 * limit; answers 429 with `retry-after` over it.
 *
 * Config (reference §4):
 * - `name` (required, 1 to 1023 characters): a label; also part of the counter key;
 * - `algorithm` (required): `sliding_window` (the only one);
 * - `capacity` (required int 1..2,000,000,000): requests accepted per `rate`;
 * - `rate` (required duration like `60s`, `1m`, `1h30m`): the window. ngrok wants a multiple of
 *   10s between 60s and 24h; meshgate also accepts any whole number of seconds down to `1s`
 *   (the seed multicloud guide uses `1s`);
 * - `bucket_key` (required list of 1 to 10 CEL expressions, e.g. `conn.client_ip`,
 *   `getReqHeader('x-api-key')`; `${expr}` is accepted too): the values together name the bucket;
 * - `enforce` (default true): false only sets the result variables;
 * - `scope` (meshgate, default `local`): `local` counts per edge process, like ngrok ("capacity
 *   tracked per ingress server"); `global` is accepted and uses the counter plugged in with
 *   `setGlobalRateCounter` — until the Redis counter lands it falls back to local.
 *
 * Local counters live with the compiled action (in memory, bounded, idle buckets evicted); a
 * policy update (recompile) starts counting afresh. If a (remote) counter fails, the request is
 * let through (fail open) and `error.*` is set.
 *
 * Limited and enforced → synthetic 429, `retry-after: <seconds>`,
 * `meshgate-error-code: MG_RATE_LIMITED`.
 * Result: `actions.ngrok.rate_limit.{bucket_key, limited}` (+ `error.{code,message}`).
 */
import type { ErrorCode } from '../../core/errors.js';
import { celToString, type Template } from '../cel/index.js';
import { describe, readEnum } from './config.js';
import { registerAction, type ActionDefinition, type ActionOutcome, type ActionRunContext } from './registry.js';
import { getGlobalRateCounter, LocalRateCounter, rateLimitNow, type RateCounter, type RateDecision, reportRateDecision } from './rate-counter.js';
import { readBool, readString, rejection } from './util.js';

export const RATE_LIMITED: ErrorCode = 'MG_RATE_LIMITED';
const MAX_CAPACITY = 2_000_000_000;
const MIN_RATE_S = 1;
const MAX_RATE_S = 24 * 3600;
const MAX_BUCKET_KEYS = 10;

interface RateLimitConfig {
  readonly name: string;
  readonly capacity: number;
  readonly windowMs: number;
  readonly bucketKey: readonly Template[];
  readonly enforce: boolean;
  readonly scope: 'local' | 'global';
  readonly local: RateCounter;
}

/** `1h30m`, `60s`, `5m` → seconds; undefined when not a duration of whole seconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s.trim());
  if (!m || s.trim() === '') return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

export const rateLimit: ActionDefinition<RateLimitConfig> = {
  phases: ['on_http_request'],
  fields: ['name', 'algorithm', 'capacity', 'rate', 'bucket_key', 'enforce', 'scope'],

  compile(config, cx) {
    const name = readString(config, 'name', cx, { required: true, maxLength: 1023 });
    if (name === '') cx.issue('name', 'must not be empty');
    let ok = name !== undefined && name !== '';

    if (config.algorithm === undefined || config.algorithm === null) {
      cx.issue('algorithm', 'is required: sliding_window');
      ok = false;
    } else if (readEnum(config, 'algorithm', ['sliding_window'], 'sliding_window', cx) === undefined) ok = false;

    let capacity: number | undefined;
    const cap = config.capacity;
    if (cap === undefined || cap === null) cx.issue('capacity', `is required: requests allowed per rate (1 to ${MAX_CAPACITY})`);
    else if (typeof cap !== 'number' || !Number.isInteger(cap)) cx.issue('capacity', `must be an integer, got ${describe(cap)}`);
    else if (cap < 1 || cap > MAX_CAPACITY) cx.issue('capacity', `must be between 1 and ${MAX_CAPACITY}, got ${cap}`);
    else capacity = cap;

    let windowMs: number | undefined;
    const rate = config.rate;
    if (rate === undefined || rate === null) cx.issue('rate', "is required: a duration such as '60s' or '1m'");
    else if (typeof rate !== 'string') cx.issue('rate', `must be a duration such as '60s', got ${describe(rate)}`);
    else {
      const secs = parseDuration(rate);
      if (secs === undefined) cx.issue('rate', `'${rate}' is not a duration; write e.g. '60s', '5m' or '1h'`);
      else if (secs < MIN_RATE_S || secs > MAX_RATE_S) cx.issue('rate', `must be between 1s and 24h, got '${rate}'`);
      else windowMs = secs * 1000;
    }

    const bucketKey = readBucketKey(config, cx);
    const enforce = readBool(config, 'enforce', true, cx);
    const scope = readEnum(config, 'scope', ['local', 'global'], 'local', cx);
    if (!ok || capacity === undefined || windowMs === undefined || !bucketKey || enforce === undefined || !scope) return undefined;
    return { name: name!, capacity, windowMs, bucketKey, enforce, scope, local: new LocalRateCounter() };
  },

  termination() {
    return 'maybe';
  },

  run(cx, c) {
    const values = c.bucketKey.map((t) => celToString(cx.evalValue(t)));
    const display = values.join(',');
    const key = `${cx.endpoint.id}\u0000${c.name}\u0000${JSON.stringify(values)}`;
    const counter = (c.scope === 'global' ? getGlobalRateCounter() : undefined) ?? c.local;
    let d: RateDecision | Promise<RateDecision>;
    try {
      d = counter.hit(key, c.capacity, c.windowMs, rateLimitNow());
    } catch (e) {
      return counterFailed(cx, display, e);
    }
    if (d instanceof Promise) return d.then((r) => decide(cx, c, display, r), (e: unknown) => counterFailed(cx, display, e));
    return decide(cx, c, display, d);
  },
};

function readBucketKey(config: Record<string, unknown>, cx: Parameters<ActionDefinition<unknown>['compile']>[1]): Template[] | undefined {
  const v = config.bucket_key;
  if (v === undefined || v === null) {
    cx.issue('bucket_key', 'is required: a list of 1 to 10 CEL expressions, e.g. [conn.client_ip]');
    return undefined;
  }
  if (!Array.isArray(v)) {
    cx.issue('bucket_key', `must be a list of CEL expressions, got ${describe(v)}`);
    return undefined;
  }
  if (v.length < 1 || v.length > MAX_BUCKET_KEYS) {
    cx.issue('bucket_key', `must have 1 to ${MAX_BUCKET_KEYS} expressions, got ${v.length}`);
    return undefined;
  }
  let ok = true;
  const out: Template[] = [];
  v.forEach((src, i) => {
    const path = `bucket_key[${i}]`;
    if (typeof src !== 'string' || src.trim() === '') {
      cx.issue(path, `must be a CEL expression string, got ${describe(src)}`);
      ok = false;
      return;
    }
    const s = src.trim();
    const wrapped = /^\$\{[\s\S]*\}$/.test(s) ? s : `\${${s}}`;
    const t = cx.template(wrapped, path);
    if (t) out.push(t);
    else ok = false;
  });
  return ok ? out : undefined;
}

function decide(cx: ActionRunContext, c: RateLimitConfig, display: string, d: RateDecision): ActionOutcome {
  cx.setResult('rate_limit', { bucket_key: display, limited: d.limited });
  reportRateDecision(cx.endpoint.id, c.name, d.limited);
  if (!d.limited || !c.enforce) return undefined;
  const seconds = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
  return { kind: 'respond', response: rejection(429, RATE_LIMITED, `rate limit '${c.name}' exceeded; retry in ${seconds}s`, { 'retry-after': [String(seconds)] }) };
}

function counterFailed(cx: ActionRunContext, display: string, e: unknown): ActionOutcome {
  const message = `the rate counter failed, request let through: ${String((e as Error)?.message ?? e)}`;
  cx.setResult('rate_limit', { bucket_key: display, limited: false, error: { code: 'MG_RATE_LIMIT_UNAVAILABLE', message } });
  return undefined;
}

registerAction('rate-limit', rateLimit);
