/**
 * The proxies the bench compares, each started against the same upstream and pinned to the
 * proxy CPU: `nginx` (the reference), `meshgate` (cloud endpoint → forward-internal → agent →
 * upstream: an edge and an agent process), its variants (`-split`, `-policy`, `-traced`) and
 * `undici` (the bare Node proxy, the baseline's ceiling). A target lists the processes whose CPU is measured; the first is its "front"
 * process (the meshgate edge), whose CPU efficiency is the stated goal.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginxProxy, BODY } from './nginx.js';
import { Proc } from './procs.js';
import { SERVER_NODE_FLAGS } from '../../services/core/node-flags.js';

/** Repository root (this file runs as dist/test/bench/targets.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const TARGET_NAMES = ['nginx', 'meshgate', 'meshgate-split', 'meshgate-policy', 'meshgate-traced', 'undici'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface Target {
  name: TargetName;
  /** What wrk loads. */
  url: string;
  headers: string[];
  /** Processes whose CPU is accounted (each with its descendants), front process first. */
  procs: { role: string; proc: Proc }[];
  /** `meshgate-traced`: what reached the OTLP sink, and spans the batch processors dropped (queue full). */
  tracing?: { exported(): Promise<{ requests: number; bytes: number }>; dropped(): number };
}

export interface TargetContext {
  /** Temp dir for configs and logs. */
  dir: string;
  upstreamPort: number;
  /** CPU list the proxy processes are pinned to. */
  cpus: string;
  /** CPU list of the load side (wrk, upstream); `meshgate-split` puts its agent there. */
  loadCpus: string;
}

const READY_TIMEOUT_MS = 20_000;
const MESHGATE_HOST = 'api.bench.test';

/** Waits for a process's JSON `"msg":"ready"` line on stderr and returns its `listeners`. */
function waitReady(proc: Proc): Promise<Record<string, string>> {
  return proc.waitFor('its "ready" line', (line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const rec = JSON.parse(line) as { msg?: unknown; listeners?: Record<string, string> };
      return rec.msg === 'ready' ? (rec.listeners ?? {}) : undefined;
    } catch {
      return undefined;
    }
  }, READY_TIMEOUT_MS);
}

/** The ten-rule policy of `meshgate-policy` (header/path expressions, rate-limit, add-headers). */
const TEN_RULES = join(ROOT, 'test', 'bench', 'policies', 'ten-rules.yml');

function edgeConfig(policyFile?: string): string {
  if (policyFile) {
    return `region: eu\nnode_id: bench-1\nlisten:\n  http: 127.0.0.1:0\n  tunnel: 127.0.0.1:0\naccounts:\n  - name: bench\n    authtokens: [tok_bench]\ncloud_endpoints:\n  - account: bench\n    url: http://${MESHGATE_HOST}\n    traffic_policy_file: ${JSON.stringify(policyFile)}\n`;
  }
  return `region: eu
node_id: bench-1
listen:
  http: 127.0.0.1:0
  tunnel: 127.0.0.1:0
accounts:
  - name: bench
    authtokens: [tok_bench]
cloud_endpoints:
  - account: bench
    url: http://${MESHGATE_HOST}
    traffic_policy: |
      on_http_request:
        - actions:
            - type: forward-internal
              config: {url: "https://up.internal"}
`;
}

/**
 * Launcher arguments: `node <the flags meshgate ships with> bin/meshgate ...`, as bin/meshgate's
 * shebang and the systemd units start it (taskset execs node, so the pid is meshgate's).
 */
function meshgate(name: string, args: string[], cpus: string, env?: NodeJS.ProcessEnv): Proc {
  return new Proc(name, process.execPath, [...SERVER_NODE_FLAGS, join(ROOT, 'bin', 'meshgate'), ...args, '--log-level', 'warn'], { cpus, cwd: ROOT, env: env && { ...process.env, ...env } });
}

/**
 * `meshgate`: edge and agent share the proxy core (the whole path gets the one core nginx gets).
 * `meshgate-split`: the edge alone on the proxy core, the agent beside wrk and the upstream, as
 * in a deployment where agents run next to their services: the edge's own cost, undisturbed.
 * `meshgate-policy`: like `meshgate`, with the ten-rule policy of test/bench/policies.
 */
