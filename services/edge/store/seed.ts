/**
 * Seeds the admin store from edge.yaml at start: accounts, their authtokens, API keys and
 * domains, and the cloud endpoints. Ids derive from the content (account + secret, domain,
 * account + url + entry path), so every edge with the same file seeds the same records.
 *
 * A declaration is written when the store has no record of it yet, or — for cloud endpoints —
 * when the store's record came from the config and the entry has changed since (its
 * `seed_hash`). Records changed or deleted through the admin API are left as they are; removing
 * an entry from edge.yaml does not delete it from the store (use the admin API for that).
 *
 * Cloud endpoint policies are compiled first: a bad one stops the edge at start with
 * MG_CONFIG_INVALID naming the entry, as before the store existed.
 */
import { createHash } from 'node:crypto';
import { parseEndpointUrl } from '../../core/endpoint-url.js';
import { MeshgateError, isMeshgateError, type Issue } from '../../core/errors.js';
import { compilePolicy } from '../../policy/index.js';
import type { EdgeConfig } from '../config.js';
import type { ConfigStore } from './config-store.js';
import { sha256Hex } from './live-config.js';
import type { AccountData, CredentialData, DomainData, EndpointData, RecordKind } from './record.js';

const short = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

export const credentialId = (prefix: 'at' | 'ak', account: string, secret: string): string => `${prefix}_${short(`${account}\0${secret}`)}`;
export const domainId = (domain: string): string => `rd_${short(domain.toLowerCase())}`;
export const configEndpointId = (account: string, url: string, path: string): string => 'ep_' + short(`${account}\0${url}\0${path}`);

/** Checks the cloud endpoints of the config; throws MG_CONFIG_INVALID listing every problem. */
export function checkConfigEndpoints(config: EdgeConfig): void {
  const issues: Issue[] = [];
  for (const ce of config.cloudEndpoints) {
    try {
      const url = parseEndpointUrl(ce.url, `${ce.path}.url`);
      const res = compilePolicy(ce.trafficPolicy, { endpointType: 'cloud', protocol: url.scheme, binding: url.binding });
      if (!res.ok) for (const i of res.issues) issues.push({ ...i, path: `${ce.path}.traffic_policy: ${i.path}` });
    } catch (e) {
      if (!isMeshgateError(e)) throw e;
      issues.push({ path: ce.path, message: `${e.message} [${e.code}]` });
    }
  }
  if (issues.length) throw new MeshgateError('MG_CONFIG_INVALID', { detail: 'cloud_endpoints are invalid', issues });
}

/** Writes what edge.yaml declares into the store (see the file comment). */
export async function seedStore(store: ConfigStore, config: EdgeConfig): Promise<number> {
  checkConfigEndpoints(config);
  const now = new Date().toISOString();
  let written = 0;
  const seedIfAbsent = async (kind: RecordKind, id: string, account: string, data: object): Promise<void> => {
    if (known(store, kind, id)) return;
    await store.write(kind, id, account, data, { allowOffline: true });
    written++;
  };
  for (const a of config.accounts) {
    await seedIfAbsent('account', a.name, '', { description: 'declared in edge.yaml', created_at: now, source: 'config' } satisfies AccountData);
    for (const t of a.authtokens) {
      await seedIfAbsent('authtoken', credentialId('at', a.name, t), a.name, { hash: sha256Hex(t), description: 'declared in edge.yaml', created_at: now, source: 'config' } satisfies CredentialData);
    }
    for (const k of a.apiKeys) {
      await seedIfAbsent('api_key', credentialId('ak', a.name, k), a.name, { hash: sha256Hex(k), description: 'declared in edge.yaml', created_at: now, source: 'config' } satisfies CredentialData);
    }
    for (const d of a.domains) {
      await seedIfAbsent('domain', domainId(d), a.name, { domain: d, description: 'declared in edge.yaml', created_at: now, source: 'config' } satisfies DomainData);
    }
  }
  for (const ce of config.cloudEndpoints) {
    const url = parseEndpointUrl(ce.url, `${ce.path}.url`);
    const id = configEndpointId(ce.account, url.url, ce.path);
    const seedHash = short(JSON.stringify([url.url, url.binding, ce.trafficPolicy, ce.poolingEnabled, ce.description, ce.metadata]));
    const cur = store.get<EndpointData>('endpoint', id);
    if (cur ? cur.data.source !== 'config' || cur.data.seed_hash === seedHash : known(store, 'endpoint', id)) continue;
    const data: EndpointData = {
      url: url.url,
      binding: url.binding,
      traffic_policy: ce.trafficPolicy,
      pooling_enabled: ce.poolingEnabled,
      description: ce.description,
      metadata: ce.metadata,
      created_at: cur?.data.created_at ?? now,
      updated_at: now,
      source: 'config',
      seed_hash: seedHash,
    };
    await store.write('endpoint', id, ce.account, data, { allowOffline: true });
    written++;
  }
  return written;
}

/** Whether the store holds the record, live or deleted. */
function known(store: ConfigStore, kind: RecordKind, id: string): boolean {
  return store.raw(kind, id) !== undefined;
}
