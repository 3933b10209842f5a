/**
 * `meshgate cluster up` (what `make demo` runs): the whole demo comes up from one command,
 * serves the tutorial's routes, and Ctrl-C stops every process it started.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { send } from '../helpers/gateway.js';
import { meshgate, meshgateRun, stopAll, type Proc } from '../helpers/procs.js';

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('meshgate cluster up (make demo)', function () {
  this.timeout(60_000);
  let cluster: Proc;
  let http: string;
  let byRegion: Record<string, string>;
  after(stopAll);

  it('starts the eu/us/jp demo in under 15 s and prints the table and curl lines', async () => {
    cluster = meshgate('cluster', ['cluster', 'up', '--http-port', '0', '--https-port', '0', '--tunnel-port', '0', '--peer-port', '0']);
    const ready = await cluster.ready(40_000);
    http = ready.listeners.http;
    byRegion = Object.fromEntries(ready.edges.map((e: { region: string; listeners: { http: string } }) => [e.region, e.listeners.http]));
    assert.deepEqual(Object.keys(byRegion), ['eu', 'us', 'jp']);
    assert.ok(ready.seconds < 15, `took ${ready.seconds} s`);
    const out = cluster.stdout.join('\n');
    assert.match(out, /meshgate local cluster is up \(3 edge nodes/);
    assert.match(out, new RegExp(`curl -H 'Host: api.example.com' http://${http.replace(/\./g, '\\.')}/foo/get`));
    assert.equal(childrenOf(cluster.pid).length, 9, '3 edges, 3 upstreams, 3 agents');
  });

  it('serves the tutorial routes from every region, locality first', async () => {
    const seen = async (addr: string) => {
      const s = new Set<string>();
      for (let i = 0; i < 30; i++) s.add((await send(addr, 'api.example.com', '/foo/get')).json().replica);
      return [...s].sort();
    };
    assert.deepEqual(await seen(byRegion.eu), ['foo-1']);
    assert.deepEqual(await seen(byRegion.us), ['foo-2']);
    // jp has no member: it uses the nearest other region by measured RTT (either one here).
    const jp = await seen(byRegion.jp);
    assert.ok(jp.length >= 1 && jp.every((r) => r === 'foo-1' || r === 'foo-2'), `jp served by ${jp}`);
    assert.equal((await send(byRegion.jp, 'api.example.com', '/bar/get')).json().replica, 'bar-1');
    assert.equal((await send(http, 'api.example.com', '/bar/get')).json().replica, 'bar-1');
    assert.equal((await send(http, 'api.example.com', '/nope')).status, 403);
    assert.equal((await send(http, 'headers.example.com', '/get', { headers: { 'x-api': 'bar' } })).json().replica, 'bar-1');
  });

  it('stops every process on Ctrl-C', async () => {
    const kids = childrenOf(cluster.pid);
    cluster.kill('SIGINT');
    const code = await Promise.race([cluster.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    assert.equal(code, 0);
    const alive = kids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(alive, []);
  });
});

describe('meshgate cluster up --redis', function () {
  this.timeout(60_000);
  after(stopAll);

  it('brings the cluster up with the Redis channel and refuses a bad --redis URL', async () => {
    const { startRedisServer } = await import('../helpers/redis-server.js');
    const redis = await startRedisServer();
    try {
      const c = meshgate('cluster-redis', ['cluster', 'up', '--http-port', '0', '--https-port', '0', '--tunnel-port', '0', '--peer-port', '0', '--redis', redis.url]);
      const ready = await c.ready(40_000);
      assert.match(c.stdout.join('\n'), /presence over gRPC \+ Redis/);
      const jp = ready.edges.find((e: { region: string }) => e.region === 'jp').listeners.http;
      assert.equal((await send(jp, 'api.example.com', '/bar/get')).json().replica, 'bar-1');
      c.kill('SIGINT');
      assert.equal(await c.exited, 0);
    } finally {
      await redis.stop();
    }
    const bad = await meshgateRun(['cluster', 'up', '--redis', 'localhost:6379']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--redis.*not a redis:\/\/ URL/);
  });
});
