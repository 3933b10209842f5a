/**
 * The Redis presence channel: the second way (after the gRPC mesh) an edge node's presence
 * reaches the other edge nodes, and how a node that (re)starts finds everyone's current state.
 * Redis is used as the engine it is (ioredis client, plain keys with TTLs, pub/sub); nothing of
 * it is reimplemented here.
 *
 * Keys and channel (`<prefix>` is `keyPrefix`, default `meshgate:`; values are protobuf bytes
 * from proto/peer.proto):
 *  - `<prefix>presence`            pub/sub channel; every message is one encoded `PeerMessage`
 *                                  (hello | snapshot | delta | heartbeat).
 *  - `<prefix>node:<node_id>`      the node's `NodeInfo` (discovery: where to reach it).
 *                                  TTL `heartbeatTtlMs`, default 15 000 ms.
 *  - `<prefix>snapshot:<node_id>`  the node's current `Snapshot` (bootstrap / gap repair).
 *                                  TTL `snapshotTtlMs`, default 30 000 ms.
 * Each key is written only by its owner node. The owner rewrites its snapshot key with every
 * delta it publishes (so the key is always its current state), and refreshes the TTL of both keys
 * with every heartbeat and, on its own timer, every min(TTLs)/3 (default 5 000 ms) — so a live
 * owner keeps them whatever its heartbeat period, and a dead or cut-off owner's keys expire within
 * one TTL. A refresh that finds a key gone (Redis restarted, flushed, evicted) rewrites it.
 *
 * Connections: one ioredis connection for commands and PUBLISH, one for SUBSCRIBE. Neither
 * queues while down (`enableOfflineQueue: false`): publishing while Redis is unreachable drops
 * the message, since the state heals when the connection returns. ioredis reconnects by itself
 * (backoff 50 ms doubling, capped at `reconnectMaxMs`, default 2 000 ms, with jitter). Every
 * command is bounded by `commandTimeoutMs` (default 2 000 ms), and a socket that stops answering
 * is destroyed after the same time and reconnected; the subscriber connection is PINGed on the
 * refresh timer so a silently dead subscription is noticed too.
 *
 * (Re)connect: when the command connection becomes ready we write our node and snapshot keys and
 * publish a `hello` and a `snapshot`; when both connections are up (subscribed first, so nothing
 * published afterwards is missed) we bootstrap: SCAN every `<prefix>snapshot:*` and `<prefix>node:*`
 * key and deliver them to the sink. This runs at start and after every reconnect, which heals
 * anything missed while Redis was unreachable.
 *
 * Ordering: deltas and heartbeats are queued for at most one macrotask and flushed in one
 * pipeline: SET of the current snapshot first, then the PUBLISHes in call order. A receiver that
 * sees a delta and asks for the snapshot therefore gets at least that state, a burst of deltas
 * writes the snapshot once, and a heartbeat never overtakes the delta whose seq it carries.
 *
 * Clean stop: we delete our snapshot and node keys (our endpoints and listeners are gone), publish
 * nothing more and close both connections. Other nodes drop our endpoints through their own
 * liveness timeout (presence-table.ts) or the gRPC mesh.
 *
 * Bad input: every message and key value is decoded defensively; a malformed one is logged at
 * `warn` with the reason (at most one line per reason every 10 s) and dropped.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { MeshgateError, type Issue } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { NodeInfo, PeerMessage, Snapshot } from '../gen/peer.js';
import type { Delta, Heartbeat } from '../gen/peer.js';
import type { LocalState, PresenceChannel, PresenceSink } from './channel.js';

/** Configuration of a RedisChannel. Validated once by the constructor. */
export interface RedisChannelOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). The password is never logged. */
  url: string;
  /** Prefix of every key and of the channel name. Default `meshgate:`. */
  keyPrefix?: string;
  /** TTL of `<prefix>node:<id>`, ms. Default 15 000. Minimum 100. */
  heartbeatTtlMs?: number;
  /** TTL of `<prefix>snapshot:<id>`, ms. Default 30 000. Minimum 100. */
  snapshotTtlMs?: number;
  /** Bound on every Redis command and on a silent socket, ms. Default 2 000. */
  commandTimeoutMs?: number;
  /** Bound on one connection attempt, ms. Default 5 000. */
  connectTimeoutMs?: number;
  /** Longest wait between two reconnect attempts, ms. Default 2 000. */
  reconnectMaxMs?: number;
  /** Parent logger; the channel logs as component `redis`. */
  log: Logger;
}

