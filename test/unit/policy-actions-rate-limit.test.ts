import assert from 'node:assert/strict';
import { LocalRateCounter, setGlobalRateCounter, setRateLimitClock, type RateCounter } from '../../services/policy/actions/rate-counter.js';
import { parseDuration } from '../../services/policy/actions/rate-limit.js';
import type { CompiledPolicy } from '../../services/policy/index.js';
import { AGENT, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';

const P = 'on_http_request[0].actions[0].config';

describe('rate counter (sliding window)', () => {
  it('accepts up to capacity per window, then refuses with a retry-after', () => {
    const c = new LocalRateCounter();
    const t0 = 60_000 * 10;
    for (let i = 0; i < 3; i++) assert.equal(c.hit('k', 3, 60_000, t0 + i).limited, false);
    const d = c.hit('k', 3, 60_000, t0 + 10);
    assert.equal(d.limited, true);
    assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 120_000, String(d.retryAfterMs));
    assert.equal(c.hit('other', 3, 60_000, t0).limited, false);
  });

  it('weights the previous window by how much of it still overlaps', () => {
    const c = new LocalRateCounter();
    const w = 10_000;
    for (let i = 0; i < 10; i++) c.hit('k', 10, w, 0 + i);
    // halfway into the next window the estimate is 10 × 0.5 = 5: five more fit
    let accepted = 0;
    for (let i = 0; i < 10; i++) if (!c.hit('k', 10, w, w + w / 2).limited) accepted++;
    assert.equal(accepted, 5);
    // two windows later everything has slid out
    assert.equal(c.hit('k', 10, w, 3 * w + 1).limited, false);
  });

  it('retry-after points at the moment a hit is accepted again', () => {
    const c = new LocalRateCounter();
    const w = 10_000;
    for (let i = 0; i < 4; i++) c.hit('k', 4, w, 0);
    const d = c.hit('k', 4, w, 1000);
    assert.equal(d.limited, true);
    assert.equal(c.hit('k', 4, w, 1000 + d.retryAfterMs - 1).limited, true);
    assert.equal(c.hit('k', 4, w, 1000 + d.retryAfterMs).limited, false);
  });

  it('stays bounded, evicting idle buckets first', () => {
    const c = new LocalRateCounter(100);
    for (let i = 0; i < 1000; i++) c.hit(`k${i}`, 5, 1000, i * 10);
    assert.ok(c.size <= 100, String(c.size));
  });
});

