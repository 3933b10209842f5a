/**
 * Traffic Policy cost per request, engine only (no sockets): `runRequest` of the ten-rule
 * benchmark policy vs a one-rule policy that only forwards, over exchanges built the way the
 * edge builds them (8 typical headers whose names are new strings, as the HTTP parser's are; lazy
 * header map). The difference is the per-request cost of evaluating the rules (CEL expressions,
 * rate-limit bucket, add-headers).
 *
 *   node dist/test/bench/policy-bench.js      (env POLICY_BENCH_ITERATIONS, default 200000)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePolicy } from '../../services/policy/index.js';
import type { CompiledPolicy, Exchange, ForwardResult, PolicyEndpoint } from '../../services/policy/types.js';
import { EdgeRequest } from '../../services/edge/forward/exchange.js';
import { REPO_ROOT } from '../helpers/procs.js';

const N = Number(process.env.POLICY_BENCH_ITERATIONS ?? 200_000);
const RAW = ['Host', 'api.bench.test', 'User-Agent', 'wrk/4.1', 'Accept', '*/*', 'Accept-Encoding', 'gzip', 'Connection', 'keep-alive', 'X-Request-Id', 'abc123', 'Cookie', 'session=xyz', 'Content-Type', 'application/json'];
const endpoint: PolicyEndpoint = { id: 'ep_bench', url: 'http://api.bench.test', host: 'api.bench.test', port: 80, protocol: 'http', binding: 'public', type: 'cloud', poolingEnabled: false };
const host = { forwardInternal: (): Promise<ForwardResult<null>> => Promise.resolve({ ok: true, response: null }) };

function compile(text: string): CompiledPolicy {
  const r = compilePolicy(text, { endpointType: 'cloud', protocol: 'http', binding: 'public' });
  if (!r.ok) throw new Error(`policy does not compile: ${JSON.stringify(r.issues.slice(0, 3))}`);
  return r.policy;
}

/** Raw headers with names built at run time, as the HTTP parser hands them over (never literals). */
function rawHeaders(): string[] {
  return RAW.map((s, k) => (k % 2 === 0 ? Buffer.from(s, 'latin1').toString('latin1') : s));
}

function exchange(i: number): Exchange {
  return {
    id: `r${i}`,
    req: new EdgeRequest('GET', 'http', 'api.bench.test', 80, '/', '', '1.1', rawHeaders()),
    conn: { clientIp: `10.0.${(i >> 8) & 255}.${i & 255}`, clientPort: 40000, serverIp: '127.0.0.1', serverPort: 8080, serverRegion: 'eu', startedAt: new Date() },
    depth: 0,
  };
}

async function timePolicy(p: CompiledPolicy): Promise<number> {
  for (let i = 0; i < 20_000; i++) await p.runRequest(exchange(i), endpoint, host);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const out = await p.runRequest(exchange(i), endpoint, host);
    if (out.kind !== 'forwarded') throw new Error(`unexpected outcome ${JSON.stringify(out)}`);
  }
  return Number(process.hrtime.bigint() - t0) / N / 1000;
}

async function main(): Promise<void> {
  const forwardOnly = compile('on_http_request:\n  - actions: [{type: forward-internal, config: {url: "https://up.internal"}}]\n');
  const tenRules = compile(readFileSync(join(REPO_ROOT, 'test', 'bench', 'policies', 'ten-rules.yml'), 'utf8'));
  const rounds: Array<{ base: number; ten: number }> = [];
  for (let r = 0; r < 3; r++) rounds.push({ base: await timePolicy(forwardOnly), ten: await timePolicy(tenRules) });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(rounds.map((r) => r.base));
  const ten = median(rounds.map((r) => r.ten));
  console.log(`policy bench (${N} requests × 3 rounds, medians):`);
  console.log(`  one-rule forward policy: ${base.toFixed(2)} µs/request`);
  console.log(`  ten-rule policy:         ${ten.toFixed(2)} µs/request`);
  console.log(`  per-request cost of the ten rules (CEL + rate-limit + add-headers): ${(ten - base).toFixed(2)} µs`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