/** Defaults of RedisChannelOptions (ms unless named otherwise). */
export const REDIS_CHANNEL_DEFAULTS = Object.freeze({
  keyPrefix: 'meshgate:',
  heartbeatTtlMs: 15_000,
  snapshotTtlMs: 30_000,
  commandTimeoutMs: 2_000,
  connectTimeoutMs: 5_000,
  reconnectMaxMs: 2_000,
});

type Settings = Readonly<Omit<Required<RedisChannelOptions>, 'log'>>;

/** A repeated warning of one kind is logged at most this often, ms. */
const WARN_EVERY_MS = 10_000;
/** While Redis stays unreachable, a reminder is logged this often, ms. */
const DOWN_REMINDER_MS = 60_000;
/** Keys fetched per SCAN step during bootstrap. */
const SCAN_COUNT = 200;

/**
 * Presence over Redis pub/sub plus TTL'd keys (see the comment at the top of this file).
 * Constructing it opens nothing; `start` connects. Driven by the edge's cluster presence from the
 * event loop: no method blocks, and `publishDelta`, `publishHeartbeat` and `requestSnapshot`
 * never throw (they drop while Redis is down). The sink is called synchronously from ioredis
 * callbacks and must not throw either (if it does, the error is logged and the channel goes on).
 */
export class RedisChannel implements PresenceChannel {
  readonly name = 'redis' as const;

  private readonly cfg: Settings;
  private readonly log: Logger;
  private readonly channel: string;
  private readonly where: string;

  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private sink: PresenceSink | undefined;
  private local: LocalState | undefined;
  private selfId = '';

  private subscribed = false;
  private wasConnected = false;
  private stopped = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private startWaiter: ((ok: boolean) => void) | undefined;
  private lastError: Error | undefined;
  private downSince = 0;
  private lastDownReminder = 0;

  private bootstrapping = false;
  private bootstrapAgain = false;

  /** Encoded messages waiting for the next flush, in call order. */
  private pending: Buffer[] = [];
  private snapshotDirty = false;
  private refreshWanted = false;
  private flushScheduled = false;

  private readonly requesting = new Set<string>();
  private readonly warned = new Map<string, { at: number; suppressed: number }>();

  /** Validates `opts` (throws MeshgateError MG_CONFIG_INVALID listing every issue); opens nothing. */
  constructor(opts: RedisChannelOptions) {
    this.cfg = validate(opts);
    this.log = opts.log.child({ component: 'redis' });
    this.channel = `${this.cfg.keyPrefix}presence`;
    this.where = redactUrl(this.cfg.url);
  }

  /** Both connections are up and we are subscribed. Cheap; safe to poll. */
  get connected(): boolean {
    return this.cmd?.status === 'ready' && this.subscribed;
  }

  /**
   * Connects, subscribes, writes our keys and bootstraps from Redis. Resolves when that is done,
   * or — Redis unreachable — as soon as the first attempt fails (with a warning), while ioredis
   * keeps retrying in the background. Never rejects because Redis is down; rejects only when
   * called twice.
   */
  async start(sink: PresenceSink, local: LocalState): Promise<void> {
    if (this.cmd || this.stopped) throw new MeshgateError('MG_INTERNAL', { detail: 'RedisChannel.start called twice or after stop' });
    this.sink = sink;
    this.local = local;
    this.selfId = local.self.nodeId;
    const first = new Promise<boolean>((resolve) => (this.startWaiter = resolve));
    const bound = setTimeout(() => this.settleStart(false), this.cfg.connectTimeoutMs + this.cfg.commandTimeoutMs);

    const cmd = (this.cmd = this.client('cmd'));
    const sub = (this.sub = this.client('sub'));
    cmd.on('ready', () => this.onCmdReady());
    cmd.on('close', () => this.onConnChange());
    sub.on('ready', () => this.onSubReady());
    sub.on('close', () => {
      this.subscribed = false;
      this.onConnChange();
    });
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
    for (const c of [cmd, sub]) {
      c.on('error', (err: Error) => {
        this.lastError = err;
        this.log.debug('redis connection error', { error: err });
        this.settleStart(false);
      });
    }

    const refreshMs = Math.max(10, Math.floor(Math.min(this.cfg.heartbeatTtlMs, this.cfg.snapshotTtlMs) / 3));
    this.refreshTimer = setInterval(() => this.tick(), refreshMs);
    this.refreshTimer.unref();

    cmd.connect().catch(() => {});
    sub.connect().catch(() => {});
    const ok = await first;
    clearTimeout(bound);
    if (!ok && !this.stopped && !this.connected) {
      this.downSince = this.lastDownReminder = Date.now();
      this.log.warn('redis unreachable; presence over redis keeps retrying in the background', {
        redis: this.where,
        error: this.lastError?.message ?? `not ready within ${this.cfg.connectTimeoutMs + this.cfg.commandTimeoutMs} ms`,
      });
    }
  }

