/**
 * `circuit-breaker`: stop sending requests to an upstream that keeps failing. Lives in
 * on_http_request; continues while closed, answers 503 while tripped.
 *
 * Config (reference §4):
 * - `error_threshold` (float 0..1, default 0.5): error ratio in the window that trips the breaker;
 * - `volume_threshold` (int ≥ 1, default 10): fewest requests in the window before it may trip;
 * - `window_duration` (duration 1s..2m, default 10s): the rolling window;
 * - `tripped_duration` (duration 1s..2m, default 10s): how long it stays tripped;
 * - `num_buckets` (int 1..128, default 10): buckets of the rolling window;
 * - `enforce` (default true): false tracks the state but never rejects.
 *
 * An error is a final response status ≥ 500 (upstream 5xx, or a gateway error such as an
 * unreachable upstream). The policy reports the final status of every exchange that passed the
 * breaker from its on_http_response run (see response-observers.ts). Exchanges the policy itself
 * answered (custom-response, deny, ... after the breaker) are not counted.
 *
 * State machine (per compiled action, i.e. per endpoint policy; a recompile starts afresh):
 * - closed: results are counted; once the window holds ≥ volume_threshold requests and
 *   errors/requests ≥ error_threshold, it trips (the window is cleared);
 * - tripped: requests get 503 `meshgate-error-code: MG_CIRCUIT_OPEN` with `retry-after` (unless
 *   enforce: false) until tripped_duration has elapsed; late results of requests let through
 *   before the trip are ignored;
 * - half-open (tripped_duration elapsed): requests pass; the first result decides — an error
 *   trips it again, a success closes it (fresh window).
 * No result variables (as ngrok).
 */
import type { ErrorCode } from '../../core/errors.js';
import { parseDuration } from './rate-limit.js';
import { describe } from './config.js';
import { registerAction, type ActionCompileContext, type ActionDefinition } from './registry.js';
import { expectResponse, ResponseObserver } from './response-observers.js';
import { readBool, rejection } from './util.js';

/** Catalog code (to be added to core/errors.ts; plain string meanwhile). */
export const CIRCUIT_OPEN: ErrorCode = 'MG_CIRCUIT_OPEN';
const MIN_DURATION_S = 1;
const MAX_DURATION_S = 120;
const MAX_BUCKETS = 128;
const MAX_VOLUME = 1_000_000_000;

let clock: () => number = Date.now;

/** Replaces the clock circuit breakers read (tests); `undefined` restores Date.now. */
export function setCircuitBreakerClock(fn: (() => number) | undefined): void {
  clock = fn ?? Date.now;
}

export interface BreakerSettings {
  readonly errorThreshold: number;
  readonly volumeThreshold: number;
  readonly windowMs: number;
  readonly trippedMs: number;
  readonly numBuckets: number;
  readonly enforce: boolean;
}

/** One breaker: the compiled config and its state (shared by every request of the policy). */
export class CircuitBreaker extends ResponseObserver {
  readonly settings: BreakerSettings;
  readonly #bucketMs: number;
  /** Per slot: the absolute bucket index it holds, its requests and errors. */
  readonly #epoch: Float64Array;
  readonly #requests: Float64Array;
  readonly #errors: Float64Array;
  /** 0 = closed; otherwise tripped until this time (ms), half-open after it. */
  #openUntil = 0;

  constructor(settings: BreakerSettings) {
    super();
    this.settings = settings;
    this.#bucketMs = settings.windowMs / settings.numBuckets;
    this.#epoch = new Float64Array(settings.numBuckets).fill(-Infinity);
    this.#requests = new Float64Array(settings.numBuckets);
    this.#errors = new Float64Array(settings.numBuckets);
  }

