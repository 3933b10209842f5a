import assert from 'node:assert/strict';
import '../../services/policy/actions/circuit-breaker.js';
import { CircuitBreaker, setCircuitBreakerClock } from '../../services/policy/actions/circuit-breaker.js';
import type { CompiledPolicy, Exchange, RequestOutcome } from '../../services/policy/index.js';
import { AGENT, CLOUD, compileOk, endpoint, exchange, FakeHost, issueAt, issuesOf } from './policy-fixtures.js';

const P = 'on_http_request[0].actions[0].config';

const policy = (config = '{volume_threshold: 4, error_threshold: 0.5, window_duration: 10s, tripped_duration: 5s}') => `on_http_request:
  - actions:
      - type: circuit-breaker
        config: ${config}
`;

describe('action circuit-breaker', () => {
  let now = 1_000_000;
  beforeEach(() => {
    now = 1_000_000;
    setCircuitBreakerClock(() => now);
  });
  afterEach(() => setCircuitBreakerClock(undefined));

  /** One request through the policy; when it passes, the upstream answers `status`. */
  async function hit(p: CompiledPolicy, status: number): Promise<{ out: RequestOutcome<string>; final: number; x: Exchange }> {
    const x = exchange('https://api.example.com/');
    const ep = endpoint('agent');
    const out = await p.runRequest(x, ep, new FakeHost());
    const res = out.kind === 'respond' ? { status: out.response.status, headers: out.response.headers } : { status, headers: {} };
    if (p.hasPhase('on_http_response')) await p.runResponse(x, ep, res);
    return { out, final: res.status, x };
  }

  it('reports the response phase only for policies with a breaker', () => {
    assert.equal(compileOk(policy(), AGENT).hasPhase('on_http_response'), true);
    assert.equal(compileOk(policy('{}'), AGENT).hasPhase('on_http_request'), true);
    const plain = compileOk(`on_http_request:\n  - actions: [{type: add-headers, config: {headers: {x-a: "1"}}}]\n`, AGENT);
    assert.equal(plain.hasPhase('on_http_response'), false);
    assert.equal(plain.hasPhase('on_http_request'), true);
  });

  it('stays closed under volume_threshold, however many errors', async () => {
    const p = compileOk(policy(), AGENT);
    for (let i = 0; i < 3; i++) assert.equal((await hit(p, 502)).out.kind, 'pass');
    assert.equal((await hit(p, 200)).out.kind, 'pass');
  });

  it('stays closed while the error ratio is under error_threshold', async () => {
    const p = compileOk(policy('{volume_threshold: 4, error_threshold: 0.5}'), AGENT);
    for (const s of [200, 200, 200, 500, 200, 500]) assert.equal((await hit(p, s)).out.kind, 'pass'); // 2/6 < 0.5
    assert.equal((await hit(p, 200)).out.kind, 'pass');
  });

  it('trips at the threshold and answers 503 MG_CIRCUIT_OPEN while tripped', async () => {
    const p = compileOk(policy(), AGENT);
    for (const s of [200, 500, 200]) assert.equal((await hit(p, s)).out.kind, 'pass');
    assert.equal((await hit(p, 503)).out.kind, 'pass'); // 4 requests, 2 errors: 0.5 ≥ 0.5 → trips
    now += 1000;
    const r = await hit(p, 200);
    assert.equal(r.out.kind, 'respond');
    if (r.out.kind !== 'respond') return;
    assert.equal(r.out.response.status, 503);
    assert.deepEqual(r.out.response.headers['meshgate-error-code'], ['MG_CIRCUIT_OPEN']);
    assert.deepEqual(r.out.response.headers['retry-after'], ['4']);
    assert.equal(JSON.parse(r.out.response.body).error.code, 'MG_CIRCUIT_OPEN');
    now += 3999;
    assert.equal((await hit(p, 200)).out.kind, 'respond');
  });

  it('recovers after tripped_duration: a success closes it, an error trips it again', async () => {
    const p = compileOk(policy('{volume_threshold: 2, error_threshold: 1, tripped_duration: 5s}'), AGENT);
    await hit(p, 500);
    await hit(p, 500);
    assert.equal((await hit(p, 200)).out.kind, 'respond');
    now += 5000;
    assert.equal((await hit(p, 500)).out.kind, 'pass'); // half-open; the error trips it again
    assert.equal((await hit(p, 200)).out.kind, 'respond');
    now += 5000;
    assert.equal((await hit(p, 200)).out.kind, 'pass'); // half-open; the success closes it
    assert.equal((await hit(p, 500)).out.kind, 'pass'); // closed, fresh window: 1 < volume
    assert.equal((await hit(p, 200)).out.kind, 'pass');
  });

  it('counts only results inside window_duration', async () => {
    const p = compileOk(policy('{volume_threshold: 2, error_threshold: 1, window_duration: 10s}'), AGENT);
    await hit(p, 500);
    now += 10_000; // the first error has left the window
    await hit(p, 500);
    assert.equal((await hit(p, 200)).out.kind, 'pass');
    now += 5000;
    await hit(p, 500); // the last two errors are in the window, but so is the 200: 2/3 < 1
    assert.equal((await hit(p, 200)).out.kind, 'pass');
  });

  it('enforce: false tracks but never rejects', async () => {
    const p = compileOk(policy('{volume_threshold: 2, error_threshold: 0.5, enforce: false}'), AGENT);
    for (let i = 0; i < 10; i++) assert.equal((await hit(p, 500)).out.kind, 'pass');
  });

  it('counts gateway errors, not answers the policy made itself', async () => {
    const p = compileOk(
      `on_http_request:
  - actions:
      - type: circuit-breaker
        config: {volume_threshold: 2, error_threshold: 1}
  - expressions: [req.url.path == '/maintenance']
    actions: [{type: custom-response, config: {status_code: 503, body: down}}]
`,
      AGENT,
    );
    const x = exchange('https://api.example.com/maintenance');
    for (let i = 0; i < 3; i++) {
      const out = await p.runRequest(x, endpoint('agent'), new FakeHost());
      assert.equal(out.kind, 'respond');
      await p.runResponse(x, endpoint('agent'), { status: 503, headers: {} });
    }
    assert.equal((await hit(p, 502)).out.kind, 'pass');
    assert.equal((await hit(p, 504)).out.kind, 'pass'); // two gateway errors: trips
    assert.equal((await hit(p, 200)).out.kind, 'respond');
  });

  it('keeps state per compiled policy', async () => {
    const a = compileOk(policy('{volume_threshold: 1, error_threshold: 1}'), AGENT);
    const b = compileOk(policy('{volume_threshold: 1, error_threshold: 1}'), AGENT);
    await hit(a, 500);
    assert.equal((await hit(a, 200)).out.kind, 'respond');
    assert.equal((await hit(b, 200)).out.kind, 'pass');
  });

  it('still runs the response rules, and reports the status before they change it', async () => {
    const p = compileOk(
      `on_http_request:
  - actions: [{type: circuit-breaker, config: {volume_threshold: 1, error_threshold: 1}}]
on_http_response:
  - actions: [{type: add-headers, config: {headers: {x-seen: "yes"}}}]
`,
      AGENT,
    );
    const x = exchange('https://api.example.com/');
    await p.runRequest(x, endpoint('agent'), new FakeHost());
    const res = { status: 500, headers: {} as Record<string, string[]> };
    const out = await p.runResponse(x, endpoint('agent'), res);
    assert.equal(out.kind, 'pass');
    assert.deepEqual(res.headers['x-seen'], ['yes']);
    assert.equal((await hit(p, 200)).out.kind, 'respond');
  });

  it('works on a cloud endpoint before forward-internal', async () => {
    const p = compileOk(
      `on_http_request:
  - actions:
      - type: circuit-breaker
        config: {volume_threshold: 1, error_threshold: 1}
      - type: forward-internal
        config: {url: "https://api.internal"}
`,
      CLOUD,
    );
    const x = exchange('https://api.example.com/');
    const out = await p.runRequest(x, endpoint('cloud'), new FakeHost());
    assert.equal(out.kind, 'forwarded');
    assert.equal(p.hasPhase('on_http_response'), true);
    await p.runResponse(x, endpoint('cloud'), { status: 500, headers: {} });
    const again = await p.runRequest(exchange('https://api.example.com/'), endpoint('cloud'), new FakeHost());
    assert.equal(again.kind, 'respond');
  });

  it('accepts the defaults (0.5, 10, 10s, 10s, 10 buckets, enforce)', () => {
    const p = compileOk(policy('{}'), AGENT);
    assert.ok(p.hasPhase('on_http_response'));
    const b = new CircuitBreaker({ errorThreshold: 0.5, volumeThreshold: 10, windowMs: 10_000, trippedMs: 10_000, numBuckets: 10, enforce: true });
    for (let i = 0; i < 9; i++) b.record(true, 0);
    assert.equal(b.state(0), 'closed');
    b.record(true, 0);
    assert.equal(b.state(0), 'tripped');
    assert.equal(b.state(10_000), 'half-open');
  });

  describe('validation', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['{error_threshold: 1.5}', 'error_threshold', /between 0 and 1/],
      ['{error_threshold: -0.1}', 'error_threshold', /between 0 and 1/],
      ['{error_threshold: "half"}', 'error_threshold', /must be a number/],
      ['{volume_threshold: 0}', 'volume_threshold', /between 1 and/],
      ['{volume_threshold: 2.5}', 'volume_threshold', /integer/],
      ['{window_duration: 500ms}', 'window_duration', /not a duration/],
      ['{window_duration: 3m}', 'window_duration', /between 1s and 2m/],
      ['{window_duration: 0s}', 'window_duration', /between 1s and 2m/],
      ['{tripped_duration: 10}', 'tripped_duration', /must be a duration/],
      ['{tripped_duration: 121s}', 'tripped_duration', /between 1s and 2m/],
      ['{num_buckets: 0}', 'num_buckets', /between 1 and 128/],
      ['{enforce: "yes"}', 'enforce', /true or false/],
      ['{threshold: 0.5}', 'threshold', /unknown field/],
    ];
    for (const [config, field, message] of cases) {
      it(`${config} → ${field}`, () => {
        assert.match(issueAt(issuesOf(policy(config), AGENT), `${P}.${field}`).message, message);
      });
    }

    it('reports every bad field at once', () => {
      const issues = issuesOf(policy('{error_threshold: 2, volume_threshold: -1, window_duration: 5m, tripped_duration: x}'), AGENT);
      for (const f of ['error_threshold', 'volume_threshold', 'window_duration', 'tripped_duration']) issueAt(issues, `${P}.${f}`);
    });

    it('accepts the edges of the ranges', () => {
      compileOk(policy('{error_threshold: 0, volume_threshold: 1, window_duration: 1s, tripped_duration: 2m, num_buckets: 128}'), AGENT);
      compileOk(policy('{error_threshold: 1, window_duration: 120s, tripped_duration: 1m}'), AGENT);
    });

    it('is refused in on_http_response', () => {
      const issues = issuesOf(`on_http_response:\n  - actions: [{type: circuit-breaker}]\n`, AGENT);
      assert.match(issueAt(issues, 'on_http_response[0].actions[0].type').message, /cannot be used in on_http_response/);
    });
  });
});
