/**
 * `make bench`: proxy throughput and CPU cost of meshgate next to nginx, measured the way
 * /work/shared/reference/perf-baseline.md did on this machine, in one session:
 *
 * - one nginx upstream (`GET /` → 100-byte body) shared by every target;
 * - targets (BENCH_TARGETS, default `nginx,meshgate,meshgate-split,meshgate-policy,meshgate-traced`;
 *   `undici` = the bare Node proxy ceiling): nginx proxy_pass + keepalive with 1 worker, and
 *   meshgate cloud endpoint → forward-internal → agent → upstream (edge and agent both on the
 *   proxy CPU: one core for the whole path); `meshgate-traced` is `meshgate` with tracing on
 *   (every request sampled, OTLP/protobuf batches to a sink that discards them), compared with
 *   `meshgate` in the same round: its cost must stay ≤ 15 % of the req/s;
 * - pinning: proxies on cpu 0, wrk + upstream (+ this harness) on cpu 1;
 * - load: `wrk -t1 -c<BENCH_CONNS> -d<BENCH_DURATION>s --latency` after a 2 s warm-up, rounds
 *   interleaved (each round runs every target back to back, so ratios compare runs seconds apart;
 *   even rounds in reverse order, so a drift of the machine's speed favours no target);
 * - CPU per request of each proxy process tree from /proc/<pid>/stat over the measured window;
 *   ratios to nginx in the same round; medians over rounds at the end.
 *
 * A run during which other processes used > 0.05 cores is repeated (BENCH_RETRIES, default 2)
 * and flagged if still disturbed.
 *
 * Environment: BENCH_TARGETS (see above), BENCH_DURATION (10 s), BENCH_ROUNDS (3),
 * BENCH_CONNS (50), BENCH_WARMUP (2 s), BENCH_RETRIES (2), BENCH_PROXY_CPU (0),
 * BENCH_LOAD_CPU (1). Smoke run (< 1 min): BENCH_DURATION=3 BENCH_ROUNDS=1.
 *
 * Writes test-output/bench/proxy-bench-<time>.{json,md}. Exits 1 on failure or when any run saw
 * non-2xx responses or socket errors.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus as osCpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyPercent, CLK_TCK, cpuSeconds, foreignCores, sampleCpus, sampleTree } from './cpu.js';
import { nginxBinary, startUpstream } from './nginx.js';
import { installCleanup, stopAll } from './procs.js';
import { ROOT, startTarget, TARGET_NAMES, type Target, type TargetName } from './targets.js';
import { runWrk } from './wrk.js';

/** The stated goal: meshgate edge CPU efficiency (nginx µs/req ÷ edge µs/req) ≥ this. */
const GOAL_EDGE_CPU_EFF = 0.2;
/** Tracing on (100% sampled, batch export) may cost at most this share of `meshgate`'s throughput. */
const GOAL_TRACING_COST = 0.15;
/** Foreign load (cores) above which a run is flagged as disturbed (the baseline's QUIET_MAX). */
const FOREIGN_WARN = 0.05;

interface Config {
  durationS: number;
  rounds: number;
  conns: number;
  warmupS: number;
  /** Repeats of a run disturbed by foreign load before it is kept as it is. */
  retries: number;
  targets: TargetName[];
  proxyCpu: string;
  loadCpu: string;
}

interface Run {
  round: number;
  /** Position in its round (0 = measured first). */
  slot: number;
  target: TargetName;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  /** CPU µs per request of each measured process tree, by role (nginx | edge, agent | undici). */
  cpuUsPerReq: Record<string, number>;
  /** Sum over the target's processes. */
  cpuUsPerReqAll: number;
  /** Busy % of each CPU during the window. */
  cpuBusy: Record<string, number>;
  /** Cores used during the window by processes this bench did not start (other workloads). */
  foreignCores: number;
  /** Ratios to nginx in the same round (null without an nginx run). */
  rpsRatio: number | null;
  /** nginx µs/req ÷ front process µs/req (the meshgate edge). */
  cpuEff: number | null;
  /** nginx µs/req ÷ all processes' µs/req (meshgate edge + agent). */
  cpuEffAll: number | null;
  /** meshgate-traced: OTLP export requests and MB the sink got during the window, spans dropped (queue full). */
  tracing?: { exports: number; mb: number; dropped: number };
}

