/**
 * The counter behind `rate-limit` with `scope: global` (a meshgate extension): one sliding
 * window per bucket shared by every edge, in Redis. When Redis cannot answer, the edge counts
 * locally instead (limits then hold per edge, not cluster-wide) and says so in a warning at most
 * once a minute; it goes back to Redis as soon as Redis answers again.
 */
import type { Logger } from '../../core/log.js';
import { LocalRateCounter, type RateCounter, type RateDecision } from '../../policy/index.js';
import { RedisSlidingWindow } from './redis-sliding-window.js';

const WARN_EVERY_MS = 60_000;

export class GlobalRateCounter implements RateCounter {
  private readonly redis: RedisSlidingWindow;
  private readonly local = new LocalRateCounter();
  private lastWarn = 0;

  constructor(url: string, private readonly log: Logger) {
    this.redis = new RedisSlidingWindow(url);
  }

  hit(key: string, capacity: number, windowMs: number, now: number): RateDecision | Promise<RateDecision> {
    if (!this.redis.ready) return this.fallback(key, capacity, windowMs, now, 'not connected');
    return this.redis.take(key, capacity, windowMs, now).then(
      (r) => ({ limited: !r.allowed, retryAfterMs: r.retryAfterMs }),
      (e: Error) => this.fallback(key, capacity, windowMs, now, e.message),
    );
  }

  close(): Promise<void> {
    return this.redis.close();
  }

  private fallback(key: string, capacity: number, windowMs: number, now: number, why: string): RateDecision | Promise<RateDecision> {
    if (now - this.lastWarn > WARN_EVERY_MS) {
      this.lastWarn = now;
      this.log.warn('global rate limits are counted per edge: Redis is unavailable', { reason: why });
    }
    return this.local.hit(key, capacity, windowMs, now);
  }
}
