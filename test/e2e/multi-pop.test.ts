/**
 * Three edge nodes (eu, us, jp) as separate processes joined by the gRPC presence mesh: an
 * agent connected anywhere is reachable from every edge, locality first, relayed between
 * edges, with failover when the local member dies, and peers that refuse outsiders.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { PeerServiceClient, type PeerMessage } from '../../services/gen/peer.js';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { CLUSTER_SECRET, eventually, send, startAgent, startCluster, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { wsConnect } from '../helpers/ws-client.js';
import { meshgate, meshgateRun, stopAll, type Proc } from '../helpers/procs.js';

describe('multi-PoP cluster over the gRPC mesh', function () {
  this.timeout(90_000);
  let edges: Record<string, EdgeHandle & { peer: string }>;
  let fooEu: Proc;

  before(async () => {
    edges = await startCluster(['eu', 'us', 'jp'], `
  - account: acme
    url: http://region.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: custom-response, config: {body: "\${conn.server_region}"}}]
`);
    const [eu, us] = await Promise.all([startUpstream('foo-eu'), startUpstream('foo-us')]);
    fooEu = (await startAgent('agent-foo-eu', { upstreamPort: eu.port, url: 'https://foo.internal', edge: edges.eu, authtoken: 'tok_acme', pooling: true })).proc;
    await startAgent('agent-foo-us', { upstreamPort: us.port, url: 'https://foo.internal', edge: edges.us, authtoken: 'tok_acme', pooling: true });
    // Converged when each edge with a member answers from it and jp answers at all.
    await eventually('presence converged', async () => {
      const [e, u, j] = await Promise.all(['eu', 'us', 'jp'].map((r) => send(edges[r].http, 'api.example.com', '/get')));
      return e.status === 200 && e.json().replica === 'foo-eu' && u.status === 200 && u.json().replica === 'foo-us' && j.status === 200;
    }, 15_000, 20);
  });
  after(stopAll);

  const replicas = async (region: string, n: number) => {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await send(edges[region].http, 'api.example.com', '/get');
      assert.equal(r.status, 200, `${region}: ${r.text}`);
      const k = r.json().replica as string;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    return seen;
  };

  it('serves requests entering eu only from the eu member, and us only from the us member', async () => {
    assert.deepEqual([...(await replicas('eu', 40)).keys()], ['foo-eu']);
    assert.deepEqual([...(await replicas('us', 40)).keys()], ['foo-us']);
  });

  it('serves requests entering jp (no local member) from the other regions, relayed, 100% success', async () => {
    const seen = await replicas('jp', 40);
    assert.ok([...seen.keys()].every((k) => k === 'foo-eu' || k === 'foo-us'));
  });

  it('shows the receiving region to the policy as conn.server_region', async () => {
    for (const region of ['eu', 'us', 'jp']) assert.equal((await send(edges[region].http, 'region.example.com', '/')).text, region);
    // A relayed request keeps the original host and forwarding headers through two edges.
    const r = await send(edges.jp.http, 'api.example.com', '/headers');
    assert.equal(r.json().headers['x-forwarded-host'], 'api.example.com');
    assert.equal(r.json().headers['x-forwarded-for'], '127.0.0.1');
  });

  it('streams bodies and WebSockets through the relay (entering jp, agent on another edge)', async () => {
    const body = Buffer.alloc(20 * 1024 * 1024, 'relay');
    const r = await send(edges.jp.http, 'api.example.com', '/post', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 200);
    assert.equal(r.json().body.size, body.length);
    assert.equal(r.json().body.sha256, createHash('sha256').update(body).digest('hex'));
    const ws = await wsConnect(edges.jp.http, 'api.example.com', '/ws');
    assert.equal(ws.status, 101);
    ws.send('through two edges');
    assert.equal(await ws.next(), 'through two edges');
    ws.close();
  });

  it('refuses malformed presence from an authenticated peer, logs it and keeps serving', async () => {
    const client = new PeerServiceClient(edges.us.peer, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${CLUSTER_SECRET}`);
    md.set('meshgate-node', 'liar-1');
    const call = client.presence(md);
    call.on('error', () => {});
    call.on('data', () => {});
    const forged = { nodeId: 'eu-1', region: 'eu', peerAddr: '', relayAddr: '127.0.0.1:1', incarnation: Date.now() };
    call.write({ msg: { $case: 'snapshot', value: { origin: forged, seq: 99, endpoints: [] } } } as PeerMessage);
    call.write({ msg: undefined } as PeerMessage);
    await edges.us.proc.waitLine((l) => l.includes('peer message refused') && l.includes('is not the caller'), 5_000);
    await edges.us.proc.waitLine((l) => l.includes('peer message refused') && l.includes('empty message'), 5_000);
    call.end();
    client.close();
    // Bytes that are not a PeerMessage at all, on an authenticated stream.
    const Raw = grpc.makeGenericClientConstructor(
      { presence: { path: '/meshgate.peer.v1.PeerService/Presence', requestStream: true, responseStream: true, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } },
      'RawPeer',
    );
    const raw = new Raw(edges.us.peer, grpc.credentials.createInsecure()) as unknown as { presence(md: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer>; close(): void };
    const rawCall = raw.presence(md);
    const rawEnded = new Promise<void>((resolve) => {
      rawCall.on('error', () => resolve());
      rawCall.on('end', () => resolve());
      rawCall.on('data', () => {});
    });
    rawCall.write(Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
    await edges.us.proc.waitLine((l) => l.includes('peer message refused: undecodable'), 5_000);
    rawCall.end();
    await Promise.race([rawEnded, new Promise((r) => setTimeout(r, 3_000))]);
    raw.close();
    // The forged snapshot (claiming eu-1 has no endpoints) changed nothing.
    assert.deepEqual([...(await replicas('us', 5)).keys()], ['foo-us']);
    assert.equal((await send(edges.jp.http, 'api.example.com', '/get')).status, 200);
  });

  it('refuses peers without the cluster secret and keeps serving', async () => {
    const client = new PeerServiceClient(edges.eu.peer, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer wrong-secret-wrong-secret');
    md.set('meshgate-node', 'intruder');
    const call = client.presence(md);
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => {});
      call.write({ msg: { $case: 'snapshot', value: { origin: { nodeId: 'intruder', region: 'xx', peerAddr: '', relayAddr: '', incarnation: 1 }, seq: 1, endpoints: [] } } } as PeerMessage);
    });
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    client.close();
    await edges.eu.proc.waitLine((l) => l.includes('peer refused: bad or missing cluster secret'), 5_000);
    assert.deepEqual([...(await replicas('eu', 5)).keys()], ['foo-eu']);
  });

  it('refuses relay streams without the cluster secret', async () => {
    const relay = String(edges.eu.proc.logs().find((l) => l.msg === 'ready')!.listeners.relay);
    const session = http2.connect(`http://${relay}`);
    try {
      const { status, code } = await new Promise<{ status: number; code: string }>((resolve, reject) => {
        const req = session.request({ ':path': '/get', ':authority': 'api.example.com', 'meshgate-endpoint-id': 'ep_any', 'meshgate-cluster-secret': 'guess' });
        req.on('response', (h) => resolve({ status: Number(h[':status']), code: String(h['meshgate-error-code']) }));
        req.on('error', reject);
        req.resume();
      });
      assert.equal(status, 403);
      assert.equal(code, 'MG_AGENT_UNREACHABLE');
    } finally {
      session.close();
    }
    await edges.eu.proc.waitLine((l) => l.includes('relay stream refused: bad or missing cluster secret'), 5_000);
  });

  it('refuses a pool conflict across regions with the same error as on one edge', async () => {
    const up = await startUpstream('solo');
    await startAgent('solo-eu', { upstreamPort: up.port, url: 'https://solo.internal', edge: edges.eu, authtoken: 'tok_acme' });
    await eventually('jp knows solo.internal', async () => edges.jp.proc.logs().length > 0 && (await meshgateRun(['agent', 'http', String(up.port), '--url', 'https://solo.internal', '--edge', edges.jp.tunnel, '--authtoken', 'tok_acme'])).stderr.includes('MG_POOL_CONFLICT'), 5_000, 100);
    const r = await meshgateRun(['agent', 'http', String(up.port), '--url', 'https://solo.internal', '--edge', edges.us.tunnel, '--authtoken', 'tok_acme', '--pooling-enabled']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already online does not have pooling enabled.*MG_POOL_CONFLICT/s);
  });

  it('resolves a registration race between two regions the same way on every edge', async () => {
    const [a, b] = await Promise.all([startUpstream('race-a'), startUpstream('race-b')]);
    // Both start at once: each edge may accept its own before hearing of the other.
    const agents = [
      meshgate('race-eu', ['agent', 'http', String(a.port), '--url', 'http://race.acme.test', '--edge', edges.eu.tunnel, '--authtoken', 'tok_acme']),
      meshgate('race-jp', ['agent', 'http', String(b.port), '--url', 'http://race.acme.test', '--edge', edges.jp.tunnel, '--authtoken', 'tok_acme']),
    ];
    // Settled when every edge answers from the same single replica.
    let winner = '';
    await eventually('all edges agree on one winner', async () => {
      const seen = new Set<string>();
      for (const region of ['eu', 'us', 'jp']) {
        for (let i = 0; i < 4; i++) {
          const r = await send(edges[region].http, 'race.acme.test', '/get');
          if (r.status !== 200) return false;
          seen.add(r.json().replica);
        }
      }
      winner = [...seen][0];
      return seen.size === 1;
    }, 10_000, 100);
    const loser = agents[winner === 'race-a' ? 1 : 0];
    await eventually('the loser was refused or revoked', async () => loser.exitCode === 1 || loser.stderr.some((l) => l.includes('endpoint taken offline by the edge')), 5_000);
    assert.match(loser.stderr.join('\n'), /MG_POOL_CONFLICT/);
  });

  it('fails over to the us member when the eu agent dies: no request after the withdrawal fails', async () => {
    const results: Array<{ start: number; ok: boolean; replica?: string }> = [];
    const deadline = Date.now() + 3_000;
    const worker = async () => {
      while (Date.now() < deadline) {
        const start = performance.now();
        try {
          const r = await send(edges.eu.http, 'api.example.com', '/get');
          results.push({ start, ok: r.status === 200, replica: r.status === 200 ? r.json().replica : undefined });
        } catch {
          results.push({ start, ok: false });
        }
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, worker));
    await new Promise((r) => setTimeout(r, 700));
    fooEu.kill('SIGKILL');
    await edges.eu.proc.waitLine((l) => l.includes('agent disconnected'), 5_000);
    const withdrawnAt = performance.now();
    await load;
    const after = results.filter((r) => r.start >= withdrawnAt);
    assert.ok(after.length > 50, `requests after the withdrawal: ${after.length}`);
    assert.deepEqual(after.filter((r) => !r.ok), []);
    assert.ok(after.every((r) => r.replica === 'foo-us'));
  });
});
