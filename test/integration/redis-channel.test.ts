/**
 * The Redis presence channel against a real redis-server: several RedisChannel instances (one per
 * fake edge node) in this process, each with its own in-memory sink. Every test uses its own key
 * prefix, so they share one server without seeing each other; the reconnect and expiry tests use
 * their own server / TCP path because they break it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Redis } from 'ioredis';
import { Logger, setLogSink } from '../../services/core/log.js';
import type { Delta, EndpointRecord, Heartbeat, NodeInfo, Snapshot } from '../../services/gen/peer.js';
import { PeerMessage, Snapshot as SnapshotCodec } from '../../services/gen/peer.js';
import type { ChannelName, LocalState, PresenceSink } from '../../services/presence/channel.js';
import { RedisChannel, type RedisChannelOptions } from '../../services/presence/redis-channel.js';
import { freePort, requireRedisServer, RedisServer, startRedisServer } from '../helpers/redis-server.js';

/** A fake edge node: its endpoints and sequence, changed by the test. */
class FakeNode implements LocalState {
  seq = 0;
  readonly endpoints = new Map<string, EndpointRecord>();
  readonly self: NodeInfo;

  constructor(id: string) {
    this.self = { nodeId: id, region: id.split('-')[0], peerAddr: `127.0.0.1:1${id.length}00`, relayAddr: '', incarnation: 1_700_000_000_000 };
  }

  snapshot(): Snapshot {
    return { origin: this.self, seq: this.seq, endpoints: [...this.endpoints.values()] };
  }

  snapshotSeq(): number {
    return this.seq;
  }

  upsert(id: string): Delta {
    const rec: EndpointRecord = {
      id,
      account: 'acme',
      url: `https://${id}.acme.internal`,
      poolingEnabled: true,
      trafficPolicy: '',
      upstreamUrl: 'http://localhost:8080',
      description: '',
      metadata: '',
      createdAtMs: Date.now(),
    };
    this.endpoints.set(id, rec);
    return { origin: this.self, seq: ++this.seq, upserts: [rec], removes: [] };
  }

  remove(id: string): Delta {
    this.endpoints.delete(id);
    return { origin: this.self, seq: ++this.seq, upserts: [], removes: [id] };
  }

  heartbeat(): Heartbeat {
    return { origin: this.self, seq: this.seq, sentAtMs: Date.now(), echoMs: 0 };
  }
}

