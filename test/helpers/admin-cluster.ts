/**
 * A test cluster of admin-enabled edges (listen.admin, bootstrap admin key, accounts acme and
 * globex with API keys and reserved domains), optionally with data dirs or a Redis store.
 */
import { CLUSTER_SECRET, startEdge, type EdgeHandle } from './gateway.js';

export const ADMIN_KEY = 'admin-key-0123456789abcdef';
export const ACME_KEY = 'acme-key-0123456789abcdef';
export const GLOBEX_KEY = 'globex-key-0123456789abcd';

export interface AdminEdge extends EdgeHandle {
  admin: string;
  peer: string;
}

/** edge.yaml of one admin-enabled edge; `store` adds data_dir and/or redis. */
export function adminEdgeYaml(region: string, peers: string[], store: { dataDir?: string; redis?: string } = {}): string {
  return `
region: ${region}
node_id: ${region}-1
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", peer: "127.0.0.1:0", admin: "127.0.0.1:0"}
peers: [${peers.map((p) => `"${p}"`).join(', ')}]
cluster_secret: ${CLUSTER_SECRET}
presence_profile: local
admin_api_key: ${ADMIN_KEY}${store.dataDir ? `\ndata_dir: ${store.dataDir}` : ''}${store.redis ? `\nredis: ${store.redis}` : ''}
accounts:
  - {name: acme, authtokens: [tok_acme], api_keys: [${ACME_KEY}], domains: [api.example.com, "*.apps.example.com"]}
  - {name: globex, authtokens: [tok_globex], api_keys: [${GLOBEX_KEY}], domains: [globex.example.com]}
`;
}

export async function startAdminEdge(region: string, peers: string[], store: { dataDir?: string; redis?: string } = {}): Promise<AdminEdge> {
  const h = await startEdge(adminEdgeYaml(region, peers, store), {}, `admin-${region}`);
  const ready = h.proc.logs().find((l) => l.msg === 'ready')!;
  return { ...h, admin: ready.listeners.admin, peer: ready.listeners.peer };
}

/** eu first, then us and jp seeded with eu's peer address. */
export async function startAdminCluster(stores: Record<string, { dataDir?: string; redis?: string }> = {}): Promise<Record<string, AdminEdge>> {
  const eu = await startAdminEdge('eu', [], stores.eu);
  const [us, jp] = await Promise.all(['us', 'jp'].map((r) => startAdminEdge(r, stores.eu?.redis ? [] : [eu.peer], stores[r])));
  return { eu, us, jp };
}

export const customPolicy = (body: string): string => `on_http_request:\n  - actions: [{type: custom-response, config: {status_code: 200, body: "${body}"}}]\n`;

