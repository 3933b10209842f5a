import assert from 'node:assert/strict';
import { RedisSlidingWindow } from '../../services/edge/ratelimit/redis-sliding-window.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

describe('global sliding-window counter in Redis (real redis-server)', function () {
  this.timeout(20_000);
  let redis: RedisServer;
  const counters: RedisSlidingWindow[] = [];
  before(async () => {
    redis = await startRedisServer();
    for (let i = 0; i < 3; i++) counters.push(new RedisSlidingWindow(redis.url, `t${process.pid}:`));
    await new Promise((r) => setTimeout(r, 200));
  });
  after(async () => {
    await Promise.all(counters.map((c) => c.close()));
    await redis.stop();
  });

  it('allows exactly capacity requests in a window when three clients race', async () => {
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => counters[i % 3].take('acme:api:1.2.3.4', 100, 60_000, now)));
    assert.equal(results.filter((r) => r.allowed).length, 100);
    const refused = results.find((r) => !r.allowed)!;
    assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000);
  });

  it('weighs the previous window as the sliding window moves on', async () => {
    const w = 10_000;
    const start = Math.floor(Date.now() / w) * w;
    for (let i = 0; i < 10; i++) assert.ok((await counters[0].take('slide', 10, w, start + 100)).allowed);
    assert.equal((await counters[0].take('slide', 10, w, start + 200)).allowed, false);
    // Half-way through the next window, half of the previous window's 10 still count: 5 more fit.
    let allowed = 0;
    for (let i = 0; i < 10; i++) if ((await counters[1].take('slide', 10, w, start + w + w / 2)).allowed) allowed++;
    assert.equal(allowed, 5);
  });

  it('rejects promptly when Redis is down, so the caller can fall back to local counting', async () => {
    await redis.kill();
    const t0 = performance.now();
    await assert.rejects(counters[2].take('down', 10, 1_000));
    assert.ok(performance.now() - t0 < 2_000);
    await redis.start();
  });
});