describe('action rate-limit', () => {
  let now = 1_000_000;
  beforeEach(() => setRateLimitClock(() => now));
  afterEach(() => {
    setRateLimitClock(undefined);
    setGlobalRateCounter(undefined);
  });

  const policy = (extra = '') => `on_http_request:
  - actions:
      - type: rate-limit
        config: {name: per-ip, algorithm: sliding_window, capacity: 2, rate: 60s, bucket_key: [conn.client_ip]${extra}}
      - type: custom-response
        config: {body: "\${actions.ngrok.rate_limit.bucket_key} \${actions.ngrok.rate_limit.limited}"}
`;
  const hit = (p: CompiledPolicy, ip: string) => p.runRequest(exchange('https://api.example.com/', { clientIp: ip }), endpoint('agent'), new FakeHost());

  it('lets capacity requests per bucket through, then answers 429 with retry-after and MG_RATE_LIMITED', async () => {
    const p = compileOk(policy(), AGENT);
    now = 6_000_000;
    for (let i = 0; i < 2; i++) {
      const out = await hit(p, '192.0.2.1');
      assert.equal(out.kind === 'respond' && out.response.body, '192.0.2.1 false');
    }
    const out = await hit(p, '192.0.2.1');
    assert.equal(out.kind, 'respond');
    if (out.kind !== 'respond') return;
    assert.equal(out.response.status, 429);
    assert.deepEqual(out.response.headers['meshgate-error-code'], ['MG_RATE_LIMITED']);
    // next window, once half of this one has slid out: 60s + 30s
    assert.deepEqual(out.response.headers['retry-after'], ['90']);
    // another bucket is unaffected
    const other = await hit(p, '192.0.2.2');
    assert.equal(other.kind === 'respond' && other.response.body, '192.0.2.2 false');
    // a window and a bit later it is accepted again
    now += 120_000;
    const later = await hit(p, '192.0.2.1');
    assert.equal(later.kind === 'respond' && later.response.status, 200);
  });

  it('with enforce: false continues and reports limited: true', async () => {
    const p = compileOk(policy(', enforce: false'), AGENT);
    now = 7_000_000;
    await hit(p, '192.0.2.1');
    await hit(p, '192.0.2.1');
    const out = await hit(p, '192.0.2.1');
    assert.equal(out.kind === 'respond' && out.response.body, '192.0.2.1 true');
  });

  it('scope: global uses the plugged-in counter (awaited), and fails open when it breaks', async () => {
    const calls: string[] = [];
    const remote: RateCounter = {
      hit(key) {
        calls.push(key);
        return calls.length === 1 ? Promise.resolve({ limited: true, retryAfterMs: 1500 }) : Promise.reject(new Error('redis down'));
      },
    };
    setGlobalRateCounter(remote);
    const p = compileOk(policy(', scope: global'), AGENT);
    const first = await hit(p, '192.0.2.9');
    assert.equal(first.kind === 'respond' && first.response.status, 429);
    assert.deepEqual(first.kind === 'respond' && first.response.headers['retry-after'], ['2']);
    const second = await hit(p, '192.0.2.9');
    assert.equal(second.kind === 'respond' && second.response.body, '192.0.2.9 false');
    assert.equal(calls.length, 2);
    assert.ok(calls[0].includes('per-ip'));
  });

  it('parses durations', () => {
    assert.equal(parseDuration('60s'), 60);
    assert.equal(parseDuration('1m'), 60);
    assert.equal(parseDuration('1h30m'), 5400);
    assert.equal(parseDuration('1s'), 1);
    assert.equal(parseDuration(''), undefined);
    assert.equal(parseDuration('10 s'), undefined);
    assert.equal(parseDuration('1.5s'), undefined);
  });

  it('refuses missing and bad fields with paths', () => {
    const all = issuesOf(`on_http_request:\n  - actions: [{type: rate-limit}]\n`, AGENT);
    for (const f of ['name', 'algorithm', 'capacity', 'rate', 'bucket_key']) assert.match(issueAt(all, `${P}.${f}`).message, /is required/, f);
    const bad = issuesOf(
      `on_http_request:\n  - actions: [{type: rate-limit, config: {name: "", algorithm: token_bucket, capacity: 0, rate: 25h, bucket_key: [], enforce: 1, scope: galaxy}}]\n`,
      AGENT,
    );
    assert.equal(issueAt(bad, `${P}.name`).message, 'must not be empty');
    assert.equal(issueAt(bad, `${P}.algorithm`).message, 'must be one of sliding_window, got the string "token_bucket"');
    assert.equal(issueAt(bad, `${P}.capacity`).message, 'must be between 1 and 2000000000, got 0');
    assert.equal(issueAt(bad, `${P}.rate`).message, "must be between 1s and 24h, got '25h'");
    assert.equal(issueAt(bad, `${P}.bucket_key`).message, 'must have 1 to 10 expressions, got 0');
    assert.equal(issueAt(bad, `${P}.enforce`).message, 'must be true or false, got the number 1');
    assert.equal(issueAt(bad, `${P}.scope`).message, 'must be one of local, global, got the string "galaxy"');
    const expr = issuesOf(
      `on_http_request:\n  - actions: [{type: rate-limit, config: {name: x, algorithm: sliding_window, capacity: 1, rate: soon, bucket_key: [conn.client_ipp]}}]\n`,
      AGENT,
    );
    assert.match(issueAt(expr, `${P}.rate`).message, /'soon' is not a duration/);
    assert.match(issueAt(expr, `${P}.bucket_key[0]`).message, /client_ipp/);
  });
});