  /** Queues one change of our state for the next flush. Never throws; drops it while Redis is down. */
  publishDelta(d: Delta): void {
    if (!this.canSend()) return;
    const m = encodeMessage({ msg: { $case: 'delta', value: d } }, this.log);
    if (!m) return;
    this.pending.push(m);
    this.snapshotDirty = true;
    this.scheduleFlush();
  }

  /** Queues a heartbeat (and a TTL refresh of our keys) for the next flush. Never throws. */
  publishHeartbeat(h: Heartbeat): void {
    if (!this.canSend()) return;
    const m = encodeMessage({ msg: { $case: 'heartbeat', value: h } }, this.log);
    if (!m) return;
    this.pending.push(m);
    this.refreshWanted = true;
    this.scheduleFlush();
  }

  /**
   * Reads `<prefix>snapshot:<origin>` and delivers it to the sink if present. Never throws;
   * does nothing while Redis is down (the reconnect bootstrap covers it) or while a read for the
   * same origin is already in flight.
   */
  requestSnapshot(origin: string): void {
    const cmd = this.cmd;
    if (this.stopped || !cmd || cmd.status !== 'ready' || origin === this.selfId || this.requesting.has(origin)) return;
    this.requesting.add(origin);
    cmd
      .getBuffer(this.snapshotKey(origin))
      .then((buf) => {
        if (this.stopped) return;
        if (!buf) this.log.debug('no snapshot in redis', { origin });
        else this.deliverSnapshotKey(origin, buf);
      })
      .catch((err: Error) => this.log.debug('snapshot read failed', { origin, error: err }))
      .finally(() => this.requesting.delete(origin));
  }

  /**
   * Clean stop: deletes our snapshot and node keys (bounded by `commandTimeoutMs`; skipped when
   * Redis is down, the keys then expire), publishes nothing more, closes both connections.
   * Idempotent; never rejects.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.settleStart(false);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.pending = [];
    const cmd = this.cmd;
    if (cmd && cmd.status === 'ready' && this.selfId) {
      try {
        await cmd.del(this.snapshotKey(this.selfId), this.nodeKey(this.selfId));
      } catch (err) {
        this.log.debug('could not delete our keys on stop; they will expire', { error: err as Error });
      }
    }
    cmd?.disconnect();
    this.sub?.disconnect();
    this.subscribed = false;
    if (this.wasConnected) {
      this.wasConnected = false;
      this.log.info('redis disconnected', { redis: this.where, reason: 'stopped' });
    }
  }

  // --- connections -------------------------------------------------------------------------------

  private client(role: 'cmd' | 'sub'): Redis {
    const max = this.cfg.reconnectMaxMs;
    const options: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.cfg.commandTimeoutMs,
      socketTimeout: this.cfg.commandTimeoutMs,
      connectTimeout: this.cfg.connectTimeoutMs,
      connectionName: `meshgate:${this.selfId}:${role}`.replace(/\s/g, '_'),
      retryStrategy: (times) => {
        const base = Math.min(50 * 2 ** Math.min(times, 16), max);
        return Math.round(base * (0.8 + Math.random() * 0.2));
      },
    };
    return new Redis(this.cfg.url, options);
  }

  private onCmdReady(): void {
    if (this.stopped) return;
    this.onConnChange();
    this.writeOwnKeys(true);
    if (this.subscribed) this.bootstrap();
  }

  private onSubReady(): void {
    const sub = this.sub;
    if (this.stopped || !sub) return;
    sub.subscribe(this.channel).then(
      () => {
        if (this.stopped || sub.status !== 'ready') return;
        this.subscribed = true;
        this.onConnChange();
        if (this.cmd?.status === 'ready') this.bootstrap();
      },
      (err: Error) => {
        this.lastError = err;
        // Connection still up: Redis refused (e.g. an ACL without SUBSCRIBE) — say so. Otherwise the
        // connection broke and its close event brings the next attempt.
        if (sub.status === 'ready') this.warnLimited('subscribe-refused', 'redis refused SUBSCRIBE; presence over redis receives nothing', { channel: this.channel, error: err.message });
        else this.log.debug('subscribe failed', { error: err });
      },
    );
  }

  /** Logs connect/disconnect transitions (the only info lines of this channel). */
  private onConnChange(): void {
    if (this.stopped) return;
    const now = this.connected;
    if (now === this.wasConnected) return;
    this.wasConnected = now;
    if (now) {
      this.log.info('redis connected', { redis: this.where, channel: this.channel });
      this.downSince = 0;
      this.lastError = undefined;
    } else {
      this.log.info('redis disconnected; retrying in the background', { redis: this.where, error: this.lastError?.message });
      this.downSince = this.lastDownReminder = Date.now();
    }
  }