  /** 'closed', 'tripped' or 'half-open' at `now`. */
  state(now: number): 'closed' | 'tripped' | 'half-open' {
    if (this.#openUntil === 0) return 'closed';
    return now < this.#openUntil ? 'tripped' : 'half-open';
  }

  /** Requests and errors in the window at `now`. */
  counts(now: number): { requests: number; errors: number } {
    const idx = Math.floor(now / this.#bucketMs);
    let requests = 0;
    let errors = 0;
    for (let s = 0; s < this.#epoch.length; s++) {
      const e = this.#epoch[s];
      if (e > idx - this.#epoch.length && e <= idx) {
        requests += this.#requests[s];
        errors += this.#errors[s];
      }
    }
    return { requests, errors };
  }

  /** Milliseconds until a tripped breaker lets requests through (0 when it does now). */
  retryAfterMs(now: number): number {
    return this.#openUntil === 0 ? 0 : Math.max(0, this.#openUntil - now);
  }

  observeResponse(status: number): void {
    this.record(status >= 500, clock());
  }

  /** Counts one result at `now`. */
  record(error: boolean, now: number): void {
    if (this.#openUntil !== 0) {
      if (now < this.#openUntil) return; // a request let through before the trip
      this.#reset();
      this.#openUntil = error ? now + this.settings.trippedMs : 0;
      return;
    }
    const idx = Math.floor(now / this.#bucketMs);
    const slot = idx % this.#epoch.length;
    if (this.#epoch[slot] !== idx) {
      this.#epoch[slot] = idx;
      this.#requests[slot] = 0;
      this.#errors[slot] = 0;
    }
    this.#requests[slot]++;
    if (error) this.#errors[slot]++;
    if (!error) return;
    const { requests, errors } = this.counts(now);
    if (requests >= this.settings.volumeThreshold && errors / requests >= this.settings.errorThreshold) {
      this.#reset();
      this.#openUntil = now + this.settings.trippedMs;
    }
  }

  #reset(): void {
    this.#epoch.fill(-Infinity);
    this.#requests.fill(0);
    this.#errors.fill(0);
  }
}

export const circuitBreaker: ActionDefinition<CircuitBreaker> = {
  phases: ['on_http_request'],
  fields: ['error_threshold', 'volume_threshold', 'window_duration', 'tripped_duration', 'num_buckets', 'enforce'],

  compile(config, cx) {
    const errorThreshold = readRatio(config, 'error_threshold', 0.5, cx);
    const volumeThreshold = readPositiveInt(config, 'volume_threshold', 10, MAX_VOLUME, cx);
    const windowMs = readDuration(config, 'window_duration', 10, cx);
    const trippedMs = readDuration(config, 'tripped_duration', 10, cx);
    const numBuckets = readPositiveInt(config, 'num_buckets', 10, MAX_BUCKETS, cx);
    const enforce = readBool(config, 'enforce', true, cx);
    if (
      errorThreshold === undefined ||
      volumeThreshold === undefined ||
      windowMs === undefined ||
      trippedMs === undefined ||
      numBuckets === undefined ||
      enforce === undefined
    ) {
      return undefined;
    }
    return new CircuitBreaker(Object.freeze({ errorThreshold, volumeThreshold, windowMs, trippedMs, numBuckets, enforce }));
  },

  termination(c) {
    return c.settings.enforce ? 'maybe' : 'never';
  },

  run(cx, b) {
    const now = clock();
    if (b.state(now) === 'tripped' && b.settings.enforce) {
      const seconds = Math.max(1, Math.ceil(b.retryAfterMs(now) / 1000));
      return {
        kind: 'respond',
        response: rejection(503, CIRCUIT_OPEN, `the circuit breaker is open (too many upstream errors); retry in ${seconds}s`, {
          'retry-after': [String(seconds)],
        }),
      };
    }
    expectResponse(cx.exchange, b);
    return undefined;
  },
};

function readRatio(config: Record<string, unknown>, key: string, dflt: number, cx: ActionCompileContext): number | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    cx.issue(key, `must be a number between 0 and 1, got ${describe(v)}`);
    return undefined;
  }
  if (v < 0 || v > 1) {
    cx.issue(key, `must be between 0 and 1, got ${v}`);
    return undefined;
  }
  return v;
}

function readPositiveInt(config: Record<string, unknown>, key: string, dflt: number, max: number, cx: ActionCompileContext): number | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    cx.issue(key, `must be an integer, got ${describe(v)}`);
    return undefined;
  }
  if (v < 1 || v > max) {
    cx.issue(key, `must be between 1 and ${max}, got ${v}`);
    return undefined;
  }
  return v;
}

/** A duration field (`10s`, `1m`, `1m30s`) between 1s and 2m, in ms. */
function readDuration(config: Record<string, unknown>, key: string, dfltS: number, cx: ActionCompileContext): number | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dfltS * 1000;
  if (typeof v !== 'string') {
    cx.issue(key, `must be a duration such as '10s' or '1m', got ${describe(v)}`);
    return undefined;
  }
  const secs = parseDuration(v);
  if (secs === undefined) {
    cx.issue(key, `'${v}' is not a duration; write e.g. '10s', '30s' or '2m'`);
    return undefined;
  }
  if (secs < MIN_DURATION_S || secs > MAX_DURATION_S) {
    cx.issue(key, `must be between 1s and 2m, got '${v}'`);
    return undefined;
  }
  return secs * 1000;
}

registerAction('circuit-breaker', circuitBreaker);
