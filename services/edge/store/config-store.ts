/**
 * The admin store of one edge node: every account, cloud endpoint, reserved domain, authtoken
 * and API key, as versioned records (record.ts) merged last-write-wins.
 *
 * - Local writes (admin API, config seeding) get a fresh version, go to the replicator first
 *   (Redis mode: the shared store; a failure refuses the write and nothing changes), then are
 *   applied and persisted to the data dir before the call returns.
 * - Remote records (peer push/pull, Redis notifications, Redis reload) are applied when newer
 *   than what is held; the rest are ignored, so duplicates and reordering are harmless.
 * - Every applied change is announced to the listeners (the edge turns endpoint records into
 *   live endpoints, credential records into the authtoken table, ...).
 *
 * The in-memory map is the source every read uses: an edge keeps serving from it while its
 * peers or Redis are unreachable.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import type { DataDirFile } from './data-dir.js';
import { compareVersions, formatVersion, HybridClock, recordKey, type RecordKind, type StoredRecord } from './record.js';

/** Where local writes go besides this node (Redis, or the peer mesh). */
export interface Replicator {
  readonly name: string;
  /**
   * Called for every local write before it is applied here. Rejects (MG_STORE_UNAVAILABLE) when
   * the write cannot be made durable in the shared store; fire-and-forget replicators resolve at
   * once and deliver in the background.
   */
  commit(rec: StoredRecord): Promise<void>;
}

export type ChangeListener = (rec: StoredRecord, previous: StoredRecord | undefined) => void;

export interface WriteOptions {
  /** Apply locally even when the replicator refuses (config seeding at start; reconciled later). */
  allowOffline?: boolean;
}

export class ConfigStore {
  private readonly records = new Map<string, StoredRecord>();
  private readonly listeners: ChangeListener[] = [];
  private readonly clock = new HybridClock();
  private replicator: Replicator | undefined;

  constructor(
    readonly node: string,
    private readonly file: DataDirFile | undefined,
    private readonly log: Logger,
  ) {}

  /** Loads the persisted state (if any). Call once, before anything reads. */
  async open(): Promise<void> {
    if (!this.file) return;
    const recs = await this.file.load();
    for (const r of recs) {
      this.records.set(recordKey(r.kind, r.id), r);
      this.clock.observe(r.version.ts);
    }
    if (recs.length) this.log.info('store loaded', { records: recs.length, file: this.file.path });
  }

  setReplicator(r: Replicator): void {
    this.replicator = r;
  }

  get replicatorName(): string {
    return this.replicator?.name ?? 'local';
  }

  onChange(fn: ChangeListener): void {
    this.listeners.push(fn);
  }

  /** A live (not deleted) record. */
  get<D = Record<string, unknown>>(kind: RecordKind, id: string): StoredRecord<D> | undefined {
    const r = this.records.get(recordKey(kind, id));
    return r && !r.deleted ? (r as StoredRecord<D>) : undefined;
  }

  /** The record including a tombstone, if any. */
  raw(kind: RecordKind, id: string): StoredRecord | undefined {
    return this.records.get(recordKey(kind, id));
  }

  /** Live records of a kind, optionally of one account, oldest first. */
  list<D = Record<string, unknown>>(kind: RecordKind, account?: string): StoredRecord<D>[] {
    const out: StoredRecord<D>[] = [];
    for (const r of this.records.values()) {
      if (r.kind === kind && !r.deleted && (account === undefined || r.account === account)) out.push(r as StoredRecord<D>);
    }
    return out;
  }

  /** Every record including tombstones (replication, persistence). */
  all(): StoredRecord[] {
    return [...this.records.values()];
  }

  get size(): number {
    return this.records.size;
  }

  /** Writes (or, with data = null, deletes) a record; resolves once replicated and persisted. */
  async write<D extends object>(kind: RecordKind, id: string, account: string, data: D | null, opts: WriteOptions = {}): Promise<StoredRecord<D>> {
    const rec: StoredRecord = Object.freeze({
      kind,
      id,
      account,
      version: Object.freeze({ ts: this.clock.next(), node: this.node }),
      deleted: data === null,
      data: Object.freeze({ ...(data ?? {}) }) as Record<string, unknown>,
    });
    if (this.replicator) {
      try {
        await this.replicator.commit(rec);
      } catch (e) {
        if (!opts.allowOffline) throw e;
        this.log.warn('store write kept locally; replicator unavailable', { kind, id, replicator: this.replicator.name, err: e as Error });
      }
    }
    this.apply(rec);
    await this.file?.save(this.all());
    return rec as StoredRecord<D>;
  }

  /** Applies records from elsewhere; returns how many were newer and taken. */
  applyRemote(recs: readonly StoredRecord[]): number {
    let applied = 0;
    for (const r of recs) if (this.apply(r)) applied++;
    if (applied) void this.file?.save(this.all()).catch((e) => this.log.error('store not persisted', { err: e as Error }));
    return applied;
  }

  /** Flushes pending persistence (shutdown). */
  async flush(): Promise<void> {
    await this.file?.save(this.all());
  }

  /** `kind/id` → `ts/node` for every record (anti-entropy). */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, r] of this.records) out[k] = formatVersion(r.version);
    return out;
  }

  /** SHA-256 over the sorted versions: equal digests mean equal stores. */
  digest(): Buffer {
    const h = createHash('sha256');
    for (const k of [...this.records.keys()].sort()) h.update(`${k}=${formatVersion(this.records.get(k)!.version)}\n`);
    return h.digest();
  }

  /** Records newer here than in `versions` (what a peer with those versions lacks). */
  newerThan(versions: Readonly<Record<string, string>>): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (const [k, r] of this.records) {
      const theirs = versions[k];
      if (theirs === undefined || compareVersions(r.version, parseVersion(theirs)) > 0) out.push(r);
    }
    return out;
  }

  private apply(r: StoredRecord): boolean {
    const key = recordKey(r.kind, r.id);
    const prev = this.records.get(key);
    this.clock.observe(r.version.ts);
    if (prev && compareVersions(r.version, prev.version) <= 0) return false;
    this.records.set(key, r);
    for (const fn of this.listeners) {
      try {
        fn(r, prev);
      } catch (e) {
        this.log.error('store change listener failed', { kind: r.kind, id: r.id, err: e as Error });
      }
    }
    return true;
  }
}

export function parseVersion(s: string): { ts: number; node: string } {
  const i = s.indexOf('/');
  return { ts: Number(s.slice(0, i)) || 0, node: s.slice(i + 1) };
}
