/**
 * The endpoint registry: every online endpoint, grouped into pools.
 *
 * Pools are implicit: endpoints with the same (binding, host, port) share a pool key. Public
 * hosts are one namespace across accounts (a public host routes to one account); internal
 * hosts are namespaced per account. A new endpoint joins an existing key only when it and every
 * member have pooling enabled and share the scheme; otherwise it is refused at once. Wildcard
 * hosts (`*.example.com`) are different keys from exact hosts, so they never pool together.
 *
 * Pools are copy-on-write: a request that picked a member list keeps a consistent snapshot.
 */
import { MeshgateError } from '../../core/errors.js';
import { hostCandidates, poolKey, type EndpointScheme } from '../../core/endpoint-url.js';
import type { Endpoint } from './endpoint.js';

export interface Pool {
  readonly key: string;
  readonly account: string;
  readonly scheme: EndpointScheme;
  /** Current members; replaced (never mutated) when membership changes. */
  members: readonly Endpoint[];
}

export class EndpointRegistry {
  private readonly byId = new Map<string, Endpoint>();
  private readonly publicPools = new Map<string, Pool>();
  private readonly internalPools = new Map<string, Map<string, Pool>>();
  private readonly watchers: Array<(ep: Endpoint, change: 'add' | 'remove') => void> = [];

  /** Adds an endpoint; throws MG_POOL_CONFLICT or MG_POOL_SCHEME_MISMATCH without changing anything. */
  add(ep: Endpoint): void {
    const table = this.table(ep.url.binding, ep.account, true)!;
    const key = poolKey(ep.url);
    const pool = table.get(key);
    if (!pool) {
      table.set(key, { key, account: ep.account, scheme: ep.url.scheme, members: [ep] });
    } else {
      checkJoin(pool, ep);
      pool.members = [...pool.members, ep];
    }
    this.byId.set(ep.id, ep);
    for (const w of this.watchers) w(ep, 'add');
  }

  /**
   * Calls `fn` after every add and remove (control plane only, never per request; the L4
   * listeners map tcp ports to hosts with it). `fn` must not throw or change the registry.
   */
  watch(fn: (ep: Endpoint, change: 'add' | 'remove') => void): void {
    this.watchers.push(fn);
  }

  /** The members `ep` could not pool with (empty when `add` would succeed). */
  conflicts(ep: Pick<Endpoint, 'account' | 'url' | 'poolingEnabled'>): readonly Endpoint[] {
    const pool = this.table(ep.url.binding, ep.account, false)?.get(poolKey(ep.url));
    if (!pool) return [];
    try {
      checkJoin(pool, ep);
      return [];
    } catch {
      return pool.members;
    }
  }

  /** Throws the error `add` would throw, without adding; `ignoreId` = a member to leave out (the endpoint being changed). */
  checkAdd(ep: Pick<Endpoint, 'account' | 'url' | 'poolingEnabled'>, ignoreId?: string): void {
    const pool = this.lookupKey(ep);
    if (!pool) return;
    const members = ignoreId === undefined ? pool.members : pool.members.filter((m) => m.id !== ignoreId);
    if (members.length) checkJoin({ ...pool, members }, ep);
  }

  /** The pool with `ep`'s key in its namespace (public pools are shared by every account). */
  private lookupKey(ep: Pick<Endpoint, 'account' | 'url'>): Pool | undefined {
    return this.table(ep.url.binding, ep.account, false)?.get(poolKey(ep.url));
  }

