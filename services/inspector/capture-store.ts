/**
 * Where one edge keeps the requests it captured: a ring of `recordsPerEndpoint` records per
 * (account, endpoint URL) — a busy endpoint forgets its own oldest requests, never another
 * endpoint's — and an index by request id for Get and Replay.
 *
 * Full captures (headers and bodies) also count against one budget per edge
 * (`maxCaptureBytes`): past it, the oldest full captures are dropped to metadata (`dropped`), so
 * the memory of captured bodies stays bounded whatever the traffic.
 *
 * Not thread-shared, no I/O: every method is synchronous and proportional to what it returns
 * (add is O(1)).
 */
import type { RequestRecord } from '../edge/observe/request-record.js';
import type { BodyCopy } from './body-tee.js';

/** Header bytes kept per captured request or response (names + values). */
export const MAX_HEADER_BYTES = 32 * 1024;

/** Headers and bodies of one fully captured request. */
export interface FullCapture {
  readonly maxBodyBytes: number;
  /** Request headers as the client sent them (name, value, name, value, ...). */
  reqHeaders: string[];
  reqHeadersTruncated: boolean;
  /** null: the request had no body. */
  reqBody: BodyCopy | null;
  /** Response headers as sent to the client; empty until the response head was made. */
  resHeaders: string[];
  resHeadersTruncated: boolean;
  resBody: BodyCopy | null;
  /** Bytes counted against the edge's budget. */
  bytes: number;
}

export interface CapturedRequest {
  readonly rec: RequestRecord;
  readonly account: string;
  /** The entry endpoint's URL (the ring this record is in). */
  readonly url: string;
  /** Host header as the client sent it (with port), for replays. */
  readonly hostHeader: string;
  /** Id of the request this one replays, else ''. */
  readonly replayOf: string;
  /** Headers and bodies; undefined for metadata-only captures and once dropped. */
  full: FullCapture | undefined;
  /** True once a full capture was dropped to stay within the budget. */
  dropped: boolean;
}

export interface CaptureQuery {
  /** Only this account's; undefined = every account (bootstrap admin key). */
  account?: string;
  /** Endpoint id or URL. */
  endpoint?: string;
  pathPrefix?: string;
  /** Upper-case method. */
  method?: string;
  /** Inclusive status range. */
  status?: readonly [number, number];
  /** Arrival at or after (ms since the epoch). */
  after?: number;
  /** Arrival before (ms). */
  before?: number;
  /** Only records older than this one (page cursor). */
  olderThan?: { t: number; id: string };
  /** Most records returned. */
  limit: number;
}

class Ring {
  private readonly items: Array<CapturedRequest | undefined>;
  private next = 0;

  constructor(
    readonly account: string,
    readonly url: string,
    capacity: number,
  ) {
    this.items = new Array(capacity);
  }

  /** Adds `c`; returns the record it pushed out, if any. */
  push(c: CapturedRequest): CapturedRequest | undefined {
    const old = this.items[this.next];
    this.items[this.next] = c;
    this.next = (this.next + 1) % this.items.length;
    return old;
  }

  *all(): Iterable<CapturedRequest> {
    for (const c of this.items) if (c !== undefined) yield c;
  }
}

