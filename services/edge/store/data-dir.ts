/**
 * Durable state in the edge's data dir: one JSON file (`store.json`) holding every record,
 * replaced atomically on each save — write a temp file, fsync it, rename it over the old one,
 * fsync the directory — so a crash leaves either the old or the new file, never a torn one.
 *
 * Saves are coalesced: while one is being written, later calls wait for a single following
 * write of the newest state. A call resolves only once a write that began after it finished, so
 * "await save()" means "what I changed is on disk".
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshgateError } from '../../core/errors.js';
import { isRecordKind, type StoredRecord } from './record.js';

const FORMAT = 1;

export class DataDirFile {
  readonly path: string;
  private writing: Promise<void> | null = null;
  private next: { records: () => StoredRecord[]; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> } | null = null;

  constructor(readonly dir: string) {
    this.path = join(dir, 'store.json');
  }

  /** Reads the saved records; [] when there is no file yet. Throws MG_CONFIG_INVALID on a corrupt file. */
  async load(): Promise<StoredRecord[]> {
    await mkdir(this.dir, { recursive: true });
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new MeshgateError('MG_CONFIG_INVALID', { field: 'data_dir', detail: `cannot read ${this.path}: ${(e as Error).message}` });
    }
    let doc: { format?: number; records?: unknown[] };
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new MeshgateError('MG_CONFIG_INVALID', { field: 'data_dir', detail: `${this.path} is not valid JSON (${(e as Error).message}); restore it from a backup or move it away to start empty` });
    }
    if (doc.format !== FORMAT || !Array.isArray(doc.records)) {
      throw new MeshgateError('MG_CONFIG_INVALID', { field: 'data_dir', detail: `${this.path} has an unknown format (expected format ${FORMAT})` });
    }
    return doc.records.filter(isStoredRecord);
  }

  /** Saves the state `records()` returns when the write starts. */
  save(records: StoredRecord[] | (() => StoredRecord[])): Promise<void> {
    const snapshot = typeof records === 'function' ? records : () => records;
    return new Promise((resolve, reject) => {
      if (this.next) {
        this.next.records = snapshot;
        this.next.waiters.push({ resolve, reject });
      } else {
        this.next = { records: snapshot, waiters: [{ resolve, reject }] };
      }
      if (!this.writing) this.drain();
    });
  }

  private drain(): void {
    const job = this.next;
    if (!job) {
      this.writing = null;
      return;
    }
    this.next = null;
    this.writing = this.writeFile(job.records()).then(
      () => job.waiters.forEach((w) => w.resolve()),
      (e) => job.waiters.forEach((w) => w.reject(new MeshgateError('MG_STORE_UNAVAILABLE', { field: 'data_dir', detail: `cannot write ${this.path}: ${(e as Error).message}`, cause: e }))),
    );
    void this.writing.then(() => this.drain());
  }

  private async writeFile(records: StoredRecord[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const body = JSON.stringify({ format: FORMAT, savedAt: new Date().toISOString(), records }, null, 0);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(body, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

function isStoredRecord(r: unknown): r is StoredRecord {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  const v = o.version as Record<string, unknown> | undefined;
  return typeof o.kind === 'string' && isRecordKind(o.kind) && typeof o.id === 'string' && typeof o.account === 'string' &&
    typeof v === 'object' && v !== null && typeof v.ts === 'number' && typeof v.node === 'string' && typeof o.deleted === 'boolean' && typeof o.data === 'object' && o.data !== null;
}