  private settleStart(ok: boolean): void {
    const w = this.startWaiter;
    this.startWaiter = undefined;
    w?.(ok);
  }

  private canSend(): boolean {
    return !this.stopped && this.cmd?.status === 'ready';
  }

  // --- writing our keys --------------------------------------------------------------------------

  /** SETs our node and snapshot keys with their TTLs; with `announce`, also publishes hello + snapshot. */
  private writeOwnKeys(announce: boolean): void {
    const cmd = this.cmd;
    const local = this.local;
    if (!this.canSend() || !cmd || !local) return;
    try {
      const snap = local.snapshot();
      const p = cmd.pipeline();
      p.set(this.nodeKey(this.selfId), toBuffer(NodeInfo.encode(local.self).finish()), 'PX', this.cfg.heartbeatTtlMs);
      p.set(this.snapshotKey(this.selfId), toBuffer(Snapshot.encode(snap).finish()), 'PX', this.cfg.snapshotTtlMs);
      if (announce) {
        p.publish(this.channel, toBuffer(PeerMessage.encode({ msg: { $case: 'hello', value: local.self } }).finish()));
        p.publish(this.channel, toBuffer(PeerMessage.encode({ msg: { $case: 'snapshot', value: snap } }).finish()));
      }
      p.exec().then(
        (res) => this.checkPipeline(res, 'write our keys'),
        (err: Error) => this.log.debug('could not write our keys', { error: err }),
      );
    } catch (err) {
      this.log.error('could not encode our presence for redis', { error: err as Error });
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** One pipeline: SET snapshot (if a delta changed it), PUBLISH queued messages, PEXPIRE our keys (if asked). */
  private flush(): void {
    this.flushScheduled = false;
    const msgs = this.pending;
    const dirty = this.snapshotDirty;
    const refresh = this.refreshWanted;
    this.pending = [];
    this.snapshotDirty = this.refreshWanted = false;
    const cmd = this.cmd;
    const local = this.local;
    if (!this.canSend() || !cmd || !local) return;
    try {
      const p = cmd.pipeline();
      if (dirty) p.set(this.snapshotKey(this.selfId), toBuffer(Snapshot.encode(local.snapshot()).finish()), 'PX', this.cfg.snapshotTtlMs);
      for (const m of msgs) p.publish(this.channel, m);
      if (refresh) {
        p.pexpire(this.nodeKey(this.selfId), this.cfg.heartbeatTtlMs);
        p.pexpire(this.snapshotKey(this.selfId), this.cfg.snapshotTtlMs);
      }
      p.exec().then(
        (res) => {
          this.checkPipeline(res, 'publish');
          // PEXPIRE answers 0 when the key is gone (Redis restarted, flushed, evicted): rewrite it.
          if (refresh && res && res.slice(-2).some(([e, v]) => !e && v === 0)) this.writeOwnKeys(false);
        },
        (err: Error) => this.log.debug('publish failed; dropped', { error: err, messages: msgs.length }),
      );
    } catch (err) {
      this.log.error('could not encode our presence for redis', { error: err as Error });
    }
  }

  /** Refresh timer: keep our keys alive, probe the subscription, remind when Redis stays down. */
  private tick(): void {
    if (this.stopped) return;
    if (this.canSend()) {
      this.refreshWanted = true;
      this.scheduleFlush();
    }
    if (this.subscribed && this.sub) this.sub.ping().catch((err: Error) => this.log.debug('subscriber ping failed', { error: err }));
    const now = Date.now();
    if (!this.connected && this.downSince && now - this.lastDownReminder >= DOWN_REMINDER_MS) {
      this.lastDownReminder = now;
      this.log.warn('redis still unreachable; retrying', { redis: this.where, downForMs: now - this.downSince, error: this.lastError?.message });
    }
  }

  private checkPipeline(res: Array<[Error | null, unknown]> | null, what: string): void {
    const err = res?.find(([e]) => e)?.[0];
    if (err) this.log.debug(`redis could not ${what}`, { error: err });
  }

  // --- receiving ---------------------------------------------------------------------------------

  /** Reads every snapshot and node key and delivers them. Coalesced: one run at a time, rerun if asked meanwhile. */
  private bootstrap(): void {
    if (this.bootstrapping) {
      this.bootstrapAgain = true;
      return;
    }
    this.bootstrapping = true;
    this.bootstrapOnce()
      .catch((err: Error) => this.log.debug('bootstrap from redis incomplete; the next reconnect retries', { error: err }))
      .finally(() => {
        this.bootstrapping = false;
        this.settleStart(true);
        if (this.bootstrapAgain && !this.stopped) {
          this.bootstrapAgain = false;
          this.bootstrap();
        }
      });
  }

  private async bootstrapOnce(): Promise<void> {
    let snapshots = 0;
    let nodes = 0;
    await this.scanKeys('snapshot:', (id, buf) => {
      if (this.deliverSnapshotKey(id, buf)) snapshots++;
    });
    await this.scanKeys('node:', (id, buf) => {
      const n = this.decode('node key', () => NodeInfo.decode(buf), this.nodeKey(id));
      if (!n || this.stopped) return;
      if (n.nodeId !== id) return this.warnLimited('node-key-mismatch', 'ignoring node key whose content names another node', { key: this.nodeKey(id), nodeId: n.nodeId });
      if (id === this.selfId) return;
      nodes++;
      this.toSink(() => this.sink?.onNodeSeen?.(n, 'redis'));
    });
    this.log.debug('bootstrapped from redis', { snapshots, nodes });
  }

  /** SCANs `<prefix><kind>*` and calls `each(id, value)` for every key still present. */
  private async scanKeys(kind: 'snapshot:' | 'node:', each: (id: string, value: Buffer) => void): Promise<void> {
    const head = this.cfg.keyPrefix + kind;
    const pattern = escapeGlob(head) + '*';
    let cursor = '0';
    do {
      const cmd = this.cmd;
      if (this.stopped || !cmd || cmd.status !== 'ready') return;
      const [next, keys] = await cmd.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await cmd.mgetBuffer(...keys);
      keys.forEach((k, i) => {
        const v = values[i];
        if (v && k.startsWith(head)) each(k.slice(head.length), v);
      });
    } while (cursor !== '0');
  }

  /** Decodes a snapshot key's value and delivers it; false when skipped. */
  private deliverSnapshotKey(id: string, buf: Buffer): boolean {
    if (id === this.selfId || this.stopped) return false;
    const s = this.decode('snapshot key', () => Snapshot.decode(buf), this.snapshotKey(id));
    if (!s) return false;
    if (!s.origin || s.origin.nodeId !== id) {
      this.warnLimited('snapshot-key-mismatch', 'ignoring snapshot key whose origin is not its owner', { key: this.snapshotKey(id), origin: s.origin?.nodeId ?? null });
      return false;
    }
    this.toSink(() => this.sink?.onSnapshot(s, 'redis'));
    return true;
  }

  private onMessage(channel: Buffer, message: Buffer): void {
    if (this.stopped || channel.toString() !== this.channel) return;
    const m = this.decode('message', () => PeerMessage.decode(message));
    if (!m) return;
    const msg = m.msg;
    if (!msg) return this.warnLimited('message-empty', 'dropping presence message with no known kind', { bytes: message.length });
    const origin = msg.$case === 'hello' ? msg.value : msg.value.origin;
    if (!origin || !origin.nodeId) return this.warnLimited('message-no-origin', 'dropping presence message without an origin node', { kind: msg.$case });
    if (origin.nodeId === this.selfId) return;
    const sink = this.sink;
    if (!sink) return;
    switch (msg.$case) {
      case 'hello':
        return this.toSink(() => sink.onNodeSeen?.(msg.value, 'redis'));
      case 'snapshot':
        return this.toSink(() => sink.onSnapshot(msg.value, 'redis'));
      case 'delta':
        return this.toSink(() => sink.onDelta(msg.value, 'redis'));
      case 'heartbeat':
        return this.toSink(() => sink.onHeartbeat(msg.value, 'redis'));
    }
  }

  /** Runs a protobuf decode; on failure logs the reason at warn (rate-limited) and returns undefined. */
  private decode<T>(what: string, fn: () => T, key?: string): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.warnLimited(`malformed-${what}`, `dropping malformed presence ${what}`, { reason: (err as Error).message, ...(key !== undefined ? { key } : {}) });
      return undefined;
    }
  }

