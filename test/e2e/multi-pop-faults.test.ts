/**
 * Presence under faults and how fast it converges (gRPC mesh, `local` profile: heartbeat 250 ms,
 * suspect after 1 s, endpoints removed after 3 s of silence).
 */
import assert from 'node:assert/strict';
import { PROFILES } from '../../services/presence/profiles.js';
import { eventually, send, startAgent, startCluster, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';
import { measureConvergence } from '../helpers/convergence.js';

const ROUTE_BY_HEADER = `
  - account: acme
    url: http://svc.example.com
    traffic_policy: |
      on_http_request:
        - actions: [{type: forward-internal, config: {url: "https://\${req.headers['x-svc'][0]}.internal"}}]
`;

describe('multi-PoP presence: convergence and faults (gRPC mesh)', function () {
  this.timeout(120_000);
  let edges: Record<string, EdgeHandle & { peer: string }>;
  let upPort: number;

  before(async () => {
    edges = await startCluster(['eu', 'us', 'jp'], ROUTE_BY_HEADER);
    upPort = (await startUpstream('svc')).port;
  });
  after(stopAll);

  it('converges: registration on jp to first success through eu, 20 trials (p50/p99 reported)', async () => {
    await measureConvergence(edges.jp, edges.eu, upPort, 'grpc');
  });

  it('does not flap when an edge is paused (SIGSTOP) for less than the removal timeout', async () => {
    const { proc } = await startAgent('held-by-us', { upstreamPort: upPort, url: 'https://paused.internal', edge: edges.us, authtoken: 'tok_acme' });
    await eventually('jp sees paused.internal', async () => (await send(edges.jp.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'paused' } })).status === 200);
    const pauseMs = (PROFILES.local.suspectAfterMs + PROFILES.local.deadAfterMs) / 2;
    edges.us.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, pauseMs));
    edges.us.proc.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 4 * PROFILES.local.heartbeatMs));
    for (const region of ['eu', 'jp']) {
      const logs = edges[region].proc.logs();
      assert.ok(!logs.some((l) => l.msg.startsWith('peer declared dead') && l.peer === 'us-1'), `${region} declared us-1 dead after a ${pauseMs} ms pause`);
    }
    assert.ok(!edges.us.proc.logs().some((l) => l.msg.startsWith('peer declared dead')), 'the paused edge judged nobody dead on resuming');
    assert.equal((await send(edges.jp.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'paused' } })).status, 200);
    await proc.stop();
  });

  it('removes the endpoints of a SIGKILLed edge within the documented timeout, then routes nothing to it', async () => {
    await startAgent('doomed-agent', { upstreamPort: upPort, url: 'https://doomed.internal', edge: edges.us, authtoken: 'tok_acme' });
    await eventually('jp sees doomed.internal', async () => (await send(edges.jp.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'doomed' } })).status === 200);
    edges.us.proc.kill('SIGKILL');
    await edges.us.proc.exited;
    const killedAt = performance.now();
    const removedIn = await eventually(
      'jp and eu forget us-1',
      async () => ['jp', 'eu'].every((r) => edges[r].proc.logs().some((l) => l.msg.startsWith('peer declared dead') && l.peer === 'us-1')),
      PROFILES.local.deadAfterMs + 2_000,
      20,
    );
    console.log(`      us-1 SIGKILLed: its endpoints removed on eu and jp after ${(performance.now() - killedAt).toFixed(0)} ms (deadAfter ${PROFILES.local.deadAfterMs} ms)`);
    assert.ok(removedIn <= PROFILES.local.deadAfterMs + 2_000);
    const r = await send(edges.jp.http, 'svc.example.com', '/get', { headers: { 'x-svc': 'doomed' } });
    assert.equal(r.status, 502);
    assert.equal(r.headers['meshgate-error-code'], 'MG_FORWARD_TARGET_OFFLINE', 'no request is routed to the dead edge any more');
  });
});
