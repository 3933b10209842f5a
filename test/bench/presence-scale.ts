/**
 * Presence at scale: N agent endpoints (default 10,000) spread over three edge nodes (eu, us,
 * jp; one agent process per edge registering N/3 endpoints), then a fourth edge joins and we
 * measure how long it takes to hold every endpoint (snapshot sync), and the memory each
 * endpoint costs: on the joining edge (remote endpoints) and on an origin edge (local ones).
 *
 *   node dist/test/bench/presence-scale.js         (env SCALE_ENDPOINTS, default 10000)
 * Prints progress, a summary table, and writes test-output/bench/presence-scale-<time>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_SECRET } from '../helpers/gateway.js';
import { meshgate, REPO_ROOT, stopAll, tempFiles, type Proc } from '../helpers/procs.js';

const TOTAL = Number(process.env.SCALE_ENDPOINTS ?? 10_000);
const REGIONS = ['eu', 'us', 'jp'];

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

function edgeYaml(region: string, peers: string[]): string {
  return `region: ${region}\nnode_id: ${region}-1\nlisten: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", peer: "127.0.0.1:0"}\npeers: [${peers.map((p) => `"${p}"`).join(', ')}]\ncluster_secret: ${CLUSTER_SECRET}\npresence_profile: local\naccounts: [{name: acme, authtokens: [tok_acme]}]\n`;
}

async function startEdge(region: string, peers: string[], logLevel = 'info'): Promise<{ proc: Proc; ready: Record<string, any> }> {
  const dir = tempFiles({ 'edge.yaml': edgeYaml(region, peers) });
  const proc = meshgate(`edge-${region}`, ['edge', '--config', join(dir, 'edge.yaml')], { logLevel });
  return { proc, ready: await proc.ready(30_000) };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const per = Math.ceil(TOTAL / REGIONS.length);
  console.log(`presence scale: ${per * REGIONS.length} agent endpoints over ${REGIONS.length} edges, then a 4th edge joins`);
  const edges: Record<string, { proc: Proc; ready: Record<string, any> }> = {};
  edges.eu = await startEdge('eu', []);
  const seed = String(edges.eu.ready.listeners.peer);
  for (const r of REGIONS.slice(1)) edges[r] = await startEdge(r, [seed]);
  await settle(500);
  const originBase = rssMiB(edges.eu.proc.pid);

  const t0 = performance.now();
  await Promise.all(
    REGIONS.map(async (r) => {
      const lines = [`edge: ${edges[r].ready.listeners.tunnel}`, 'authtoken: tok_acme', 'endpoints:'];
      for (let i = 0; i < per; i++) lines.push(`  - {url: "https://s-${r}-${i}.internal", upstream: 9}`);
      const dir = tempFiles({ 'agent.yml': lines.join('\n') + '\n' });
      const agent = meshgate(`agent-${r}`, ['agent', 'start', '--config', join(dir, 'agent.yml')], { logLevel: 'warn' });
      await agent.ready(120_000);
    }),
  );
  const registerMs = performance.now() - t0;
  console.log(`  ${per * REGIONS.length} endpoints registered in ${(registerMs / 1000).toFixed(2)} s`);
  await settle(2_000);
  const originRss = rssMiB(edges.eu.proc.pid);

  // A fresh edge that is not in the cluster: the baseline for the joiner's memory.
  const lone = await startEdge('lone', []);
  await settle(1_000);
  const loneRss = rssMiB(lone.proc.pid);

  const joinStart = performance.now();
  const joiner = await startEdge('ap', [seed], 'debug');
  const readyMs = performance.now() - joinStart;
  const synced = new Map<string, number>();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    for (const l of joiner.proc.logs()) if (l.msg === 'peer snapshot applied') synced.set(l.peer, l.endpoints);
    if ([...synced.values()].reduce((a, b) => a + b, 0) >= per * REGIONS.length) break;
    await settle(5);
  }
  const syncMs = performance.now() - joinStart;
  const held = [...synced.values()].reduce((a, b) => a + b, 0);
  if (held < per * REGIONS.length) throw new Error(`the joining edge holds ${held} endpoints after 60 s`);
  await settle(2_000);
  const joinerRss = rssMiB(joiner.proc.pid);

  const result = {
    endpoints: per * REGIONS.length,
    registerSeconds: registerMs / 1000,
    join: { processStartToReadyMs: readyMs, processStartToAllSnapshotsMs: syncMs, snapshotsFrom: Object.fromEntries(synced) },
    memory: {
      joinerRssMiB: joinerRss,
      loneEdgeRssMiB: loneRss,
      bytesPerRemoteEndpoint: ((joinerRss - loneRss) * 1024 * 1024) / (per * REGIONS.length),
      originRssBeforeMiB: originBase,
      originRssAfterMiB: originRss,
      bytesPerLocalEndpoint: ((originRss - originBase) * 1024 * 1024) / (per * REGIONS.length),
    },
  };
  console.log('');
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| endpoints (3 edges) | ${result.endpoints} |`);
  console.log(`| registration of all (3 agents in parallel) | ${result.registerSeconds.toFixed(2)} s |`);
  console.log(`| joining edge: start → ready | ${readyMs.toFixed(0)} ms |`);
  console.log(`| joining edge: start → all ${result.endpoints} endpoints held | ${syncMs.toFixed(0)} ms |`);
  console.log(`| memory per remote endpoint (joiner vs a lone edge) | ${result.memory.bytesPerRemoteEndpoint.toFixed(0)} B |`);
  console.log(`| memory per endpoint on an origin edge (its ${per} local + ${result.endpoints - per} remote) | ${result.memory.bytesPerLocalEndpoint.toFixed(0)} B |`);
  const out = join(REPO_ROOT, 'test-output', 'bench');
  mkdirSync(out, { recursive: true });
  const file = join(out, `presence-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`\nwritten: ${file}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
