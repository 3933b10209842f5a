/**
 * The admin store in Redis (real redis-server): a change made on one edge serves on the others
 * within 1 s; with Redis down the edges keep serving their last known config and refuse writes
 * (nothing changes); when Redis comes back empty the edges reconcile it from what they hold; a
 * restart of every edge reloads everything from Redis.
 */
import assert from 'node:assert/strict';
import { eventually, send } from '../helpers/gateway.js';
import { stopAll } from '../helpers/procs.js';
import { dynamicAdmin, grpc, refusal, type DynamicAdmin } from '../helpers/admin-dynamic.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { ACME_KEY, customPolicy, startAdminCluster, type AdminEdge } from '../helpers/admin-cluster.js';

describe('admin store in Redis (real redis-server, three edges)', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  let edges: Record<string, AdminEdge>;
  let acme: Record<string, DynamicAdmin>;

  const connect = () => {
    for (const c of Object.values(acme ?? {})) c.close();
    acme = Object.fromEntries(Object.entries(edges).map(([r, e]) => [r, dynamicAdmin(e.admin, ACME_KEY)]));
  };
  const serveAll = async (host: string, body: string) =>
    (await Promise.all(Object.values(edges).map((e) => send(e.http, host)))).every((r) => r.text === body);

  before(async () => {
    redis = await startRedisServer();
    const store = { redis: redis.url };
    edges = await startAdminCluster({ eu: store, us: store, jp: store });
    connect();
  });
  after(async () => {
    for (const c of Object.values(acme ?? {})) c.close();
    await stopAll();
    await redis?.stop();
  });

  it('serves an endpoint created on eu from us and jp within 1 s', async () => {
    assert.equal((await acme.eu.server('GetServerInfo')).store, 'redis');
    const t0 = performance.now();
    await acme.eu.endpoints('CreateEndpoint', { url: 'http://red.apps.example.com', traffic_policy: customPolicy('from redis') });
    await eventually('us and jp serve it', async () => (await send(edges.us.http, 'red.apps.example.com')).text === 'from redis' && (await send(edges.jp.http, 'red.apps.example.com')).text === 'from redis', 5_000, 10);
    const ms = performance.now() - t0;
    assert.ok(ms < 1_000, `served everywhere after ${ms.toFixed(0)} ms`);
  });

  it('keeps serving while Redis is down, refuses writes, and reconciles Redis when it returns empty', async () => {
    await redis.kill();
    assert.ok(await serveAll('red.apps.example.com', 'from redis'), 'every edge serves its last known config');
    const before = (await acme.us.endpoints('ListEndpoints', {})).endpoints.length;
    const r = await refusal(acme.us.endpoints('CreateEndpoint', { url: 'http://down.apps.example.com', traffic_policy: customPolicy('x') }));
    assert.equal(r.code, grpc.status.UNAVAILABLE);
    assert.equal(r.mg, 'MG_STORE_UNAVAILABLE');
    assert.equal((await acme.us.endpoints('ListEndpoints', {})).endpoints.length, before, 'the refused write changed nothing');
    assert.equal((await send(edges.us.http, 'down.apps.example.com')).status, 404);

    await redis.start(); // a fresh, empty redis-server on the same port
    await eventually('writes work again', async () => {
      await acme.jp.endpoints('CreateEndpoint', { url: 'http://back.apps.example.com', traffic_policy: customPolicy('back') });
      return true;
    }, 15_000, 250);
    await eventually('every edge serves the new endpoint', () => serveAll('back.apps.example.com', 'back'), 3_000);
    assert.ok(await serveAll('red.apps.example.com', 'from redis'));
  });

  it('reloads everything from Redis after every edge restarts', async () => {
    const ids = (await acme.eu.endpoints('ListEndpoints', { filter: "obj.type == 'cloud'" })).endpoints.map((e: any) => e.id).sort();
    assert.ok(ids.length >= 2);
    for (const c of Object.values(acme)) c.close();
    await Promise.all(Object.values(edges).map((e) => e.proc.stop()));
    const store = { redis: redis.url };
    edges = await startAdminCluster({ eu: store, us: store, jp: store });
    connect();
    for (const r of ['eu', 'us', 'jp']) {
      assert.deepEqual((await acme[r].endpoints('ListEndpoints', { filter: "obj.type == 'cloud'" })).endpoints.map((e: any) => e.id).sort(), ids, `${r} reloaded every endpoint`);
    }
    assert.ok(await serveAll('back.apps.example.com', 'back'));
    assert.ok(await serveAll('red.apps.example.com', 'from redis'));
  });
});
