/**
 * The agent keeps its endpoints online across edge restarts: when the tunnel drops it
 * reconnects with backoff and registers again.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { send, startAgent, startUpstream, type EdgeHandle } from '../helpers/gateway.js';
import { meshgate, stopAll, tempFiles, type Proc } from '../helpers/procs.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('agent reconnects when its edge comes back', function () {
  this.timeout(60_000);
  after(stopAll);

  it('serves again after the edge is killed and restarted on the same address', async () => {
    const [httpPort, tunnelPort] = [await freePort(), await freePort()];
    const dir = tempFiles({
      'edge.yaml': `region: eu\nlisten: {http: "127.0.0.1:${httpPort}", tunnel: "127.0.0.1:${tunnelPort}"}\naccounts: [{name: acme, authtokens: [tok_acme]}]\n`,
    });
    const startEdgeProc = async (): Promise<{ proc: Proc; handle: EdgeHandle }> => {
      const proc = meshgate('edge', ['edge', '--config', join(dir, 'edge.yaml')]);
      const ready = await proc.ready();
      return { proc, handle: { proc, http: ready.listeners.http, tunnel: ready.listeners.tunnel, dir } };
    };
    let edge = await startEdgeProc();
    const up = await startUpstream('svc-1');
    const { proc: agent } = await startAgent('agent', { upstreamPort: up.port, url: 'http://svc.acme.test', edge: edge.handle, authtoken: 'tok_acme' });
    assert.equal((await send(edge.handle.http, 'svc.acme.test', '/get')).status, 200);

    edge.proc.kill('SIGKILL');
    await edge.proc.exited;
    await agent.waitLine((l) => l.includes('tunnel lost, reconnecting'), 10_000, 'reconnect notice');
    edge = await startEdgeProc();
    await agent.waitLine((l) => l.includes('"msg":"reconnected"'), 20_000, 'reconnected line');
    const r = await send(edge.handle.http, 'svc.acme.test', '/get');
    assert.equal(r.status, 200);
    assert.equal(r.json().replica, 'svc-1');
  });
});