function envInt(name: string, dflt: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: expected an integer ≥ ${min}`);
  return n;
}

function readConfig(): Config {
  const targets = (process.env.BENCH_TARGETS || 'nginx,meshgate,meshgate-split,meshgate-policy,meshgate-traced').split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of targets) {
    if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new Error(`BENCH_TARGETS: unknown target '${t}' (known: ${TARGET_NAMES.join(', ')})`);
  }
  let proxyCpu = process.env.BENCH_PROXY_CPU || '0';
  let loadCpu = process.env.BENCH_LOAD_CPU || '1';
  if (availableParallelism() < 2 && proxyCpu !== loadCpu) {
    process.stderr.write('warning: fewer than 2 CPUs: proxy, wrk and upstream share cpu 0; numbers are not comparable to the baseline\n');
    proxyCpu = loadCpu = '0';
  }
  return {
    durationS: envInt('BENCH_DURATION', 10, 1),
    rounds: envInt('BENCH_ROUNDS', 3, 1),
    conns: envInt('BENCH_CONNS', 50, 1),
    warmupS: envInt('BENCH_WARMUP', 2, 0),
    retries: envInt('BENCH_RETRIES', 2, 0),
    targets: [...new Set(targets)] as TargetName[],
    proxyCpu,
    loadCpu,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const medianOrNull = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : median(v);
};
const kRps = (n: number): string => `${(n / 1000).toFixed(1)}k`;
const x2 = (n: number | null): string => (n === null ? '–' : `${n.toFixed(2)}×`);
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);
const cpuText = (r: Pick<Run, 'cpuUsPerReq'>): string => Object.entries(r.cpuUsPerReq).map(([k, v]) => `${k} ${f1(v)}`).join(' + ');
const busyText = (b: Record<string, number>, cfg: Config): string =>
  [...new Set([cfg.proxyCpu, cfg.loadCpu])].map((c) => `cpu${c} ${Math.round(b[`cpu${c}`] ?? 0)}%`).join(' ');

/** One measured wrk run against `t`, with CPU sampled right before and after. */
async function measure(t: Target, cfg: Config, round: number, slot: number): Promise<Run> {
  const wrk = { url: t.url, headers: t.headers, connections: cfg.conns, cpus: cfg.loadCpu };
  if (cfg.warmupS > 0) await runWrk({ ...wrk, durationS: cfg.warmupS });
  const exportedBefore = await t.tracing?.exported();
  const droppedBefore = t.tracing?.dropped() ?? 0;
  const before = t.procs.map((p) => sampleTree(p.proc.pid));
  const oursBefore = sampleTree(process.pid); // this harness, everything it started, finished wrks
  const cpusBefore = sampleCpus();
  const t0 = performance.now();
  const w = await runWrk({ ...wrk, durationS: cfg.durationS });
  const seconds = (performance.now() - t0) / 1000;
  const cpusAfter = sampleCpus();
  const oursAfter = sampleTree(process.pid);
  const after = t.procs.map((p) => sampleTree(p.proc.pid));
  for (const { proc } of t.procs) {
    if (proc.exitStatus !== undefined) throw new Error(`${proc.name} exited (${String(proc.exitStatus)}) during the run\n${proc.tailText()}`);
  }
  const cpuUsPerReq: Record<string, number> = {};
  t.procs.forEach((p, i) => { cpuUsPerReq[p.role] = (1e6 * cpuSeconds(before[i]!, after[i]!)) / Math.max(w.requests, 1); });
  const all = Object.values(cpuUsPerReq).reduce((a, b) => a + b, 0);
  // spans of the window still in the batch queues arrive within the SDK's 5 s schedule delay
  const exportedAfter = t.tracing && (await new Promise((r) => setTimeout(r, 5_500)), await t.tracing.exported());
  const tracing = t.tracing && exportedBefore && exportedAfter
    ? { exports: exportedAfter.requests - exportedBefore.requests, mb: (exportedAfter.bytes - exportedBefore.bytes) / 1e6, dropped: t.tracing.dropped() - droppedBefore }
    : undefined;
  return {
    tracing,
    round, slot, target: t.name, requests: w.requests, rps: w.rps, p50Ms: w.p50Ms, p99Ms: w.p99Ms,
    non2xx: w.non2xx, socketErrors: w.socketErrors, cpuUsPerReq, cpuUsPerReqAll: all,
    cpuBusy: busyPercent(cpusBefore, cpusAfter),
    foreignCores: foreignCores(cpusBefore, cpusAfter, cpuSeconds(oursBefore, oursAfter), seconds),
    rpsRatio: null, cpuEff: null, cpuEffAll: null,
  };
}

/** Fills the ratios of `r` from the nginx run of the same round, if there is one yet. */
function setRatios(r: Run, nginx: Run | undefined, t: Target): void {
  if (nginx === undefined) return;
  r.rpsRatio = r.rps / nginx.rps;
  r.cpuEff = nginx.cpuUsPerReqAll / r.cpuUsPerReq[t.procs[0]!.role]!;
  r.cpuEffAll = nginx.cpuUsPerReqAll / r.cpuUsPerReqAll;
}

function progressLine(r: Run, cfg: Config): string {
  let s = `round ${r.round}/${cfg.rounds}: ${r.target.padEnd(8)} ${kRps(r.rps).padStart(7)} req/s  p50 ${f2(r.p50Ms)} ms  p99 ${f2(r.p99Ms)} ms  CPU ${cpuText(r)} µs/req`;
  if (r.target !== 'nginx' && r.rpsRatio !== null) {
    s += `  ×nginx ${f2(r.rpsRatio)} req/s, CPU-eff ${f2(r.cpuEff!)}${r.cpuEffAll !== r.cpuEff ? ` (all ${f2(r.cpuEffAll!)})` : ''}`;
  }
  s += `  [${busyText(r.cpuBusy, cfg)}, foreign ${f2(r.foreignCores)} cores${r.foreignCores > FOREIGN_WARN ? ' !' : ''}]`;
  if (r.non2xx > 0 || r.socketErrors > 0) s += `  ERRORS: ${r.non2xx} non-2xx/3xx, ${r.socketErrors} socket`;
  if (r.tracing) s += `  [OTLP: ${r.tracing.exports} exports, ${f1(r.tracing.mb)} MB, ${r.tracing.dropped} spans dropped${r.tracing.dropped > 0 ? ' !' : ''}]`;
  return s;
}

/** Cost of tracing: `meshgate-traced` against `meshgate` in the same round, medians over rounds. */
function tracingLine(runs: Run[]): string | undefined {
  const pairs = [...new Set(runs.map((r) => r.round))].flatMap((round) => {
    const off = runs.find((r) => r.round === round && r.target === 'meshgate');
    const on = runs.find((r) => r.round === round && r.target === 'meshgate-traced');
    return off && on ? [{ off, on }] : [];
  });
  if (pairs.length === 0) return undefined;
  const cost = median(pairs.map((p) => 1 - p.on.rps / p.off.rps));
  const cpu = median(pairs.map((p) => p.on.cpuUsPerReqAll - p.off.cpuUsPerReqAll));
  const dropped = pairs.reduce((a, p) => a + (p.on.tracing?.dropped ?? 0), 0);
  // rounds on a shared machine vary a lot: show the spread, so one run is not read as the truth
  const ratios = pairs.map((p) => p.on.rps / p.off.rps);
  const spread = pairs.length > 1 ? `, rounds ${f2(Math.min(...ratios))}×–${f2(Math.max(...ratios))}× over ${pairs.length}` : '';
  // and what the order within a round did (each order is half of the rounds)
  const tracedFirst = pairs.filter((p) => p.on.slot < p.off.slot).map((p) => p.on.rps / p.off.rps);
  const tracedLast = pairs.filter((p) => p.on.slot > p.off.slot).map((p) => p.on.rps / p.off.rps);
  const byOrder = tracedFirst.length > 0 && tracedLast.length > 0 ? `; traced run first ${f2(median(tracedFirst))}×, second ${f2(median(tracedLast))}×` : '';
  return `tracing on (100% sampled, OTLP/protobuf batch export) costs ${(cost * 100).toFixed(1)}% of meshgate's req/s ` +
    `(traced/untraced ${f2(1 - cost)}×${spread}${byOrder}; +${f1(cpu)} µs CPU per request, edge + agent; goal ≤ ${GOAL_TRACING_COST * 100}%): ${cost <= GOAL_TRACING_COST ? 'MET' : 'NOT MET'}` +
    (dropped > 0 ? `; ${dropped} spans were dropped (batch queue full), so the cost is understated` : '; no span dropped');
}

