/**
 * Records of the admin store and how versions order them.
 *
 * Every record (account, cloud endpoint, reserved domain, authtoken, API key) carries a version
 * `(ts, node)`: `ts` comes from a hybrid logical clock — the wall clock in ms, but always past
 * every version this node has written or seen — and `node` (the writer's node id) breaks ties.
 * Versions are totally ordered, so "keep the greater version" (last write wins) gives the same
 * state on every edge whatever order the writes arrive in. A delete is a record too (a tombstone
 * with `deleted: true`), so a delete wins over an older write that arrives late.
 */

export const RECORD_KINDS = ['account', 'endpoint', 'domain', 'authtoken', 'api_key', 'inspect'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export interface Version {
  readonly ts: number;
  readonly node: string;
}

export interface StoredRecord<D = Record<string, unknown>> {
  readonly kind: RecordKind;
  readonly id: string;
  /** Owning account ('' for accounts). */
  readonly account: string;
  readonly version: Version;
  readonly deleted: boolean;
  /** The record's fields (JSON-safe); `{}` for tombstones. */
  readonly data: D;
}

export function isRecordKind(s: string): s is RecordKind {
  return (RECORD_KINDS as readonly string[]).includes(s);
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: Version, b: Version): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

export function recordKey(kind: RecordKind, id: string): string {
  return `${kind}/${id}`;
}

export function formatVersion(v: Version): string {
  return `${v.ts}/${v.node}`;
}

/** Hybrid logical clock: strictly increasing, never behind a version it has seen. */
export class HybridClock {
  private last = 0;
  constructor(private readonly now: () => number = Date.now) {}

  next(): number {
    this.last = Math.max(this.now(), this.last + 1);
    return this.last;
  }

  /** Moves the clock past a version seen from elsewhere. */
  observe(ts: number): void {
    if (ts > this.last) this.last = ts;
  }
}

/** Where a record came from: edge.yaml (seeded at start) or the admin API. */
export type RecordSource = 'config' | 'api';

/** `endpoint` records: cloud endpoints. Times are RFC 3339. */
export interface EndpointData {
  url: string;
  binding: 'public' | 'internal';
  traffic_policy: string;
  pooling_enabled: boolean;
  description: string;
  metadata: string;
  created_at: string;
  updated_at: string;
  source: RecordSource;
  /** Config-seeded records: digest of the edge.yaml entry they were seeded from. */
  seed_hash?: string;
}

/** `domain` records: a host (or `*.suffix`) reserved by an account; id derives from the host. */
export interface DomainData {
  domain: string;
  description: string;
  created_at: string;
  source: RecordSource;
}

/** `authtoken` and `api_key` records: the secret is kept only as its SHA-256 (hex). */
export interface CredentialData {
  hash: string;
  description: string;
  created_at: string;
  source: RecordSource;
}

/** `account` records; the id is the account name. */
export interface AccountData {
  description: string;
  created_at: string;
  source: RecordSource;
}

/**
 * `inspect` records: Traffic Inspector capture settings of an endpoint URL, or of the whole
 * account (`url` empty). Id: `<account>|<url>` (`<account>|` for the account); see
 * services/inspector/capture-settings.ts.
 */
export interface InspectData {
  url: string;
  full: boolean;
  max_body_bytes: number;
  updated_at: string;
  source: RecordSource;
}
