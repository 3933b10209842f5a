/**
 * Turns admin-store records into the edge's live state, on start and on every change (local
 * write, peer replication, Redis notification):
 *
 * - `endpoint` → a cloud endpoint in the registry. A changed record replaces the endpoint whole
 *   (registry.replace): a request that already picked the old endpoint finishes under the old
 *   policy, new requests see the new one. Policies compile once per distinct text.
 * - `authtoken` / `api_key` → lookup tables by SHA-256 of the secret; a deleted authtoken
 *   disconnects the agents that used it (`onAuthtokenRevoked`).
 * - `domain` → the reservation table (which account owns which host or wildcard).
 */
import { createHash } from 'node:crypto';
import { hostCandidates, parseEndpointUrl, type EndpointUrl } from '../../core/endpoint-url.js';
import { isMeshgateError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { compilePolicy } from '../../policy/index.js';
import type { CompiledPolicy } from '../../policy/types.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import type { ConfigStore } from './config-store.js';
import type { CredentialData, DomainData, EndpointData, StoredRecord } from './record.js';

export interface CloudEndpointSpec {
  id: string;
  account: string;
  url: EndpointUrl;
  poolingEnabled: boolean;
  policy: CompiledPolicy;
  description: string;
  metadata: string;
  createdAt: Date;
}

export interface Principal {
  account: string;
  /** Id of the credential record (at_… / ak_…). */
  credentialId: string;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export class LiveConfig {
  private readonly authtokens = new Map<string, Principal>();
  private readonly apiKeys = new Map<string, Principal>();
  /** domain (lower-case, `*.x` for wildcards) → owning account and record id */
  private readonly domains = new Map<string, { account: string; id: string }>();
  private readonly policies = new Map<string, CompiledPolicy>();

  /** Called when an authtoken record is deleted (revoked). */
  onAuthtokenRevoked: ((credentialId: string) => void) | null = null;

  constructor(
    private readonly store: ConfigStore,
    private readonly registry: EndpointRegistry,
    private readonly makeEndpoint: (spec: CloudEndpointSpec) => Endpoint,
    private readonly log: Logger,
  ) {}

  /** Applies every stored record, then follows changes. */
  start(): void {
    for (const r of this.store.all()) this.apply(r, undefined);
    this.store.onChange((r, prev) => this.apply(r, prev));
  }

  authenticateToken(token: string): Principal | undefined {
    return token ? this.authtokens.get(sha256Hex(token)) : undefined;
  }

  authenticateApiKey(key: string): Principal | undefined {
    return key ? this.apiKeys.get(sha256Hex(key)) : undefined;
  }

  /** The account that reserved `host` (exact, else the most specific wildcard), or undefined. */
  domainOwner(host: string): string | undefined {
    for (const h of hostCandidates(host.toLowerCase())) {
      const d = this.domains.get(h);
      if (d) return d.account;
    }
    return undefined;
  }

  /** Compiles a cloud endpoint policy (cached per text); throws nothing, returns the result. */
  compileCloud(text: string, url: EndpointUrl): ReturnType<typeof compilePolicy> {
    const key = `${url.scheme}|${url.binding}|${text}`;
    const hit = this.policies.get(key);
    if (hit) return { ok: true, policy: hit };
    const res = compilePolicy(text, { endpointType: 'cloud', protocol: url.scheme, binding: url.binding });
    if (res.ok) {
      if (this.policies.size > 1000) this.policies.clear();
      this.policies.set(key, res.policy);
    }
    return res;
  }

  private apply(r: StoredRecord, prev: StoredRecord | undefined): void {
    switch (r.kind) {
      case 'endpoint':
        return this.applyEndpoint(r as unknown as StoredRecord<EndpointData>);
      case 'authtoken':
        return this.applyCredential(this.authtokens, r as unknown as StoredRecord<CredentialData>, prev as unknown as StoredRecord<CredentialData> | undefined, true);
      case 'api_key':
        return this.applyCredential(this.apiKeys, r as unknown as StoredRecord<CredentialData>, prev as unknown as StoredRecord<CredentialData> | undefined, false);
      case 'domain':
        return this.applyDomain(r as unknown as StoredRecord<DomainData>, prev as unknown as StoredRecord<DomainData> | undefined);
      case 'account':
        return;
    }
  }

  private applyEndpoint(r: StoredRecord<EndpointData>): void {
    if (r.deleted) {
      if (this.registry.remove(r.id)) this.log.info('cloud endpoint deleted', { endpoint: r.id });
      return;
    }
    const d = r.data;
    try {
      const url = parseEndpointUrl(d.url, 'url', d.binding);
      const res = this.compileCloud(d.traffic_policy, url);
      if (!res.ok) {
        this.log.error('cloud endpoint policy does not compile here; endpoint kept offline', { endpoint: r.id, issues: res.issues.slice(0, 3) });
        this.registry.remove(r.id);
        return;
      }
      const ep = this.makeEndpoint({ id: r.id, account: r.account, url, poolingEnabled: d.pooling_enabled, policy: res.policy, description: d.description, metadata: d.metadata, createdAt: new Date(d.created_at) });
      this.registry.replace(ep);
      this.log.debug('cloud endpoint online', { endpoint: r.id, url: url.url });
    } catch (e) {
      if (!isMeshgateError(e)) throw e;
      this.registry.remove(r.id);
      this.log.error('cloud endpoint kept offline', { endpoint: r.id, url: d.url, code: e.code, detail: e.message });
    }
  }

  private applyCredential(table: Map<string, Principal>, r: StoredRecord<CredentialData>, prev: StoredRecord<CredentialData> | undefined, isAuthtoken: boolean): void {
    if (prev && !prev.deleted) table.delete(prev.data.hash);
    if (r.deleted) {
      if (isAuthtoken && prev && !prev.deleted) this.onAuthtokenRevoked?.(r.id);
      return;
    }
    table.set(r.data.hash, { account: r.account, credentialId: r.id });
  }

  private applyDomain(r: StoredRecord<DomainData>, prev: StoredRecord<DomainData> | undefined): void {
    if (prev && !prev.deleted) this.domains.delete(prev.data.domain);
    if (!r.deleted) this.domains.set(r.data.domain, { account: r.account, id: r.id });
  }
}