interface Summary {
  target: TargetName;
  rps: number;
  rpsRatio: number | null;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  cpuUsPerReq: Record<string, number>;
  cpuUsPerReqAll: number;
  cpuEff: number | null;
  cpuEffAll: number | null;
}

function summarize(runs: Run[], cfg: Config): Summary[] {
  return cfg.targets.map((target) => {
    const rs = runs.filter((r) => r.target === target);
    const roles = Object.keys(rs[0]!.cpuUsPerReq);
    return {
      target,
      rps: median(rs.map((r) => r.rps)),
      rpsRatio: medianOrNull(rs.map((r) => r.rpsRatio)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      socketErrors: rs.reduce((a, r) => a + r.socketErrors, 0),
      cpuUsPerReq: Object.fromEntries(roles.map((k) => [k, median(rs.map((r) => r.cpuUsPerReq[k]!))])),
      cpuUsPerReqAll: median(rs.map((r) => r.cpuUsPerReqAll)),
      cpuEff: medianOrNull(rs.map((r) => r.cpuEff)),
      cpuEffAll: medianOrNull(rs.map((r) => r.cpuEffAll)),
    };
  });
}

function goalLine(summary: Summary[]): string {
  const goal = `goal: meshgate edge CPU efficiency ≥ ${f2(GOAL_EDGE_CPU_EFF)}× nginx`;
  const parts: string[] = [];
  for (const [target, label] of [['meshgate-split', 'edge on its own core'], ['meshgate', 'edge sharing its core with the agent']] as const) {
    const m = summary.find((s) => s.target === target);
    if (m === undefined || m.cpuEff === null) continue;
    parts.push(`${label}: ${m.cpuEff >= GOAL_EDGE_CPU_EFF ? 'MET' : 'NOT MET'} (${f2(m.cpuEff)}×; edge+agent ${f2(m.cpuEffAll!)}×)`);
  }
  const base = summary.find((x) => x.target === 'meshgate');
  const pol = summary.find((x) => x.target === 'meshgate-policy');
  if (base && pol) {
    const overhead = pol.cpuUsPerReq.edge! / base.cpuUsPerReq.edge! - 1;
    parts.push(`ten-rule policy adds ${(overhead * 100).toFixed(1)}% edge CPU per request (${f2(pol.cpuUsPerReq.edge! - base.cpuUsPerReq.edge!)} µs; goal ≤ 10%): ${overhead <= 0.1 ? 'MET' : 'NOT MET'}`);
  }
  return parts.length ? `${goal}: ${parts.join('; ')}` : `${goal}: not measured (needs nginx and meshgate or meshgate-split)`;
}

function foreignLine(runs: Run[]): string {
  const max = Math.max(...runs.map((r) => r.foreignCores));
  const bad = runs.filter((r) => r.foreignCores > FOREIGN_WARN).length;
  return `Foreign load (CPU of processes this bench did not start): max ${f2(max)} cores` +
    (bad > 0 ? `; ${bad} run(s) above ${FOREIGN_WARN} cores were disturbed: rerun on a quiet machine.` : '.');
}

function markdown(summary: Summary[], runs: Run[], cfg: Config, meta: Record<string, string>): string {
  const head = '| target | req/s | ×nginx req/s | p50 / p99 ms | non-2xx / socket errors | CPU µs/req | CPU-eff ×nginx (front) | CPU-eff ×nginx (all processes) |';
  const sep = '|---|---|---|---|---|---|---|---|';
  const row = (s: Omit<Summary, 'target'>, label: string): string =>
    `| ${label} | ${kRps(s.rps)} | ${x2(s.rpsRatio)} | ${f2(s.p50Ms)} / ${f2(s.p99Ms)} | ${s.non2xx} / ${s.socketErrors} | ${cpuText(s)} (Σ ${f1(s.cpuUsPerReqAll)}) | ${x2(s.cpuEff)} | ${x2(s.cpuEffAll)} |`;
  return [
    `# meshgate proxy bench (${meta.finishedAt})`,
    '',
    `Pinned: proxies on cpu ${cfg.proxyCpu}, wrk + upstream on cpu ${cfg.loadCpu}. Load: wrk -t1 -c${cfg.conns} -d${cfg.durationS}s --latency after ${cfg.warmupS} s warm-up, 100-byte GET, ${cfg.rounds} interleaved round(s).`,
    `CPU µs/req = utime+stime of each process tree over the measured window ÷ requests. CPU-eff = nginx µs/req ÷ target µs/req (front = meshgate edge; all = edge + agent). ${meta.machine}`,
    '',
    `## Medians over ${cfg.rounds} round(s)`,
    '',
    head, sep,
    ...summary.map((s) => row(s, s.target)),
    '',
    `**${goalLine(summary)}**`,
    '',
    ...(tracingLine(runs) ? [`**${tracingLine(runs)}**`, ''] : []),
    foreignLine(runs),
    '',
    '## Per round',
    '',
    `| round ${head} CPU busy | foreign cores |`, `${sep}---|---|---|`,
    ...runs.map((r) => `| ${r.round} |${row(r, r.target).slice(1)} ${busyText(r.cpuBusy, cfg)} | ${f2(r.foreignCores)} |`),
    '',
  ].join('\n');
}

/** First line a tool prints for its version flag (wrk -v exits 1, nginx -v prints on stderr). */
function version(cmd: string, flag: string): string {
  const r = spawnSync(cmd, [flag], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.replace(/\s*\[.*$/, '').trim();
}

async function main(): Promise<number> {
  const cpuCount = availableParallelism();
  const cfg = readConfig();
  // Keep this harness (and its /proc scans) off the proxy CPU.
  execFileSync('taskset', ['-a', '-p', '-c', cfg.loadCpu, String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-bench-'));
  installCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const started = new Date();
  const runs: Run[] = [];
  try {
    const machine = `${cpuCount} CPUs (${osCpus()[0]?.model ?? '?'}), Node ${process.version}, ${version(nginxBinary(), '-v')}, ${version('wrk', '-v')}, CLK_TCK ${CLK_TCK}.`;
    console.log(`proxy bench: targets ${cfg.targets.join(', ')}; ${cfg.rounds} round(s) × ${cfg.durationS} s (+${cfg.warmupS} s warm-up), ${cfg.conns} connections`);
    console.log(`  ${machine}`);

    const upstream = await startUpstream(dir, cfg.loadCpu);
    console.log(`upstream: nginx on 127.0.0.1:${upstream.port} (cpu ${cfg.loadCpu}, pid ${upstream.proc.pid})`);
    const targets: Target[] = [];
    for (const name of cfg.targets) {
      const t = await startTarget(name, { dir, upstreamPort: upstream.port, cpus: cfg.proxyCpu, loadCpus: cfg.loadCpu });
      targets.push(t);
      console.log(`${name}: ${t.url} (cpu ${cfg.proxyCpu}; ${t.procs.map((p) => `${p.role} pid ${p.proc.pid}`).join(', ')})`);
    }

    for (let round = 1; round <= cfg.rounds; round++) {
      const inRound: Run[] = [];
      // Every other round runs the targets in reverse order, so that a drift of this shared
      // machine's speed during a run (seen here: one target from 7.1k to 10.0k req/s over ten
      // rounds) does not favour whichever target runs second.
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const t of order) {
        let r = await measure(t, cfg, round, inRound.length);
        for (let retry = 1; retry <= cfg.retries && r.foreignCores > FOREIGN_WARN; retry++) {
          console.log(`round ${round}/${cfg.rounds}: ${t.name} disturbed (foreign load ${f2(r.foreignCores)} cores): repeating (${retry}/${cfg.retries})`);
          r = await measure(t, cfg, round, inRound.length);
        }
        setRatios(r, inRound.find((x) => x.target === 'nginx'), t);
        inRound.push(r);
        console.log(progressLine(r, cfg));
      }
      // Targets measured before nginx in the round (only if BENCH_TARGETS lists nginx later).
      const nginx = inRound.find((x) => x.target === 'nginx');
      inRound.forEach((r, i) => { if (r.rpsRatio === null) setRatios(r, nginx, order[i]!); });
      runs.push(...inRound);
    }

    const finishedAt = new Date().toISOString();
    const summary = summarize(runs, cfg);
    const md = markdown(summary, runs, cfg, { finishedAt, machine });
    const outDir = join(ROOT, 'test-output', 'bench');
    mkdirSync(outDir, { recursive: true });
    const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    const base = join(outDir, `proxy-bench-${stamp}`);
    writeFileSync(`${base}.json`, JSON.stringify({
      startedAt: started.toISOString(), finishedAt, machine, config: cfg,
      goal: { edgeCpuEffAtLeast: GOAL_EDGE_CPU_EFF, line: goalLine(summary), tracingCostAtMost: GOAL_TRACING_COST, tracing: tracingLine(runs) }, summary, runs,
    }, null, 2) + '\n');
    writeFileSync(`${base}.md`, md);

    const table = md.slice(md.indexOf('| target |'), md.indexOf('## Per round')).trimEnd();
    console.log(`\nmedians over ${cfg.rounds} round(s):\n\n${table}\n\nwrote ${base}.json and .md`);
    const errors = runs.filter((r) => r.non2xx > 0 || r.socketErrors > 0);
    if (errors.length > 0) {
      console.log(`FAILED: ${errors.length} run(s) had non-2xx responses or socket errors`);
      return 1;
    }
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`proxy bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
