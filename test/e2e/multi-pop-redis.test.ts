/**
 * Presence over Redis pub/sub with a real redis-server: discovery and convergence with Redis
 * alone (no gRPC mesh, no peers list), both channels together, and the gRPC mesh carrying
 * presence on its own when Redis dies.
 */
import assert from 'node:assert/strict';
import { CLUSTER_SECRET, eventually, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

function edgeYaml(region: string, redis: string, channels: string[], peers: string[]): string {
  return `
region: ${region}
node_id: ${region}-1
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", peer: "127.0.0.1:0"}
peers: [${peers.map((p) => `"${p}"`).join(', ')}]
redis: ${redis}
presence_channels: [${channels.join(', ')}]
cluster_secret: ${CLUSTER_SECRET}
presence_profile: local
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:
  - account: acme
    url: http://svc.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://\${req.headers['x-svc'][0]}.internal"}}]
`;
}

async function cluster(redis: RedisServer, channels: string[], prefix: string): Promise<Record<string, EdgeHandle>> {
  const eu = await startEdge(edgeYaml('eu', redis.url, channels, []), {}, `${prefix}-eu`);
  const euPeer = String(eu.proc.logs().find((l) => l.msg === 'ready')!.listeners.peer);
  // With gRPC the other edges are seeded with eu; with Redis alone they find each other there.
  const seeds = channels.includes('grpc') ? [euPeer] : [];
  const [us, jp] = await Promise.all(['us', 'jp'].map((r) => startEdge(edgeYaml(r, redis.url, channels, seeds), {}, `${prefix}-${r}`)));
  return { eu, us, jp };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function convergence(edges: Record<string, EdgeHandle>, upPort: number, label: string, trials = 20): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < trials; i++) {
    const name = `${label}${i}`;
    const { proc } = await startAgent(`agent-${name}`, { upstreamPort: upPort, url: `https://${name}.internal`, edge: edges.jp, authtoken: 'tok_acme' });
    const t0 = performance.now();
    await eventually(`${name} through eu`, async () => (await send(edges.eu.http, 'svc.example.com', '/get', { headers: { 'x-svc': name } })).status === 200, 5_000, 2);
    times.push(performance.now() - t0);
    await proc.stop();
  }
  console.log(`      convergence jp -> eu over ${label}: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms (n=${trials})`);
  assert.ok(percentile(times, 99) < 1_000);
}

describe('multi-PoP presence over Redis (real redis-server)', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  let upPort: number;

  before(async () => {
    redis = await startRedisServer();
    upPort = (await startUpstream('svc')).port;
  });
  after(async () => {
    await stopAll();
    await redis.stop();
  });

  describe('Redis alone (no gRPC mesh, no peers list)', () => {
    let edges: Record<string, EdgeHandle>;
    before(async () => {
      edges = await cluster(redis, ['redis'], 'r');
    });
    after(async () => Promise.all(Object.values(edges).map((e) => e.proc.stop())));

    it('discovers the other edges and converges through Redis', async () => {
      await convergence(edges, upPort, 'redis');
    });
  });

  describe('both channels', () => {
    let edges: Record<string, EdgeHandle>;
    before(async () => {
      edges = await cluster(redis, ['grpc', 'redis'], 'b');
    });
    after(async () => Promise.all(Object.values(edges).map((e) => e.proc.stop())));

    it('converges with both channels delivering the same changes', async () => {
      await convergence(edges, upPort, 'both');
    });

    it('keeps presence flowing over gRPC when Redis dies', async () => {
      await redis.kill();
      await startAgent('after-redis', { upstreamPort: upPort, url: 'https://noredis.internal', edge: edges.jp, authtoken: 'tok_acme' });
      await eventually('noredis.internal through eu', async () => (await send(edges.eu.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'noredis' } })).status === 200, 3_000, 10);
      for (const region of ['eu', 'jp']) {
        assert.ok(!edges[region].proc.logs().some((l) => String(l.msg).startsWith('peer declared dead')), `${region} declared a peer dead while Redis was down`);
      }
      await redis.start();
    });
  });
});