  /**
   * Adds `ep`, or swaps it in for the endpoint with the same id. On the same pool key the
   * member is replaced in place in a new member list (requests that already picked the old one
   * keep it); otherwise it leaves its old pool and joins the new one. Throws like `add` (and
   * then nothing changed) when it cannot join.
   */
  replace(ep: Endpoint): void {
    const old = this.byId.get(ep.id);
    if (!old) return this.add(ep);
    const table = this.table(ep.url.binding, ep.account, true)!;
    const key = poolKey(ep.url);
    const pool = table.get(key);
    if (old.account === ep.account && old.url.binding === ep.url.binding && poolKey(old.url) === key && pool) {
      const others = pool.members.filter((m) => m.id !== ep.id);
      if (others.length) checkJoin({ ...pool, members: others }, ep);
      pool.members = pool.members.map((m) => (m.id === ep.id ? ep : m));
      this.byId.set(ep.id, ep);
      return;
    }
    if (pool) checkJoin(pool, ep);
    this.remove(ep.id);
    this.add(ep);
  }

  /** Removes an endpoint at once; no lookup returns it afterwards. Returns false if unknown. */
  remove(id: string): boolean {
    const ep = this.byId.get(id);
    if (!ep) return false;
    this.byId.delete(id);
    const table = this.table(ep.url.binding, ep.account, false);
    const key = poolKey(ep.url);
    const pool = table?.get(key);
    if (pool) {
      const members = pool.members.filter((m) => m.id !== id);
      if (members.length === 0) table!.delete(key);
      else pool.members = members;
    }
    for (const w of this.watchers) w(ep, 'remove');
    return true;
  }

  get(id: string): Endpoint | undefined {
    return this.byId.get(id);
  }

  /** All endpoints, in insertion order. */
  list(): Endpoint[] {
    return [...this.byId.values()];
  }

  /** Other members of `ep`'s pool. */
  poolOf(ep: Endpoint): readonly Endpoint[] {
    return this.table(ep.url.binding, ep.account, false)?.get(poolKey(ep.url))?.members ?? [];
  }

  /** The pool serving a public request for `host` on a listener of `scheme` (port 80/443 by scheme; tcp: the endpoint's port): exact host first, then wildcards. */
  lookupPublic(scheme: EndpointScheme, host: string, port = scheme === 'http' ? 80 : 443): Pool | undefined {
    for (const h of hostCandidates(host)) {
      const pool = this.publicPools.get(poolKey({ binding: 'public', host: h, port }));
      if (pool && pool.scheme === scheme) return pool;
    }
    return undefined;
  }

  /** The internal pool of `account` for a forward-internal target. */
  lookupInternal(account: string, scheme: EndpointScheme, host: string, port: number): Pool | undefined {
    const table = this.internalPools.get(account);
    if (!table) return undefined;
    for (const h of hostCandidates(host)) {
      const pool = table.get(poolKey({ binding: 'internal', host: h, port }));
      if (pool && pool.scheme === scheme) return pool;
    }
    return undefined;
  }

  private table(binding: 'public' | 'internal', account: string, create: boolean): Map<string, Pool> | undefined {
    if (binding === 'public') return this.publicPools;
    let t = this.internalPools.get(account);
    if (!t && create) this.internalPools.set(account, (t = new Map()));
    return t;
  }
}

function checkJoin(pool: Pool, ep: Pick<Endpoint, 'account' | 'url' | 'poolingEnabled'>): void {
  if (pool.account !== ep.account) {
    throw new MeshgateError('MG_POOL_CONFLICT', { field: 'url', detail: `${ep.url.url} is in use by another account` });
  }
  if (pool.scheme !== ep.url.scheme) {
    throw new MeshgateError('MG_POOL_SCHEME_MISMATCH', {
      field: 'url',
      detail: `${ep.url.url} would pool with ${pool.scheme}:// endpoints on the same host and port`,
    });
  }
  const existingOff = pool.members.some((m) => !m.poolingEnabled);
  if (!ep.poolingEnabled || existingOff) {
    const who = !ep.poolingEnabled && existingOff ? 'neither endpoint has' : !ep.poolingEnabled ? 'the new endpoint does not have' : 'the endpoint already online does not have';
    throw new MeshgateError('MG_POOL_CONFLICT', {
      field: 'pooling_enabled',
      detail: `${ep.url.url}: ${who} pooling enabled; start both with --pooling-enabled (pooling_enabled: true)`,
    });
  }
}
