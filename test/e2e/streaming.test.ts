/**
 * Bodies stream through edge and agent: a 50 MB upload and a 50 MB download with bounded
 * memory (RSS of the edge and the agent sampled during the transfer), and WebSockets pass
 * through end to end.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { request } from 'undici';
import { wsConnect } from '../helpers/ws-client.js';
import { client, startAgent, startEdge, startUpstream, type EdgeHandle, forwardingEdgeYaml } from '../helpers/gateway.js';
import { rssKiB, stopAll, type Proc } from '../helpers/procs.js';

const EDGE = forwardingEdgeYaml('https://big.internal');
const MiB = 1024 * 1024;
/**
 * Most RSS growth (MiB) allowed in edge or agent while a body crosses them. Streaming keeps
 * growth near the HTTP/2 windows plus uncollected garbage (~20-50 MiB here) whatever the body
 * size; the 200 MiB transfers prove it: buffering them would need more than 200 MiB.
 */
const RSS_GROWTH_LIMIT_MIB = 80;
const SIZES = [50 * MiB, 200 * MiB];

function sampler(procs: Proc[]) {
  const base = procs.map((p) => rssKiB(p.pid));
  const peak = [...base];
  const t = setInterval(() => procs.forEach((p, i) => (peak[i] = Math.max(peak[i], rssKiB(p.pid)))), 20);
  return () => {
    clearInterval(t);
    return procs.map((p, i) => ({ name: p.name, baseMiB: base[i] / 1024, growthMiB: (peak[i] - base[i]) / 1024 }));
  };
}

function pattern(total: number): Readable {
  const chunk = Buffer.alloc(256 * 1024, 'abcdefghij');
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

describe('streaming bodies and upgrades through edge and agent', function () {
  this.timeout(120_000);
  let edge: EdgeHandle;
  let agent: Proc;

  before(async () => {
    edge = await startEdge(EDGE);
    const up = await startUpstream('big-1');
    agent = (await startAgent('agent-big', { upstreamPort: up.port, url: 'https://big.internal', edge, authtoken: 'tok_acme' })).proc;
  });
  after(stopAll);

  for (const SIZE of SIZES) it(`streams a ${SIZE / MiB} MiB upload with bounded memory and an intact body`, async () => {
    const expected = createHash('sha256');
    const src = pattern(SIZE).pipe(
      new Transform({
        transform(c: Buffer, _e, cb) {
          expected.update(c);
          cb(null, c);
        },
      }),
    );
    const stop = sampler([edge.proc, agent]);
    const res = await request(`http://${edge.http}/post`, { method: 'POST', headers: { host: 'api.example.com', 'content-type': 'application/octet-stream' }, body: src, dispatcher: client });
    const body = (await res.body.json()) as { body: { size: number; sha256: string } };
    const mem = stop();
    assert.equal(res.statusCode, 200);
    assert.equal(body.body.size, SIZE);
    assert.equal(body.body.sha256, expected.digest('hex'));
    console.log(`      ${SIZE / MiB} MiB upload, RSS growth:`, mem.map((m) => `${m.name} ${m.growthMiB.toFixed(1)} MiB (base ${m.baseMiB.toFixed(0)})`).join(', '));
    for (const m of mem) assert.ok(m.growthMiB < RSS_GROWTH_LIMIT_MIB, `${m.name} grew ${m.growthMiB.toFixed(1)} MiB`);
  });

  for (const SIZE of SIZES) it(`streams a ${SIZE / MiB} MiB download with bounded memory`, async () => {
    const stop = sampler([edge.proc, agent]);
    const res = await request(`http://${edge.http}/bytes/${SIZE}`, { headers: { host: 'api.example.com' }, dispatcher: client });
    let n = 0;
    for await (const c of res.body) n += (c as Buffer).length;
    const mem = stop();
    assert.equal(res.statusCode, 200);
    assert.equal(n, SIZE);
    console.log(`      ${SIZE / MiB} MiB download, RSS growth:`, mem.map((m) => `${m.name} ${m.growthMiB.toFixed(1)} MiB`).join(', '));
    for (const m of mem) assert.ok(m.growthMiB < RSS_GROWTH_LIMIT_MIB, `${m.name} grew ${m.growthMiB.toFixed(1)} MiB`);
  });

  it('passes WebSocket upgrades through and echoes messages both ways', async () => {
    const ws = await wsConnect(edge.http, 'api.example.com', '/ws');
    assert.equal(ws.status, 101, ws.headers);
    assert.match(ws.headers, /x-replica: big-1/i);
    ws.send('hello');
    assert.equal(await ws.next(), 'hello');
    const big = 'x'.repeat(100_000);
    ws.send(big);
    assert.equal((await ws.next()).length, big.length);
    ws.close();
  });

  it('answers a refused upgrade with the upstream status', async () => {
    const ws = await wsConnect(edge.http, 'api.example.com', '/not-ws');
    assert.equal(ws.status, 400);
    ws.close();
  });
});