/** Newest first: by arrival, then by id (a total order, so pages never repeat or skip). */
export function newerFirst(a: { startedAt: number; id: string }, b: { startedAt: number; id: string }): number {
  if (a.startedAt !== b.startedAt) return b.startedAt - a.startedAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Most rings kept; past it the ring written least recently created is dropped (deleted endpoints). */
const MAX_RINGS = 10_000;

export class CaptureStore {
  private readonly rings = new Map<string, Ring>();
  private readonly byId = new Map<string, CapturedRequest>();
  /** Full captures in arrival order (FIFO of the budget); entries may be stale (already released). */
  private fullQueue: CapturedRequest[] = [];
  private fullHead = 0;
  /** Bytes of full captures held. */
  fullBytes = 0;
  /** Full captures held (the queue also holds released ones until it is compacted). */
  private fullLive = 0;

  constructor(
    readonly recordsPerEndpoint: number,
    readonly maxCaptureBytes: number,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  add(c: CapturedRequest): void {
    const key = `${c.account}|${c.url}`;
    let ring = this.rings.get(key);
    if (ring === undefined) {
      if (this.rings.size >= MAX_RINGS) this.dropRing(this.rings.keys().next().value as string);
      ring = new Ring(c.account, c.url, this.recordsPerEndpoint);
      this.rings.set(key, ring);
    }
    const old = ring.push(c);
    if (old !== undefined) this.forget(old);
    this.byId.set(c.rec.id, c);
    if (c.full !== undefined) this.charge(c);
  }

  get(id: string): CapturedRequest | undefined {
    return this.byId.get(id);
  }

  /** Records matching `q`, newest first, at most `q.limit`. */
  query(q: CaptureQuery): CapturedRequest[] {
    const out: CapturedRequest[] = [];
    const byUrl = q.endpoint !== undefined && q.endpoint.includes('://');
    for (const ring of this.rings.values()) {
      if (q.account !== undefined && ring.account !== q.account) continue;
      if (byUrl && ring.url !== q.endpoint) continue;
      for (const c of ring.all()) if (matches(c, q, byUrl)) out.push(c);
    }
    out.sort((a, b) => newerFirst(a.rec, b.rec));
    if (out.length > q.limit) out.length = q.limit;
    return out;
  }

  /** Endpoint URLs with captures for the account (undefined = all), for pickers. */
  urls(account: string | undefined): Array<{ account: string; url: string }> {
    const out: Array<{ account: string; url: string }> = [];
    for (const r of this.rings.values()) if (account === undefined || r.account === account) out.push({ account: r.account, url: r.url });
    return out;
  }

  private dropRing(key: string): void {
    const ring = this.rings.get(key);
    if (!ring) return;
    this.rings.delete(key);
    for (const c of ring.all()) this.forget(c);
  }

  private forget(c: CapturedRequest): void {
    if (this.byId.get(c.rec.id) === c) this.byId.delete(c.rec.id);
    if (c.full !== undefined) {
      this.fullBytes -= c.full.bytes;
      this.fullLive--;
      c.full = undefined;
    }
  }

  /** Counts a full capture against the budget, dropping the oldest ones past it. */
  private charge(c: CapturedRequest): void {
    this.fullBytes += c.full!.bytes;
    this.fullLive++;
    this.fullQueue.push(c);
    while (this.fullBytes > this.maxCaptureBytes && this.fullHead < this.fullQueue.length) {
      const victim = this.fullQueue[this.fullHead++];
      if (victim.full === undefined) continue; // already forgotten by its ring
      this.fullBytes -= victim.full.bytes;
      this.fullLive--;
      victim.full = undefined;
      victim.dropped = true;
    }
    // compact once released entries outnumber live ones (the queue stays O(live full captures))
    if (this.fullQueue.length - this.fullHead > 2 * this.fullLive + 1024) {
      this.fullQueue = this.fullQueue.slice(this.fullHead).filter((x) => x.full !== undefined);
      this.fullHead = 0;
    }
  }
}

function matches(c: CapturedRequest, q: CaptureQuery, byUrl: boolean): boolean {
  const r = c.rec;
  if (q.endpoint !== undefined && !byUrl && r.entry?.id !== q.endpoint) return false;
  if (q.pathPrefix !== undefined && !r.path.startsWith(q.pathPrefix)) return false;
  if (q.method !== undefined && r.method !== q.method) return false;
  if (q.status !== undefined && (r.status < q.status[0] || r.status > q.status[1])) return false;
  if (q.after !== undefined && r.startedAt < q.after) return false;
  if (q.before !== undefined && r.startedAt >= q.before) return false;
  if (q.olderThan !== undefined && newerFirst(r, { startedAt: q.olderThan.t, id: q.olderThan.id }) <= 0) return false;
  return true;
}
