/**
 * The Traffic Inspector of one edge: the capture (a request observer), this edge's store of
 * captures, the capture settings, replays, and the cluster view (inspector-peers.ts). The
 * admin API (services/admin/inspector-service.ts) and the console page
 * (services/console/inspector-routes.ts) both call the methods here, with a scope that the
 * caller's API key allows: one account, or every account for the bootstrap admin key.
 */
import { parseEndpointUrl } from '../core/endpoint-url.js';
import { isMeshgateError, MeshgateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { EndpointRegistry, Pool } from '../edge/endpoints/registry.js';
import type { EdgeExchange } from '../edge/forward/exchange.js';
import type { GatewayResponse } from '../edge/forward/gateway-response.js';
import type { RequestObservers } from '../edge/observe/request-observers.js';
import type { ConfigStore } from '../edge/store/config-store.js';
import type { EdgeTracer } from '../telemetry/tracing.js';
import type { InspectData } from '../edge/store/record.js';
import type { Capture, CaptureSettings, ListCapturesRequest, ListCapturesResponse, ReplayRequest, ReplayResult, UpdateCaptureSettingsRequest } from '../gen/admin.js';
import type { GrpcMesh } from '../presence/mesh.js';
import { captureMessage, encodeCursor, pageSize, queryOf } from './capture-message.js';
import { CaptureSettingsTable, settingsId } from './capture-settings.js';
import { CaptureStore, newerFirst } from './capture-store.js';
import { InspectorCapture } from './inspector-capture.js';
import { MAX_MAX_BODY_BYTES, type AccountInspectConfig, type InspectorConfig } from './inspector-config.js';
import { InspectorPeers, type InspectorPeer, type LocalInspector, type Scope } from './inspector-peers.js';
import { replay } from './replay.js';

export type { Scope };

export interface InspectorDeps {
  nodeId: string;
  region: string;
  config: InspectorConfig;
  /** edge.yaml accounts[].inspect by account name. */
  accounts: ReadonlyMap<string, AccountInspectConfig>;
  store: ConfigStore;
  registry: EndpointRegistry;
  /** The edge's pipeline (replays). */
  serve(pool: Pool, x: EdgeExchange): Promise<GatewayResponse>;
  /** The edge's tracer, when tracing is on (replays are traced like requests). */
  tracer(): EdgeTracer | undefined;
  observers: RequestObservers;
  log: Logger;
}

export class Inspector implements LocalInspector {
  readonly captures: CaptureStore;
  readonly settings: CaptureSettingsTable;
  /** The request observer to add to the edge. */
  readonly capture: InspectorCapture;
  private peers?: InspectorPeers;

  constructor(private readonly deps: InspectorDeps) {
    this.captures = new CaptureStore(deps.config.recordsPerEndpoint, deps.config.maxCaptureBytes);
    this.settings = new CaptureSettingsTable(deps.store, deps.accounts);
    this.capture = new InspectorCapture(this.captures, this.settings);
  }

  get nodeId(): string {
    return this.deps.nodeId;
  }
  get region(): string {
    return this.deps.region;
  }

  /** Serves InspectorPeerService on the mesh and asks `peers` from now on. Call before the mesh listens. */
  joinMesh(mesh: GrpcMesh, peers: () => InspectorPeer[]): void {
    this.peers = new InspectorPeers(mesh, peers, this, this.deps.log);
  }

  async stop(): Promise<void> {
    await this.peers?.stop();
  }

  // --- this edge only (also what peers ask) ---

  localList(scope: Scope, req: ListCapturesRequest): Capture[] {
    return this.captures.query(queryOf(req, scope.account)).map((c) => captureMessage(c, this.deps.nodeId, false));
  }

  localGet(scope: Scope, id: string): Capture | undefined {
    const c = this.captures.get(id);
    if (c === undefined || (scope.account !== undefined && c.account !== scope.account)) return undefined;
    return captureMessage(c, this.deps.nodeId, true);
  }

  async localReplay(scope: Scope, req: ReplayRequest): Promise<ReplayResult | undefined> {
    const c = this.captures.get(req.id);
    if (c === undefined || (scope.account !== undefined && c.account !== scope.account)) return undefined;
    const d = this.deps;
    const result = await replay({ registry: d.registry, serve: d.serve, tracer: d.tracer(), observers: d.observers, region: d.region }, c, req, d.nodeId);
    d.log.info('inspector: request replayed', { reqId: result.id, replayOf: req.id, account: c.account, status: result.status });
    return result;
  }

  // --- the cluster ---

  /** Captures of every edge, newest first, one page. */
  async list(scope: Scope, req: ListCapturesRequest): Promise<ListCapturesResponse> {
    const size = pageSize(req.pageSize);
    const local = this.localList(scope, req);
    const remote = req.localOnly || this.peers === undefined ? { captures: [], unreachable: [] } : await this.peers.list(scope, req);
    const seen = new Set<string>();
    const all = [...local, ...remote.captures].filter((c) => !seen.has(c.id) && (seen.add(c.id), true));
    all.sort((a, b) => newerFirst({ startedAt: Date.parse(a.startedAt), id: a.id }, { startedAt: Date.parse(b.startedAt), id: b.id }));
    const page = all.slice(0, size);
    return { captures: page, nextPageToken: all.length > size ? encodeCursor(page[page.length - 1]) : '', unreachableNodes: remote.unreachable.sort() };
  }

  async get(scope: Scope, id: string): Promise<Capture> {
    if (!id) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'id', detail: 'is required' });
    const c = this.localGet(scope, id) ?? (await this.peers?.get(scope, id));
    if (c === undefined) throw notFound(id);
    return c;
  }

  async replay(scope: Scope, req: ReplayRequest): Promise<ReplayResult> {
    if (!req.id) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'id', detail: 'is required' });
    const r = (await this.localReplay(scope, req)) ?? (await this.peers?.replay(scope, req));
    if (r === undefined) throw notFound(req.id);
    return r;
  }

  // --- capture settings (replicated through the admin store) ---

  /** The settings in force for an endpoint (id or URL; '' = the account). */
  getSettings(account: string, endpoint: string): CaptureSettings {
    const url = this.endpointUrl(account, endpoint);
    const s = url ? this.settings.resolve(account, url) : this.accountSettings(account);
    return { endpoint: url, account, full: s.full, maxBodyBytes: s.maxBodyBytes, source: s.source };
  }

  async updateSettings(account: string, req: UpdateCaptureSettingsRequest): Promise<CaptureSettings> {
    const url = this.endpointUrl(account, req.endpoint);
    const id = settingsId(account, url);
    if (req.reset) {
      if (req.full !== undefined || req.maxBodyBytes !== undefined) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'reset', detail: 'give either reset or full / max_body_bytes, not both' });
      if (this.deps.store.get('inspect', id)) await this.deps.store.write('inspect', id, account, null);
    } else {
      if (req.full === undefined && req.maxBodyBytes === undefined) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'full', detail: 'nothing to change: give full, max_body_bytes or reset' });
      const max = req.maxBodyBytes;
      if (max !== undefined && (!Number.isInteger(max) || max < 0 || max > MAX_MAX_BODY_BYTES)) {
        throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'max_body_bytes', detail: `must be 0 to ${MAX_MAX_BODY_BYTES}, got ${max}` });
      }
      const now = url ? this.settings.resolve(account, url) : this.accountSettings(account);
      const data: InspectData = { url, full: req.full ?? now.full, max_body_bytes: max ?? now.maxBodyBytes, updated_at: new Date().toISOString(), source: 'api' };
      await this.deps.store.write('inspect', id, account, data);
    }
    this.deps.log.info('inspector: capture settings changed', { account, endpoint: url || undefined, reset: req.reset || undefined, full: req.full });
    return this.getSettings(account, url);
  }

  /** Endpoint URLs of the account (undefined = every account) for the console's picker: online public ones and those with captures here. */
  endpointUrls(account: string | undefined): Array<{ account: string; url: string; online: boolean }> {
    const out = new Map<string, { account: string; url: string; online: boolean }>();
    for (const ep of this.deps.registry.list()) {
      if (ep.url.binding !== 'public' || (account !== undefined && ep.account !== account)) continue;
      if (ep.url.scheme !== 'http' && ep.url.scheme !== 'https') continue;
      out.set(`${ep.account}|${ep.url.url}`, { account: ep.account, url: ep.url.url, online: true });
    }
    for (const r of this.captures.urls(account)) {
      const k = `${r.account}|${r.url}`;
      if (!out.has(k)) out.set(k, { ...r, online: false });
    }
    return [...out.values()].sort((a, b) => a.url.localeCompare(b.url) || a.account.localeCompare(b.account));
  }

  private accountSettings(account: string): { full: boolean; maxBodyBytes: number; source: 'account' | 'config' | 'default' } {
    const s = this.settings.resolve(account, '');
    return { full: s.full, maxBodyBytes: s.maxBodyBytes, source: s.source === 'endpoint' ? 'account' : s.source };
  }

  /** '' → ''; an endpoint id of the account → its URL; else the URL, canonical. */
  private endpointUrl(account: string, endpoint: string): string {
    if (!endpoint) return '';
    if (/^ep_[0-9a-f]+$/.test(endpoint)) {
      const ep = this.deps.registry.get(endpoint);
      if (!ep || ep.account !== account) throw new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'endpoint', detail: `no endpoint '${endpoint}' is online in account '${account}'` });
      return ep.url.url;
    }
    try {
      return parseEndpointUrl(endpoint, 'endpoint').url;
    } catch (e) {
      if (isMeshgateError(e)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'endpoint', detail: e.message });
      throw e;
    }
  }
}

function notFound(id: string): MeshgateError {
  return new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'id', detail: `no edge holds a captured request '${id}' (the rings keep the newest requests of each endpoint)` });
}
