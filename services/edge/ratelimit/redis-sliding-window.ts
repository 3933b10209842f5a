/**
 * A sliding-window rate counter shared by every edge, in Redis (`scope: global` rate limits).
 *
 * Algorithm (the two-window approximation of a sliding window): time is cut into fixed windows
 * of the limit's `rate`; the count "in the last window" is `current + previous × (the share of
 * the previous window still inside the sliding window)`. A request is allowed when that is
 * below `capacity`, and only then counted. Check and count run in one Lua script, so edges
 * racing for the last slot cannot both win. Keys expire two windows after their start.
 *
 * Keys: `<prefix>rl:<bucket>:<window index>`, bucket = account + limit name + bucket key.
 * When Redis cannot answer within `timeoutMs`, `take` rejects; the caller falls back to local
 * counting (and says so in a warning).
 */
import { Redis } from 'ioredis';

const SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local capacity = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
if cur + prev * weight >= capacity then
  return {0, cur, prev}
end
cur = redis.call('INCR', KEYS[1])
if cur == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, cur, prev}
`;

export interface TakeResult {
  allowed: boolean;
  /** Requests counted in the sliding window, including this one when allowed. */
  count: number;
  /** When a refused request may be retried, ms (for `retry-after`). */
  retryAfterMs: number;
}

export class RedisSlidingWindow {
  private readonly redis: Redis;

  constructor(url: string, private readonly prefix = 'meshgate:', timeoutMs = 250) {
    this.redis = new Redis(url, { lazyConnect: false, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: timeoutMs, retryStrategy: (n) => Math.min(2_000, 50 * 2 ** n) });
    this.redis.on('error', () => {});
    this.redis.defineCommand('mgSlidingTake', { numberOfKeys: 2, lua: SCRIPT });
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Counts one request against `bucket` if allowed. Rejects when Redis is unavailable. */
  async take(bucket: string, capacity: number, windowMs: number, now = Date.now()): Promise<TakeResult> {
    const index = Math.floor(now / windowMs);
    const intoWindow = (now - index * windowMs) / windowMs;
    const weight = 1 - intoWindow;
    const base = `${this.prefix}rl:${bucket}:`;
    const [ok, cur, prev] = (await (this.redis as unknown as { mgSlidingTake(...a: (string | number)[]): Promise<number[]> }).mgSlidingTake(
      base + index,
      base + (index - 1),
      capacity,
      weight.toFixed(6),
      windowMs * 2,
    )) as number[];
    const count = Math.ceil(cur + prev * weight);
    return { allowed: ok === 1, count, retryAfterMs: ok === 1 ? 0 : Math.max(1, Math.ceil((1 - intoWindow) * windowMs)) };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
