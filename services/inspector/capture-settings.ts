/**
 * Which requests the Traffic Inspector captures in full (headers and bodies) and how much of
 * each body it keeps. The settings in force for a request addressed to endpoint URL U of
 * account A, first found wins:
 *
 *   1. the `inspect` record `A|U` of the admin store (InspectorService.UpdateCaptureSettings
 *      with an endpoint), replicated to every edge;
 *   2. the `inspect` record `A|` (the same call without an endpoint: the whole account);
 *   3. edge.yaml `accounts[].inspect` of this edge;
 *   4. metadata only (max_body_bytes 10240 should full capture be turned on later).
 *
 * Settings are kept by URL, not endpoint id: an agent that reconnects gets a new endpoint id but
 * keeps its URL, and with it its capture. Lookups are per request; the answers are cached and
 * the cache is cleared when an `inspect` record changes.
 */
import type { ConfigStore } from '../edge/store/config-store.js';
import type { InspectData } from '../edge/store/record.js';
import { DEFAULT_MAX_BODY_BYTES, type AccountInspectConfig } from './inspector-config.js';

export type SettingsSource = 'endpoint' | 'account' | 'config' | 'default';

export interface EffectiveSettings {
  readonly full: boolean;
  readonly maxBodyBytes: number;
  readonly source: SettingsSource;
}

/** Id of the `inspect` record for an endpoint URL of an account ('' = the account). */
export function settingsId(account: string, url: string): string {
  return `${account}|${url}`;
}

const DEFAULT: EffectiveSettings = Object.freeze({ full: false, maxBodyBytes: DEFAULT_MAX_BODY_BYTES, source: 'default' });
/** Most cached answers; past it the cache starts over (URLs are few; this only bounds a flood). */
const CACHE_MAX = 10_000;

export class CaptureSettingsTable {
  private readonly cache = new Map<string, EffectiveSettings>();

  constructor(
    private readonly store: ConfigStore,
    private readonly accounts: ReadonlyMap<string, AccountInspectConfig>,
  ) {
    store.onChange((rec) => {
      if (rec.kind === 'inspect') this.cache.clear();
    });
  }

  /** The settings for a request to `url` of `account` (called per request: a cached map lookup). */
  resolve(account: string, url: string): EffectiveSettings {
    const key = settingsId(account, url);
    let s = this.cache.get(key);
    if (s === undefined) {
      s = this.compute(account, url);
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(key, s);
    }
    return s;
  }

  /** The record set for exactly this URL ('' = the account), if any. */
  stored(account: string, url: string): InspectData | undefined {
    return this.store.get<InspectData>('inspect', settingsId(account, url))?.data;
  }

  private compute(account: string, url: string): EffectiveSettings {
    if (url) {
      const ep = this.stored(account, url);
      if (ep) return Object.freeze({ full: ep.full, maxBodyBytes: ep.max_body_bytes, source: 'endpoint' });
    }
    const acct = this.stored(account, '');
    if (acct) return Object.freeze({ full: acct.full, maxBodyBytes: acct.max_body_bytes, source: 'account' });
    const cfg = this.accounts.get(account);
    if (cfg) return Object.freeze({ full: cfg.full, maxBodyBytes: cfg.maxBodyBytes, source: 'config' });
    return DEFAULT;
  }
}
