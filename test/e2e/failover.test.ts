/**
 * Failover in a pool of two under continuous load: SIGKILL one agent; every request that
 * starts after the kill is observed succeeds (served by the survivor); only requests in flight
 * on the dead agent may fail.
 */
import assert from 'node:assert/strict';
import { send, startAgent, startEdge, startUpstream, type EdgeHandle, forwardingEdgeYaml } from '../helpers/gateway.js';
import { stopAll, type Proc } from '../helpers/procs.js';

const EDGE = forwardingEdgeYaml('https://foo.internal');

describe('failover when a pool member dies', function () {
  this.timeout(60_000);
  let edge: EdgeHandle;
  let victim: Proc;

  before(async () => {
    edge = await startEdge(EDGE);
    const [a, b] = await Promise.all([startUpstream('foo-1'), startUpstream('foo-2')]);
    victim = (await startAgent('agent-1', { upstreamPort: a.port, url: 'https://foo.internal', edge, authtoken: 'tok_acme', pooling: true })).proc;
    await startAgent('agent-2', { upstreamPort: b.port, url: 'https://foo.internal', edge, authtoken: 'tok_acme', pooling: true });
  });
  after(stopAll);

  it('loses no request that starts after SIGKILL of one agent is observed', async () => {
    let killedAt = Infinity;
    const results: Array<{ start: number; ok: boolean; replica?: string; code?: string }> = [];
    const deadline = Date.now() + 4_000;
    const worker = async () => {
      while (Date.now() < deadline) {
        const start = performance.now();
        try {
          const r = await send(edge.http, 'api.example.com', '/get');
          results.push({ start, ok: r.status === 200, replica: r.status === 200 ? r.json().replica : undefined, code: r.headers['meshgate-error-code'] as string });
        } catch {
          results.push({ start, ok: false });
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await new Promise((r) => setTimeout(r, 1_000));
    victim.kill('SIGKILL');
    await victim.exited;
    killedAt = performance.now();
    await load;

    const before = results.filter((r) => r.start < killedAt);
    const after = results.filter((r) => r.start >= killedAt);
    assert.ok(before.some((r) => r.replica === 'foo-1'), 'the victim served traffic before the kill');
    assert.ok(after.length > 100, `enough requests after the kill (${after.length})`);
    const failedAfter = after.filter((r) => !r.ok);
    assert.deepEqual(failedAfter, [], 'no request started after the kill failed');
    assert.ok(after.every((r) => r.replica === 'foo-2'), 'only the survivor serves after the kill');
  });
});
