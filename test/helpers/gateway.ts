/**
 * Builders for a real gateway in tests: an edge process from a config, demo upstreams, agents.
 * All addresses are loopback with ports chosen by the OS (port 0, read back from `ready`).
 */
import { request, Agent as UndiciAgent } from 'undici';
import { join } from 'node:path';
import { meshgate, tempFiles, type Proc } from './procs.js';

export interface EdgeHandle {
  proc: Proc;
  http: string;
  https?: string;
  tunnel: string;
  /** `listen.admin` (the gRPC admin API), when the YAML sets it. */
  admin?: string;
  dir: string;
}

/** Starts an edge from YAML text; `listen` ports are 0 unless the YAML says otherwise. */
export async function startEdge(yaml: string, extraFiles: Record<string, string> = {}, name = 'edge', env?: Record<string, string>): Promise<EdgeHandle> {
  const dir = tempFiles({ 'edge.yaml': yaml, ...extraFiles });
  const proc = meshgate(name, ['edge', '--config', join(dir, 'edge.yaml')], { env });
  const ready = await proc.ready(20_000);
  return { proc, http: ready.listeners.http, https: ready.listeners.https, tunnel: ready.listeners.tunnel, admin: ready.listeners.admin, dir };
}

export async function startUpstream(name: string): Promise<{ proc: Proc; port: number }> {
  const proc = meshgate(name, ['demo-upstream', '--port', '0', '--name', name]);
  const ready = await proc.ready();
  return { proc, port: Number(String(ready.listeners.http).split(':').pop()) };
}

export interface AgentArgs {
  upstreamPort: number;
  url: string;
  edge: EdgeHandle;
  authtoken: string;
  pooling?: boolean;
  policyFile?: string;
  extra?: string[];
  /** Extra environment of the agent process (e.g. OTEL_*). */
  env?: Record<string, string>;
}

export async function startAgent(name: string, a: AgentArgs): Promise<{ proc: Proc; ready: Record<string, any> }> {
  const args = ['agent', 'http', String(a.upstreamPort), '--url', a.url, '--edge', a.edge.tunnel, '--authtoken', a.authtoken];
  if (a.pooling) args.push('--pooling-enabled');
  if (a.policyFile) args.push('--traffic-policy-file', a.policyFile);
  if (a.extra) args.push(...a.extra);
  const proc = meshgate(name, args, { env: a.env });
  return { proc, ready: await proc.ready() };
}

/** One keep-alive client for all tests (accepts the dev certificate). */
export const client = new UndiciAgent({ connect: { rejectUnauthorized: false }, keepAliveTimeout: 10_000, pipelining: 1 });

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): any;
}

/** Sends a request to `addr` (host:port) with a Host header, reads the whole (small) body. */
export async function send(addr: string, host: string, path = '/', init: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; scheme?: 'http' | 'https' } = {}): Promise<Answer> {
  const res = await request(`${init.scheme ?? 'http'}://${addr}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { host, ...init.headers },
    body: init.body,
    dispatcher: client,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/**
 * edge.yaml for the common test shape: account `acme` (authtoken `tok_acme`), loopback listeners
 * on free ports, and a cloud endpoint `http://api.example.com` that forwards everything to
 * `target`. `extraEndpoints` is appended under cloud_endpoints (YAML list items).
 */
export function forwardingEdgeYaml(target: string, extraEndpoints = ''): string {
  return `
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:
  - account: acme
    url: http://api.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "${target}"}}]
${extraEndpoints}`;
}

export const CLUSTER_SECRET = 'test-cluster-secret-0123456789';

export interface ClusterEdgeOptions {
  /** Redis URL (second presence channel, global rate limits). */
  redis?: string;
  /** presence_channels, when not the default. */
  channels?: string[];
  /** advertise.peer address. */
  advertisePeer?: string;
  /** The cloud_endpoints list items; default: http://api.example.com forwarding to https://foo.internal. */
  endpoints?: string;
}

const DEFAULT_CLUSTER_ENDPOINTS = `
  - account: acme
    url: http://api.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://foo.internal"}}]`;

/** edge.yaml of one edge in a test cluster (gRPC mesh unless told otherwise; `local` presence profile). */
export function clusterEdgeYaml(region: string, peers: string[], extra = '', o: ClusterEdgeOptions = {}): string {
  return `
region: ${region}
node_id: ${region}-1
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", peer: "127.0.0.1:0"}
peers: [${peers.map((p) => `"${p}"`).join(', ')}]${o.redis ? `\nredis: ${o.redis}` : ''}${o.channels ? `\npresence_channels: [${o.channels.join(', ')}]` : ''}${o.advertisePeer ? `\nadvertise: {peer: "${o.advertisePeer}"}` : ''}
cluster_secret: ${CLUSTER_SECRET}
presence_profile: local
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:${o.endpoints ?? DEFAULT_CLUSTER_ENDPOINTS}
${extra}`;
}

/** Starts eu, then us and jp seeded with eu's peer address. */
export async function startCluster(regions = ['eu', 'us', 'jp'], extra = '', env?: Record<string, string>): Promise<Record<string, EdgeHandle & { peer: string }>> {
  const out: Record<string, EdgeHandle & { peer: string }> = {};
  const first = await startEdge(clusterEdgeYaml(regions[0], [], extra), {}, `edge-${regions[0]}`, env);
  const peerOf = (h: EdgeHandle) => String(h.proc.logs().find((l) => l.msg === 'ready')!.listeners.peer);
  out[regions[0]] = { ...first, peer: peerOf(first) };
  const rest = await Promise.all(regions.slice(1).map((r) => startEdge(clusterEdgeYaml(r, [out[regions[0]].peer], extra), {}, `edge-${r}`, env)));
  rest.forEach((h, i) => (out[regions[i + 1]] = { ...h, peer: peerOf(h) }));
  return out;
}

/** Polls `fn` until it returns true (bounded). */
export async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await fn().catch(() => false)) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