/** Records everything delivered, in order. */
class FakeSink implements PresenceSink {
  readonly snapshots: Snapshot[] = [];
  readonly deltas: Delta[] = [];
  readonly heartbeats: Heartbeat[] = [];
  readonly nodes: NodeInfo[] = [];
  readonly vias = new Set<ChannelName>();
  onSnapshot(s: Snapshot, via: ChannelName): void {
    this.snapshots.push(s);
    this.vias.add(via);
  }
  onDelta(d: Delta, via: ChannelName): void {
    this.deltas.push(d);
    this.vias.add(via);
  }
  onHeartbeat(h: Heartbeat, via: ChannelName): void {
    this.heartbeats.push(h);
    this.vias.add(via);
  }
  onNodeSeen(n: NodeInfo, via: ChannelName): void {
    this.nodes.push(n);
    this.vias.add(via);
  }
  /** Every origin node id this sink heard about. */
  origins(): Set<string> {
    return new Set([...this.snapshots, ...this.deltas, ...this.heartbeats].map((m) => m.origin?.nodeId ?? '?').concat(this.nodes.map((n) => n.nodeId)));
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The log lines every channel wrote (captured; printed with MESHGATE_TEST_VERBOSE=1). */
const logLines: Array<Record<string, any>> = [];
/** Where the current test's lines start. */
let logMark = 0;
const logsOf = (node: string) => logLines.slice(logMark).filter((l) => l.node === node);

/** A TCP relay to redis that the test can cut (a node losing its path to Redis while Redis stays up). */
async function startRelay(port: number, targetPort: number): Promise<{ cut(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(targetPort, '127.0.0.1');
    const end = () => {
      c.destroy();
      u.destroy();
      socks.delete(c);
      socks.delete(u);
    };
    socks.add(c).add(u);
    c.pipe(u).pipe(c);
    for (const s of [c, u]) s.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of socks) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('redis presence channel', function () {
  this.timeout(10_000);
  let redis: RedisServer;
  let raw: Redis;
  const channels: RedisChannel[] = [];
  let prefixN = 0;
  let prefix = '';

  before(async () => {
    requireRedisServer();
    setLogSink((line) => {
      logLines.push(JSON.parse(line));
      if (process.env.MESHGATE_TEST_VERBOSE) process.stderr.write(line + '\n');
    });
    redis = await startRedisServer();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });

  beforeEach(() => {
    prefix = `t${++prefixN}:`;
    logMark = logLines.length;
  });

  afterEach(async () => {
    await Promise.all(channels.splice(0).map((c) => c.stop()));
  });

  after(async () => {
    raw?.disconnect();
    await redis?.stop();
    setLogSink((line) => process.stderr.write(line + '\n'));
  });

  /** Starts a channel for `node` with short TTLs; stopped after the test. */
  async function channel(node: FakeNode, sink: FakeSink, opts: Partial<RedisChannelOptions> = {}): Promise<RedisChannel> {
    const c = new RedisChannel({
      url: redis.url,
      keyPrefix: prefix,
      heartbeatTtlMs: 1_500,
      snapshotTtlMs: 1_500,
      commandTimeoutMs: 500,
      connectTimeoutMs: 500,
      reconnectMaxMs: 100,
      log: new Logger({ node: node.self.nodeId }),
      ...opts,
    });
    channels.push(c);
    await c.start(sink, node);
    return c;
  }

  async function storedSnapshot(id: string, r: Redis = raw): Promise<Snapshot | undefined> {
    const buf = await r.getBuffer(`${prefix}snapshot:${id}`);
    return buf ? SnapshotCodec.decode(buf) : undefined;
  }

  it('delivers a delta published by one node to the others, and not back to its sender', async () => {
    const [a, b] = [new FakeNode('eu-a'), new FakeNode('us-b')];
    const [sa, sb] = [new FakeSink(), new FakeSink()];
    const ca = await channel(a, sa);
    const cb = await channel(b, sb);
    assert.ok(ca.connected && cb.connected);

    ca.publishDelta(a.upsert('ep_1'));
    ca.publishHeartbeat(a.heartbeat());
    await waitFor(() => sb.deltas.length === 1 && sb.heartbeats.length === 1, 'the delta and heartbeat at B');
    assert.equal(sb.deltas[0].origin?.nodeId, 'eu-a');
    assert.equal(sb.deltas[0].seq, 1);
    assert.equal(sb.deltas[0].upserts[0].url, 'https://ep_1.acme.internal');
    assert.equal(sb.heartbeats[0].seq, 1, 'the heartbeat follows the delta it counts');
    assert.deepEqual([...sb.vias], ['redis']);
    // A hears B's hello/snapshot but never its own messages.
    await sleep(50);
    assert.ok(!sa.origins().has('eu-a'), `A's sink got its own messages: ${[...sa.origins()]}`);
    assert.equal(sa.deltas.length, 0);
  });

  it('bootstraps a node that starts later from the snapshot and node keys in Redis', async () => {
    const [a, b] = [new FakeNode('eu-a'), new FakeNode('us-b')];
    const ca = await channel(a, new FakeSink());
    ca.publishDelta(a.upsert('ep_1'));
    ca.publishDelta(a.upsert('ep_2'));
    await waitFor(async () => (await storedSnapshot('eu-a'))?.seq === 2, "A's snapshot key at seq 2");

    const sb = new FakeSink();
    await channel(b, sb);
    // start resolves after the bootstrap: no waiting needed.
    const snap = sb.snapshots.find((s) => s.origin?.nodeId === 'eu-a');
    assert.ok(snap, 'B got A snapshot from the bootstrap');
    assert.equal(snap.seq, 2);
    assert.deepEqual(snap.endpoints.map((e) => e.id).sort(), ['ep_1', 'ep_2']);
    const node = sb.nodes.find((n) => n.nodeId === 'eu-a');
    assert.ok(node, 'B saw A node record');
    assert.equal(node.peerAddr, a.self.peerAddr);
  });

  it("answers requestSnapshot with the owner's latest state after several deltas", async () => {
    const [a, b] = [new FakeNode('eu-a'), new FakeNode('us-b')];
    const sb = new FakeSink();
    const ca = await channel(a, new FakeSink());
    const cb = await channel(b, sb);
    ca.publishDelta(a.upsert('ep_1'));
    ca.publishDelta(a.upsert('ep_2'));
    ca.publishDelta(a.upsert('ep_3'));
    ca.publishDelta(a.remove('ep_2'));
    await waitFor(() => sb.deltas.length === 4, 'four deltas at B');
    sb.snapshots.length = 0;
    cb.requestSnapshot('eu-a');
    await waitFor(() => sb.snapshots.length === 1, 'the requested snapshot');
    assert.equal(sb.snapshots[0].seq, 4);
    assert.deepEqual(sb.snapshots[0].endpoints.map((e) => e.id).sort(), ['ep_1', 'ep_3']);
    // Unknown origin: nothing delivered, nothing thrown.
    cb.requestSnapshot('nobody');
    await sleep(50);
    assert.equal(sb.snapshots.length, 1);
  });

  it('keeps going while redis-server is down and reconnects and republishes by itself when it returns', async () => {
    const own = await startRedisServer();
    try {
      const [a, b] = [new FakeNode('eu-a'), new FakeNode('us-b')];
      const [sa, sb] = [new FakeSink(), new FakeSink()];
      const ca = await channel(a, sa, { url: own.url });
      const cb = await channel(b, sb, { url: own.url });
      ca.publishDelta(a.upsert('ep_1'));
      await waitFor(() => sb.deltas.length === 1, 'the first delta at B');

      await own.kill();
      await waitFor(() => !ca.connected && !cb.connected, 'both channels to notice');
      // While down: nothing throws, nothing is queued for later.
      ca.publishDelta(a.upsert('ep_2'));
      ca.publishDelta(a.upsert('ep_3'));
      ca.publishHeartbeat(a.heartbeat());
      cb.requestSnapshot('eu-a');
      await sleep(200);

      await own.start(); // same port, empty: nothing saved
      const rawOwn = new Redis(own.url, { maxRetriesPerRequest: 1 });
      try {
        await waitFor(() => ca.connected && cb.connected, 'both channels to reconnect', 5_000);
        await waitFor(async () => (await storedSnapshot('eu-a', rawOwn))?.seq === 3, "A's snapshot key rewritten at seq 3");
        assert.equal(await rawOwn.exists(`${prefix}node:eu-a`, `${prefix}node:us-b`, `${prefix}snapshot:us-b`), 3);
        // B heals without any delta: the reconnect bootstrap (or A's announcement) brings seq 3.
        await waitFor(() => sb.snapshots.some((s) => s.origin?.nodeId === 'eu-a' && s.seq === 3), 'A state at seq 3 at B');
        sb.snapshots.length = 0;
        cb.requestSnapshot('eu-a');
        await waitFor(() => sb.snapshots.length === 1, 'the requested snapshot after the restart');
        assert.deepEqual(sb.snapshots[0].endpoints.map((e) => e.id).sort(), ['ep_1', 'ep_2', 'ep_3']);
        // And pub/sub works again.
        ca.publishDelta(a.remove('ep_1'));
        await waitFor(() => sb.deltas.some((d) => d.seq === 4), 'a delta after the restart');
        assert.ok(logsOf('eu-a').some((l) => l.level === 'info' && l.msg.startsWith('redis disconnected')));
        assert.equal(logsOf('eu-a').filter((l) => l.msg === 'redis connected').length, 2);
      } finally {
        rawOwn.disconnect();
      }
    } finally {
      await Promise.all(channels.splice(0).map((c) => c.stop()));
      await own.stop();
    }
  });

  it('logs and drops malformed messages and keeps delivering valid ones', async () => {
    const [a, b] = [new FakeNode('eu-a'), new FakeNode('us-b')];
    const sb = new FakeSink();
    const ca = await channel(a, new FakeSink());
    await channel(b, sb);
    const ch = `${prefix}presence`;
    await raw.publish(ch, Buffer.from('this is not protobuf'));
    await raw.publish(ch, Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f])); // delta with an impossible length
    await raw.publish(ch, Buffer.from([0x12, 0x7f, 0x0a])); // snapshot cut short
    await raw.publish(ch, Buffer.alloc(0)); // no message kind
    await raw.publish(ch, Buffer.from(PeerMessage.encode({ msg: { $case: 'delta', value: { origin: undefined, seq: 1, upserts: [], removes: [] } } }).finish()));
    await raw.set(`${prefix}snapshot:zz-bad`, 'garbage');
    await waitFor(() => logsOf('us-b').filter((l) => l.level === 'warn').length >= 3, 'warnings at B');
    const warns = logsOf('us-b').filter((l) => l.level === 'warn');
    const malformed = warns.find((l) => l.msg === 'dropping malformed presence message');
    assert.ok(malformed, JSON.stringify(warns));
    assert.equal(typeof malformed.reason, 'string');
    assert.equal(malformed.component, 'redis');
    assert.ok(warns.some((l) => l.msg === 'dropping presence message with no known kind'));
    assert.ok(warns.some((l) => l.msg === 'dropping presence message without an origin node'));
    assert.equal(warns.filter((l) => l.msg === 'dropping malformed presence message').length, 1, 'repeats are rate-limited');

    ca.publishDelta(a.upsert('ep_1'));
    await waitFor(() => sb.deltas.length === 1, 'a valid delta after the garbage');
    assert.equal(sb.deltas[0].origin?.nodeId, 'eu-a');
    // A bad snapshot key is skipped by the bootstrap of a node starting now.
    const sc = new FakeSink();
    await channel(new FakeNode('jp-c'), sc);
    assert.ok(sc.snapshots.some((s) => s.origin?.nodeId === 'eu-a'));
    assert.ok(!sc.origins().has('zz-bad'));
    assert.ok(logsOf('jp-c').some((l) => l.msg === 'dropping malformed presence snapshot key' && l.key === `${prefix}snapshot:zz-bad`));
  });

  it("lets a node's keys expire when it stops refreshing them, and rewrites them when it can again", async () => {
    const a = new FakeNode('eu-a');
    const relayPort = await freePort();
    let relay = await startRelay(relayPort, redis.port);
    const ttl = 400;
    const ca = await channel(a, new FakeSink(), { url: `redis://127.0.0.1:${relayPort}`, heartbeatTtlMs: ttl, snapshotTtlMs: ttl });
    const pttl = await raw.pttl(`${prefix}snapshot:eu-a`);
    assert.ok(pttl > 0 && pttl <= ttl, `PTTL ${pttl}`);
    // Alive without any heartbeat from the edge: the channel's own timer refreshes (every TTL/3).
    await sleep(ttl * 2);
    assert.equal(await raw.exists(`${prefix}snapshot:eu-a`, `${prefix}node:eu-a`), 2);

    await relay.cut(); // A is alive but cannot reach Redis: nobody refreshes its keys
    const cutAt = Date.now();
    await waitFor(async () => (await raw.exists(`${prefix}snapshot:eu-a`, `${prefix}node:eu-a`)) === 0, 'the keys to expire', ttl + 1_000);
    assert.ok(Date.now() - cutAt <= ttl + 500);
    ca.publishDelta(a.upsert('ep_1')); // dropped, no throw

    relay = await startRelay(relayPort, redis.port);
    try {
      await waitFor(() => ca.connected, 'A to reconnect');
      await waitFor(async () => (await storedSnapshot('eu-a'))?.seq === 1, 'A keys rewritten with its current state');
    } finally {
      await ca.stop();
      await relay.cut();
    }
  });

  it('removes its own keys on a clean stop and delivers nothing afterwards', async () => {
    const [a, b] = [new FakeNode('eu-a'), new FakeNode('us-b')];
    const sb = new FakeSink();
    const ca = await channel(a, new FakeSink());
    await channel(b, sb);
    assert.equal(await raw.exists(`${prefix}snapshot:eu-a`, `${prefix}node:eu-a`), 2);
    await ca.stop();
    assert.equal(ca.connected, false);
    assert.equal(await raw.exists(`${prefix}snapshot:eu-a`, `${prefix}node:eu-a`), 0);
    ca.publishDelta(a.upsert('ep_1')); // after stop: ignored, no throw
    ca.requestSnapshot('us-b');
    await sleep(50);
    assert.equal(sb.deltas.length, 0);
    assert.equal(await raw.exists(`${prefix}snapshot:us-b`), 1, "B's keys are untouched");
  });

  it('rewrites its keys when they vanish from Redis while it is connected (flush, eviction)', async () => {
    const a = new FakeNode('eu-a');
    const ca = await channel(a, new FakeSink(), { heartbeatTtlMs: 300, snapshotTtlMs: 300 });
    ca.publishDelta(a.upsert('ep_1'));
    await waitFor(async () => (await storedSnapshot('eu-a'))?.seq === 1, 'A snapshot at seq 1');
    await raw.del(`${prefix}snapshot:eu-a`, `${prefix}node:eu-a`);
    await waitFor(async () => (await storedSnapshot('eu-a'))?.seq === 1 && (await raw.exists(`${prefix}node:eu-a`)) === 1, 'the keys rewritten', 1_000);
    assert.ok(ca.connected);
  });

  it('starts without rejecting while Redis is unreachable and connects once it is up', async () => {
    const port = await freePort();
    const a = new FakeNode('eu-a');
    const t0 = Date.now();
    const ca = await channel(a, new FakeSink(), { url: `redis://127.0.0.1:${port}` });
    assert.ok(Date.now() - t0 < 1_500, 'start returned promptly');
    assert.equal(ca.connected, false);
    assert.ok(logsOf('eu-a').some((l) => l.level === 'warn' && l.msg.startsWith('redis unreachable') && l.redis === `redis://127.0.0.1:${port}`));
    const late = new RedisServer(port);
    await late.start();
    try {
      await waitFor(() => ca.connected, 'the channel to connect', 5_000);
      const r = new Redis(late.url, { maxRetriesPerRequest: 1 });
      try {
        await waitFor(async () => (await r.exists(`${prefix}snapshot:eu-a`)) === 1, 'A snapshot key');
      } finally {
        r.disconnect();
      }
    } finally {
      await ca.stop();
      await late.stop();
    }
  });

  it('refuses invalid options with every issue listed, and never logs the password', async () => {
    assert.throws(
      () => new RedisChannel({ url: 'http://x', snapshotTtlMs: -1, log: new Logger({}) }),
      (e: any) => e.code === 'MG_CONFIG_INVALID' && e.issues.length === 2 && /redis\.snapshotTtlMs/.test(e.message),
    );
    const port = await freePort();
    await channel(new FakeNode('eu-a'), new FakeSink(), { url: `redis://:s3cret@127.0.0.1:${port}/2` });
    const lines = logsOf('eu-a');
    assert.ok(lines.some((l) => l.redis === `redis://127.0.0.1:${port}/2`), JSON.stringify(lines));
    assert.ok(!JSON.stringify(lines).includes('s3cret'));
  });
});