  /** The sink must not throw; if it does, we log and keep going rather than break the connection. */
  private toSink(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('presence sink threw on a redis message', { error: err as Error });
    }
  }

  private warnLimited(kind: string, msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const w = this.warned.get(kind);
    if (w && now - w.at < WARN_EVERY_MS) {
      w.suppressed++;
      return;
    }
    this.log.warn(msg, w?.suppressed ? { ...fields, suppressed: w.suppressed } : fields);
    this.warned.set(kind, { at: now, suppressed: 0 });
  }

  private nodeKey(id: string): string {
    return `${this.cfg.keyPrefix}node:${id}`;
  }

  private snapshotKey(id: string): string {
    return `${this.cfg.keyPrefix}snapshot:${id}`;
  }
}

function validate(o: RedisChannelOptions): Settings {
  const issues: Issue[] = [];
  let url = '';
  if (typeof o.url !== 'string' || o.url === '') issues.push({ path: 'redis', message: 'is required' });
  else {
    try {
      const u = new URL(o.url);
      if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') issues.push({ path: 'redis', message: `must be a redis:// or rediss:// URL, got ${u.protocol}//` });
      else if (!u.hostname) issues.push({ path: 'redis', message: 'must name a host' });
      else if (u.pathname.length > 1 && !/^\/\d+$/.test(u.pathname)) issues.push({ path: 'redis', message: `database must be a number, got '${u.pathname.slice(1)}'` });
      url = o.url;
    } catch {
      issues.push({ path: 'redis', message: 'is not a valid URL' });
    }
  }
  const D = REDIS_CHANNEL_DEFAULTS;
  const keyPrefix = o.keyPrefix ?? D.keyPrefix;
  if (typeof keyPrefix !== 'string') issues.push({ path: 'redis.keyPrefix', message: 'must be a string' });
  const ms = (name: keyof typeof D, min: number): number => {
    const v = (o as unknown as Record<string, unknown>)[name] ?? D[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      issues.push({ path: `redis.${name}`, message: `must be an integer number of milliseconds >= ${min}, got ${JSON.stringify(v)}` });
      return D[name] as number;
    }
    return v;
  };
  const settings: Settings = {
    url,
    keyPrefix,
    heartbeatTtlMs: ms('heartbeatTtlMs', 100),
    snapshotTtlMs: ms('snapshotTtlMs', 100),
    commandTimeoutMs: ms('commandTimeoutMs', 10),
    connectTimeoutMs: ms('connectTimeoutMs', 10),
    reconnectMaxMs: ms('reconnectMaxMs', 10),
  };
  if (issues.length) throw new MeshgateError('MG_CONFIG_INVALID', { field: 'redis', issues });
  return Object.freeze(settings);
}

/** `redis://user:secret@host:6379/2` → `redis://host:6379/2` (for logs). */
function redactUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
}

/** Escapes Redis glob metacharacters so the prefix matches literally in SCAN MATCH. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => '\\' + c);
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function encodeMessage(m: PeerMessage, log: Logger): Buffer | undefined {
  try {
    return toBuffer(PeerMessage.encode(m).finish());
  } catch (err) {
    log.error('could not encode a presence message for redis', { error: err as Error });
    return undefined;
  }
}
