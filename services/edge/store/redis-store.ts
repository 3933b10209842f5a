/**
 * Redis as the shared admin store (when edge.yaml sets `redis:`).
 *
 * Keys:
 *   meshgate:store:records   hash  "kind/id" → the record as JSON (tombstones included)
 *   meshgate:store:changes   pub/sub channel: every record written, as JSON
 *
 * A write runs one Lua script: it keeps the record only when its version is greater than the
 * stored one (the same last-write-wins rule as the embedded store) and publishes it. Every edge
 * subscribes and applies what it hears; on every (re)connect it reloads the whole hash, applies
 * what is newer, and writes back its own records that Redis lacks or holds older (config seeded
 * while Redis was down), so edges reconcile after an outage.
 *
 * Writes from the admin API need Redis: while it is unreachable they are refused with
 * MG_STORE_UNAVAILABLE and nothing changes. Reads never need it: each edge serves from its
 * in-memory copy (and its data dir, when set) and keeps routing with its last known config.
 */
import { Redis } from 'ioredis';
import { MeshgateError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ConfigStore, Replicator } from './config-store.js';
import { compareVersions, recordKey, type StoredRecord } from './record.js';
import { decodeRecord, encodeRecord } from './mesh-sync.js';

export const RECORDS_KEY = 'meshgate:store:records';
export const CHANGES_CHANNEL = 'meshgate:store:changes';
const COMMAND_TIMEOUT_MS = 2_000;

/** KEYS[1] hash, ARGV: field, json, ts, node, channel. Returns 1 when stored. */
const PUT_IF_NEWER = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local v = cjson.decode(cur)
  local ts = tonumber(v['versionTs'])
  local newTs = tonumber(ARGV[3])
  if ts > newTs or (ts == newTs and v['versionNode'] >= ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1
`;

export class RedisStore implements Replicator {
  readonly name = 'redis';
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private wasDown = false;

  constructor(
    url: string,
    private readonly store: ConfigStore,
    private readonly log: Logger,
  ) {
    const opts = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (n: number) => Math.min(2_000, 100 * 2 ** n),
    };
    this.cmd = new Redis(url, opts);
    this.sub = new Redis(url, { ...opts, commandTimeout: undefined });
    this.cmd.defineCommand('meshgatePutIfNewer', { numberOfKeys: 1, lua: PUT_IF_NEWER });
    for (const c of [this.cmd, this.sub]) {
      c.on('error', (e: Error) => {
        if (!this.wasDown) this.log.warn('redis store unreachable; serving the last known config', { err: e.message });
        this.wasDown = true;
      });
    }
    this.cmd.on('ready', () => void this.reconcile());
    this.sub.on('ready', () => void this.sub.subscribe(CHANGES_CHANNEL).catch(() => undefined));
    this.sub.on('message', (_ch: string, text: string) => this.onChange(text));
  }

  /** Connects; resolves after the first reconcile, or at once (serving from disk) if Redis is down. */
  async start(): Promise<void> {
    await Promise.all([this.cmd.connect().catch(() => undefined), this.sub.connect().catch(() => undefined)]);
    if (this.cmd.status === 'ready') await this.reconcile();
  }

  async commit(rec: StoredRecord): Promise<void> {
    const wire = encodeRecord(rec);
    try {
      await (this.cmd as unknown as { meshgatePutIfNewer(...a: Array<string | number>): Promise<number> }).meshgatePutIfNewer(
        RECORDS_KEY, recordKey(rec.kind, rec.id), JSON.stringify(wire), wire.versionTs, wire.versionNode, CHANGES_CHANNEL,
      );
    } catch (e) {
      throw new MeshgateError('MG_STORE_UNAVAILABLE', { detail: `redis: ${(e as Error).message}`, cause: e });
    }
  }

  async stop(): Promise<void> {
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  /** Reloads every record from Redis and writes back what Redis lacks or holds older. */
  private async reconcile(): Promise<void> {
    let all: Record<string, string>;
    try {
      all = await this.cmd.hgetall(RECORDS_KEY);
    } catch (e) {
      this.log.debug('redis store reload failed', { err: (e as Error).message });
      return;
    }
    const remote = new Map<string, StoredRecord>();
    for (const text of Object.values(all)) {
      const r = parse(text);
      if (r) remote.set(recordKey(r.kind, r.id), r);
    }
    const applied = this.store.applyRemote([...remote.values()]);
    let pushed = 0;
    for (const r of this.store.all()) {
      const theirs = remote.get(recordKey(r.kind, r.id));
      if (theirs && compareVersions(theirs.version, r.version) >= 0) continue;
      try {
        await this.commit(r);
        pushed++;
      } catch {
        return; // down again; the next ready reconciles
      }
    }
    if (this.wasDown || applied || pushed) this.log.info('redis store reconciled', { applied, pushed, records: remote.size });
    this.wasDown = false;
  }

  private onChange(text: string): void {
    const r = parse(text);
    if (!r) {
      this.log.warn('redis store change refused: malformed', { bytes: text.length });
      return;
    }
    this.store.applyRemote([r]);
  }
}

function parse(text: string): StoredRecord | undefined {
  try {
    return decodeRecord(JSON.parse(text));
  } catch {
    return undefined;
  }
}