async function startMeshgate(ctx: TargetContext, split = false, policyFile?: string, env?: NodeJS.ProcessEnv): Promise<Target> {
  if (!existsSync(join(ROOT, 'dist', 'services', 'cli', 'commands', 'edge.js'))) {
    throw new Error('meshgate is not built (dist/services/cli/commands/edge.js missing): run `make build`, or set BENCH_TARGETS=nginx,undici');
  }
  const config = join(ctx.dir, 'edge.yaml');
  writeFileSync(config, edgeConfig(policyFile));
  const edge = meshgate('meshgate-edge', ['edge', '--config', config], ctx.cpus, env);
  const listeners = await waitReady(edge);
  if (listeners.http === undefined || listeners.tunnel === undefined) {
    throw new Error(`meshgate-edge: ready line lacks listeners.http/tunnel: ${JSON.stringify(listeners)}`);
  }
  const agent = meshgate('meshgate-agent', [
    'agent', 'http', `http://127.0.0.1:${ctx.upstreamPort}`,
    '--url', 'https://up.internal', '--edge', listeners.tunnel, '--authtoken', 'tok_bench',
  ], split ? ctx.loadCpus : ctx.cpus, env);
  await waitReady(agent);
  return {
    name: policyFile ? 'meshgate-policy' : split ? 'meshgate-split' : 'meshgate',
    url: `http://${listeners.http}/`,
    headers: [`Host: ${MESHGATE_HOST}`],
    procs: [{ role: 'edge', proc: edge }, { role: 'agent', proc: agent }],
  };
}

/**
 * `meshgate-traced`: `meshgate` with tracing on in the edge and the agent, every request sampled
 * (always_on), spans batched (the SDK defaults) and exported over OTLP/HTTP protobuf to a sink
 * that discards them, on the load CPU like a collector on another host.
 */
async function startMeshgateTraced(ctx: TargetContext): Promise<Target> {
  const sink = new Proc('otlp-sink', process.execPath, [join(ROOT, 'dist', 'test', 'bench', 'otlp-sink.js')], { cpus: ctx.loadCpus });
  const sinkAddr = (await waitReady(sink)).http;
  const t = await startMeshgate(ctx, false, undefined, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://${sinkAddr}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'always_on',
  });
  let dropped = 0;
  for (const { proc } of t.procs) {
    proc.onLine((line) => {
      const m = /Dropped (\d+) spans/.exec(line);
      if (m) dropped += Number(m[1]);
    });
  }
  const exported = () =>
    new Promise<{ requests: number; bytes: number }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: sinkAddr.split(':')[1], path: '/stats', agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve(JSON.parse(body) as { requests: number; bytes: number }));
      }).on('error', reject).end();
    });
  return { ...t, name: 'meshgate-traced', tracing: { exported, dropped: () => dropped } };
}

async function startUndici(ctx: TargetContext): Promise<Target> {
  const script = join(ROOT, 'dist', 'test', 'bench', 'undici-proxy.js');
  const proc = new Proc('undici-proxy', process.execPath, [script, String(ctx.upstreamPort)], { cpus: ctx.cpus });
  const listeners = await waitReady(proc);
  return { name: 'undici', url: `http://${listeners.http}/`, headers: [], procs: [{ role: 'undici', proc }] };
}

async function startNginx(ctx: TargetContext): Promise<Target> {
  const { proc, port } = await startNginxProxy(ctx.dir, ctx.upstreamPort, ctx.cpus);
  return { name: 'nginx', url: `http://127.0.0.1:${port}/`, headers: [], procs: [{ role: 'nginx', proc }] };
}

/** One GET through the target; throws unless it answers 200 with the upstream's body. */
export function checkTarget(t: Target): Promise<void> {
  const url = new URL(t.url);
  const headers = Object.fromEntries(t.headers.map((h) => h.split(/:\s*/, 2) as [string, string]));
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        if (res.statusCode === 200 && body === BODY) return resolve();
        reject(new Error(`${t.name}: check request to ${t.url} got ${res.statusCode} ${JSON.stringify(res.headers)} body ${JSON.stringify(body.slice(0, 200))}; expected 200 with the ${BODY.length}-byte upstream body`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${t.name}: check request to ${t.url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Starts one target and checks that it proxies. */
export async function startTarget(name: TargetName, ctx: TargetContext): Promise<Target> {
  const start = { nginx: startNginx, meshgate: startMeshgate, 'meshgate-split': (c: TargetContext) => startMeshgate(c, true), 'meshgate-policy': (c: TargetContext) => startMeshgate(c, false, TEN_RULES), 'meshgate-traced': startMeshgateTraced, undici: startUndici }[name];
  const t = await start(ctx);
  await checkTarget(t);
  return t;
}
