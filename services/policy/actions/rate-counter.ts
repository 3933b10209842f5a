/**
 * Counters behind `rate-limit`. The action only talks to the `RateCounter` interface, so a
 * counter shared by every edge (Redis, for `scope: global`) can be plugged in with
 * `setGlobalRateCounter` without touching the action.
 *
 * Algorithm: sliding window (ngrok's `sliding_window`, as Cloudflare/ngrok describe it). Time is
 * cut into fixed windows of `windowMs`; a bucket counts hits in the current and the previous
 * window, and the rate at `now` is estimated as
 *     previous × (windowMs − elapsed) / windowMs + current
 * (elapsed = time since the current window started). A hit is accepted when
 * estimate + 1 ≤ capacity, and then counted; a refused hit is not counted.
 */

export interface RateDecision {
  /** True when this hit is over the limit (and was not counted). */
  readonly limited: boolean;
  /** When limited: how long until a hit would be accepted, in ms (≥ 1). 0 otherwise. */
  readonly retryAfterMs: number;
}

export interface RateCounter {
  /**
   * Counts one hit for `key` (capacity per `windowMs`) at time `now` (ms since the epoch).
   * May return a Promise (a remote counter); must not throw for a working counter.
   */
  hit(key: string, capacity: number, windowMs: number, now: number): RateDecision | Promise<RateDecision>;
}

interface Bucket {
  /** Start of the current window (ms, a multiple of windowMs). */
  start: number;
  windowMs: number;
  current: number;
  previous: number;
}

const ACCEPTED: RateDecision = Object.freeze({ limited: false, retryAfterMs: 0 });
/** Most idle entries examined per eviction pass. */
const SWEEP_LIMIT = 1024;

/**
 * In-memory sliding-window counter for one process. Bounded: at most `maxBuckets` keys; when
 * full, idle buckets (no hit for two windows: they count nothing any more) are dropped first,
 * then the least recently rolled-over one.
 */
export class LocalRateCounter implements RateCounter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxBuckets: number;

  constructor(maxBuckets = 100_000) {
    this.#maxBuckets = Math.max(1, maxBuckets);
  }

  get size(): number {
    return this.#buckets.size;
  }

  hit(key: string, capacity: number, windowMs: number, now: number): RateDecision {
    const start = now - (now % windowMs);
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxBuckets) this.#evict(now);
      b = { start, windowMs, current: 0, previous: 0 };
      this.#buckets.set(key, b);
    } else if (b.start !== start || b.windowMs !== windowMs) {
      const adjacent = b.windowMs === windowMs && b.start === start - windowMs;
      b.previous = adjacent ? b.current : 0;
      b.current = 0;
      b.start = start;
      b.windowMs = windowMs;
      // move to the end: the map's order approximates least-recently-used
      this.#buckets.delete(key);
      this.#buckets.set(key, b);
    }
    const elapsed = now - start;
    const estimate = (b.previous * (windowMs - elapsed)) / windowMs + b.current;
    if (estimate + 1 <= capacity) {
      b.current++;
      return ACCEPTED;
    }
    return { limited: true, retryAfterMs: Math.max(1, Math.ceil(retryAfter(b, capacity, elapsed))) };
  }

  #evict(now: number): void {
    let seen = 0;
    for (const [k, b] of this.#buckets) {
      if (now - b.start >= 2 * b.windowMs) this.#buckets.delete(k);
      if (++seen >= SWEEP_LIMIT) break;
    }
    if (this.#buckets.size >= this.#maxBuckets) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
  }
}

/** Time from `elapsed` until estimate + 1 ≤ capacity, in ms. */
function retryAfter(b: Bucket, capacity: number, elapsed: number): number {
  const w = b.windowMs;
  const room = capacity - b.current - 1;
  if (room >= 0 && b.previous > 0) {
    // within this window, once enough of the previous window has slid out
    return w - elapsed - (room * w) / b.previous;
  }
  // in the next window, the current count becomes "previous"
  const next = b.current > 0 ? Math.max(0, w * (1 - (capacity - 1) / b.current)) : 0;
  return w - elapsed + next;
}

let globalCounter: RateCounter | undefined;

/**
 * Plugs in the counter used by `scope: global` rate limits (e.g. a Redis-backed one). Until one
 * is set, global limits count per process like local ones.
 */
export function setGlobalRateCounter(counter: RateCounter | undefined): void {
  globalCounter = counter;
}

/** Told of every rate-limit decision (the edge's metrics); one call per decision, must not throw. */
export type RateDecisionObserver = (endpointId: string, limitName: string, limited: boolean) => void;
let decisionObserver: RateDecisionObserver | undefined;

export function setRateDecisionObserver(fn: RateDecisionObserver | undefined): void {
  decisionObserver = fn;
}

export function reportRateDecision(endpointId: string, limitName: string, limited: boolean): void {
  decisionObserver?.(endpointId, limitName, limited);
}

export function getGlobalRateCounter(): RateCounter | undefined {
  return globalCounter;
}

let clock: () => number = Date.now;

/** Replaces the clock rate-limit reads (tests); `undefined` restores Date.now. */
export function setRateLimitClock(fn: (() => number) | undefined): void {
  clock = fn ?? Date.now;
}

export function rateLimitNow(): number {
  return clock();
}
