/**
 * Presence over Redis pub/sub with a real redis-server: discovery and convergence with Redis
 * alone (no gRPC mesh, no peers list), both channels together, and the gRPC mesh carrying
 * presence on its own when Redis dies.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { clusterEdgeYaml, eventually, send, startAgent, startEdge, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';
import { measureConvergence } from '../helpers/convergence.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const SVC_ENDPOINT = `
  - account: acme
    url: http://svc.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://\${req.headers['x-svc'][0]}.internal"}}]`;

function edgeYaml(region: string, redis: string, channels: string[], peers: string[], advertisePeer?: string): string {
  return clusterEdgeYaml(region, peers, '', { redis, channels, advertisePeer, endpoints: SVC_ENDPOINT });
}

/** Three edges with no `peers` list: they find each other through Redis (and dial the mesh from there). */
async function cluster(redis: RedisServer, channels: string[], prefix: string): Promise<Record<string, EdgeHandle>> {
  const [eu, us, jp] = await Promise.all(['eu', 'us', 'jp'].map((r) => startEdge(edgeYaml(r, redis.url, channels, []), {}, `${prefix}-${r}`)));
  return { eu, us, jp };
}

/** A TCP forwarder the test can cut: stands in front of an edge's gRPC peer listener. */
class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private target = 0;
  readonly server = net.createServer((c) => {
    const up = net.connect(this.target, '127.0.0.1');
    for (const s of [c, up]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.sockets.delete(s));
    }
    c.pipe(up).pipe(c);
  });
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }
  pointTo(addr: string): void {
    this.target = Number(addr.split(':').pop());
  }
  cut(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
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
      await measureConvergence(edges.jp, edges.eu, upPort, 'redis');
    });
  });

  describe('both channels', () => {
    let edges: Record<string, EdgeHandle>;
    before(async () => {
      edges = await cluster(redis, ['grpc', 'redis'], 'b');
    });
    after(async () => Promise.all(Object.values(edges).map((e) => e.proc.stop())));

    it('converges with both channels delivering the same changes', async () => {
      await measureConvergence(edges.jp, edges.eu, upPort, 'both');
    });

    it('keeps presence flowing over gRPC when Redis dies (the mesh formed through Redis discovery)', async () => {
      await redis.kill();
      await startAgent('after-redis', { upstreamPort: upPort, url: 'https://noredis.internal', edge: edges.jp, authtoken: 'tok_acme' });
      await eventually('noredis.internal through eu', async () => (await send(edges.eu.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'noredis' } })).status === 200, 3_000, 10);
      for (const region of ['eu', 'jp']) {
        assert.ok(!edges[region].proc.logs().some((l) => String(l.msg).startsWith('peer declared dead')), `${region} declared a peer dead while Redis was down`);
      }
      await redis.start();
    });
  });

  describe('gRPC mesh cut while Redis is up', () => {
    let edges: Record<string, EdgeHandle>;
    const proxies: Record<string, CuttableProxy> = {};
    before(async () => {
      if (!redis.running) await redis.start();
      const addrs: Record<string, string> = {};
      for (const r of ['eu', 'us', 'jp']) {
        proxies[r] = new CuttableProxy();
        addrs[r] = await proxies[r].listen();
      }
      edges = {};
      for (const r of ['eu', 'us', 'jp']) {
        const seeds = r === 'eu' ? [] : [addrs.eu];
        edges[r] = await startEdge(edgeYaml(r, redis.url, ['grpc', 'redis'], seeds, addrs[r]), {}, `cut-${r}`);
        proxies[r].pointTo(String(edges[r].proc.logs().find((l) => l.msg === 'ready')!.listeners.peer));
      }
      await startAgent('pre-cut', { upstreamPort: upPort, url: 'https://precut.internal', edge: edges.jp, authtoken: 'tok_acme' });
      await eventually('precut through eu', async () => (await send(edges.eu.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'precut' } })).status === 200, 5_000, 10);
    });
    after(async () => Promise.all(Object.values(edges).map((e) => e.proc.stop())));

    it('keeps presence flowing over Redis and declares no peer dead', async () => {
      for (const p of Object.values(proxies)) p.cut();
      await new Promise((r) => setTimeout(r, 1_500));
      await startAgent('post-cut', { upstreamPort: upPort, url: 'https://postcut.internal', edge: edges.jp, authtoken: 'tok_acme' });
      await eventually('postcut through eu', async () => (await send(edges.eu.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'postcut' } })).status === 200, 3_000, 10);
      await new Promise((r) => setTimeout(r, 3_500)); // longer than deadAfter (3 s)
      assert.equal((await send(edges.eu.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'precut' } })).status, 200);
      for (const r of ['eu', 'us', 'jp']) {
        assert.ok(!edges[r].proc.logs().some((l) => String(l.msg).startsWith('peer declared dead')), `${r} declared a peer dead with Redis still up`);
      }
    });
  });
});
