/**
 * `meshgate cluster up`: the tutorial on loopback, each part its own OS process as in a real
 * deployment — an edge node, three demo upstreams (foo-1, foo-2, bar-1), an agent beside each,
 * and the tutorial's cloud endpoints (path routing on api.example.com, header routing on
 * headers.example.com). Prints what runs where and curl lines to try; Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeshgateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { SERVER_NODE_FLAGS } from '../core/node-flags.js';

const LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'meshgate');
const READY_TIMEOUT_MS = 20_000;

export const DEMO_AUTHTOKEN = 'tok_demo';

export const PATH_POLICY = `on_http_request:
  - name: foo API
    expressions: ["req.url.path.startsWith('/foo')"]
    actions:
      - type: forward-internal
        config: {url: "https://foo.internal"}
  - name: bar API
    expressions: ["req.url.path.startsWith('/bar')"]
    actions:
      - type: forward-internal
        config: {url: "https://bar.internal"}
  - name: everything else
    actions:
      - type: custom-response
        config: {status_code: 403, body: "no route for this path; try /foo or /bar\\n"}
`;

export const HEADER_POLICY = `on_http_request:
  - name: route by x-api
    expressions: ["'x-api' in req.headers"]
    actions:
      - type: forward-internal
        config: {url: "https://\${req.headers['x-api'][0]}.internal"}
  - name: no header
    actions:
      - type: custom-response
        config: {status_code: 403, body: "send an x-api header (foo or bar)\\n"}
`;

export interface ClusterOptions {
  /** Regions, one edge node each; the first is the seed the others join through. */
  regions: string[];
  host: string;
  /** Ports of the first region's edge; each further region adds 100 (0 = any free port). */
  httpPort: number;
  httpsPort: number;
  tunnelPort: number;
  peerPort: number;
  /** Redis URL for the second presence channel (optional). */
  redis?: string;
  log: Logger;
}

interface Child {
  name: string;
  proc: ChildProcess;
  ready: Promise<Record<string, any>>;
}

/** Demo services: name, the internal URL they serve, and the region whose edge their agent dials. */
const SERVICES = [
  { name: 'foo-1', url: 'https://foo.internal', region: 0 },
  { name: 'foo-2', url: 'https://foo.internal', region: 1 },
  { name: 'bar-1', url: 'https://bar.internal', region: 0 },
];

export interface ClusterInfo {
  edges: Array<{ region: string; node: string; listeners: Record<string, string> }>;
  upstreams: Array<{ name: string; addr: string; url: string; region: string }>;
}

export class LocalCluster {
  private readonly children: Child[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'meshgate-cluster-'));
  private stopping = false;
  private readonly secret = randomBytes(18).toString('base64url');

  constructor(private readonly opts: ClusterOptions) {}

  private edgeYaml(region: string, i: number, seeds: string[]): string {
    const o = this.opts;
    const port = (base: number) => (base === 0 ? 0 : base + 100 * i);
    return [
      `region: ${region}`,
      `node_id: ${region}-1`,
      'listen:',
      `  http: ${o.host}:${port(o.httpPort)}`,
      `  https: ${o.host}:${port(o.httpsPort)}`,
      `  tunnel: ${o.host}:${port(o.tunnelPort)}`,
      ...(o.regions.length > 1 ? [`  peer: ${o.host}:${port(o.peerPort)}`] : []),
      ...(o.regions.length > 1 ? [`peers: [${seeds.map((a) => `"${a}"`).join(', ')}]`, `cluster_secret: ${this.secret}`, 'presence_profile: local'] : []),
      ...(o.regions.length > 1 && o.redis ? [`redis: "${o.redis}"`] : []),
      'accounts:',
      '  - name: demo',
      `    authtokens: [${DEMO_AUTHTOKEN}]`,
      'cloud_endpoints:',
      '  - {account: demo, url: "https://api.example.com", traffic_policy_file: path-routing.yml}',
      '  - {account: demo, url: "http://api.example.com", traffic_policy_file: path-routing.yml}',
      '  - {account: demo, url: "https://headers.example.com", traffic_policy_file: header-routing.yml}',
      '  - {account: demo, url: "http://headers.example.com", traffic_policy_file: header-routing.yml}',
      '',
    ].join('\n');
  }

  /** Starts everything; resolves with what runs where once every process is ready. */
  async up(): Promise<ClusterInfo> {
    const o = this.opts;
    writeFileSync(join(this.dir, 'path-routing.yml'), PATH_POLICY);
    writeFileSync(join(this.dir, 'header-routing.yml'), HEADER_POLICY);
    const startEdge = (region: string, i: number, seeds: string[]) => {
      const file = join(this.dir, `edge-${region}.yaml`);
      writeFileSync(file, this.edgeYaml(region, i, seeds));
      return this.spawn(`edge-${region}`, ['edge', '--config', file]);
    };
    const ups = SERVICES.map((s) => this.spawn(`upstream-${s.name}`, ['demo-upstream', '--port', '0', '--name', s.name]));
    const first = await startEdge(o.regions[0], 0, []).ready;
    const others = await Promise.all(o.regions.slice(1).map((r, i) => startEdge(r, i + 1, [first.listeners.peer]).ready));
    const edgeReady = [first, ...others];
    const upReady = await Promise.all(ups.map((u) => u.ready));
    const agents = SERVICES.map((s, i) => {
      const edge = edgeReady[s.region % edgeReady.length];
      const port = String(upReady[i].listeners.http).split(':').pop()!;
      return this.spawn(`agent-${s.name}`, ['agent', 'http', port, '--url', s.url, '--pooling-enabled', '--edge', edge.listeners.tunnel, '--authtoken', DEMO_AUTHTOKEN]);
    });
    await Promise.all(agents.map((a) => a.ready));
    return {
      edges: o.regions.map((r, i) => ({ region: r, node: `${r}-1`, listeners: edgeReady[i].listeners })),
      upstreams: SERVICES.map((s, i) => ({ name: s.name, addr: upReady[i].listeners.http, url: s.url, region: o.regions[s.region % o.regions.length] })),
    };
  }

  /** Stops every process (SIGTERM, then SIGKILL after 5 s) and removes the temp dir. */
  async down(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children].reverse().map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
            const t = setTimeout(() => c.proc.kill('SIGKILL'), 5_000);
            c.proc.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.proc.kill('SIGTERM');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private spawn(name: string, args: string[]): Child {
    const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, LAUNCHER, ...args, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHGATE_LOG_LEVEL: '' } });
    let buf = '';
    const ready = new Promise<Record<string, any>>((resolve, reject) => {
      const t = setTimeout(() => reject(new MeshgateError('MG_INTERNAL', { detail: `${name} did not start within ${READY_TIMEOUT_MS} ms` })), READY_TIMEOUT_MS);
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.includes('"msg":"ready"')) {
            clearTimeout(t);
            resolve(JSON.parse(line));
          } else if (line.trim()) {
            process.stderr.write(`[${name}] ${line}\n`);
          }
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        if (!this.stopping) {
          this.opts.log.error('process exited', { process: name, code });
          reject(new MeshgateError('MG_INTERNAL', { detail: `${name} exited with code ${code}; see its output above` }));
        }
      });
    });
    ready.catch(() => undefined);
    const child = { name, proc, ready };
    this.children.push(child);
    return child;
  }
}
