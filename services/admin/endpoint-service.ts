/**
 * EndpointService: cloud endpoints are created, changed and deleted through the store (and so on
 * every edge); agent endpoints are listed read-only from the registry, which holds the local
 * ones and, through presence, every other edge's.
 *
 * A write is checked whole before anything is stored — URL, binding, domain reservation, policy
 * (compiled as the edges will run it), pool membership, lengths — so a refused call changes
 * nothing anywhere.
 */
import { randomBytes } from 'node:crypto';
import { parseEndpointUrl, type EndpointUrl } from '../core/endpoint-url.js';
import { MeshgateError } from '../core/errors.js';
import type { Endpoint as LiveEndpoint } from '../edge/endpoints/endpoint.js';
import type { EndpointData, StoredRecord } from '../edge/store/record.js';
import type {
  CreateEndpointRequest,
  DeleteEndpointResponse,
  Endpoint,
  EndpointServiceServer,
  ListEndpointsRequest,
  ListEndpointsResponse,
  UpdateEndpointRequest,
} from '../gen/admin.js';
import { accountOf, checkLength, nowIso, requireId, unary, type AdminContext } from './admin-context.js';
import { compileEndpointFilter } from './endpoint-filter.js';
import { pageOf } from './paging.js';

const MAX_DESCRIPTION = 255;
const MAX_METADATA = 4096;

export function endpointService(cx: AdminContext): EndpointServiceServer {
  return {
    createEndpoint: unary(cx, 'CreateEndpoint', async (req: CreateEndpointRequest, caller) => {
      const account = accountOf(caller);
      const id = 'ep_' + randomBytes(8).toString('hex');
      const now = nowIso();
      const data = checkEndpoint(cx, account, id, {
        url: req.url,
        binding: req.binding,
        traffic_policy: req.trafficPolicy,
        pooling_enabled: req.poolingEnabled,
        description: req.description,
        metadata: req.metadata,
        created_at: now,
        updated_at: now,
        source: 'api',
      });
      const rec = await cx.store.write('endpoint', id, account, data);
      cx.log.info('cloud endpoint created', { endpoint: id, account, url: data.url });
      return cloudMessage(cx, rec);
    }),

    getEndpoint: unary(cx, 'GetEndpoint', (req, caller) => {
      const account = accountOf(caller);
      const id = requireId('id', req.id);
      const rec = cx.store.get<EndpointData>('endpoint', id);
      if (rec && rec.account === account) return cloudMessage(cx, rec);
      const live = cx.registry.get(id);
      if (live && live.type === 'agent' && live.account === account) return agentMessage(cx, live);
      throw notFound(id);
    }),

    listEndpoints: unary(cx, 'ListEndpoints', (req: ListEndpointsRequest, caller): ListEndpointsResponse => {
      const account = accountOf(caller);
      const keep = compileEndpointFilter(req.filter);
      const all: Endpoint[] = [];
      for (const rec of cx.store.list<EndpointData>('endpoint', account)) all.push(cloudMessage(cx, rec));
      for (const ep of cx.registry.list()) if (ep.type === 'agent' && ep.account === account) all.push(agentMessage(cx, ep));
      all.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
      const matching = all.filter((e) => keep(filterView(e)));
      const page = pageOf(matching, req.pageSize, req.pageToken, req.filter);
      return { endpoints: page.items, nextPageToken: page.next };
    }),

    updateEndpoint: unary(cx, 'UpdateEndpoint', async (req: UpdateEndpointRequest, caller) => {
      const account = accountOf(caller);
      const id = requireId('id', req.id);
      const cur = ownCloudEndpoint(cx, account, id, 'it is changed by restarting its agent, not through the admin API');
      const d = cur.data;
      const next = checkEndpoint(cx, account, id, {
        ...d,
        url: req.url ?? d.url,
        // a new URL re-derives its binding; the old one is kept otherwise
        binding: req.url !== undefined ? '' : d.binding,
        traffic_policy: req.trafficPolicy ?? d.traffic_policy,
        pooling_enabled: req.poolingEnabled ?? d.pooling_enabled,
        description: req.description ?? d.description,
        metadata: req.metadata ?? d.metadata,
        updated_at: nowIso(),
        source: 'api',
        seed_hash: undefined,
      });
      const rec = await cx.store.write('endpoint', id, account, next);
      cx.log.info('cloud endpoint updated', { endpoint: id, account, url: next.url });
      return cloudMessage(cx, rec);
    }),

    deleteEndpoint: unary(cx, 'DeleteEndpoint', async (req, caller): Promise<DeleteEndpointResponse> => {
      const account = accountOf(caller);
      const id = requireId('id', req.id);
      ownCloudEndpoint(cx, account, id, 'stop its agent to take it offline');
      await cx.store.write('endpoint', id, account, null);
      cx.log.info('cloud endpoint deleted', { endpoint: id, account });
      return {};
    }),
  };
}

/** The account's cloud endpoint `id`; agent endpoints are refused with `agentHint`, others are NOT_FOUND. */
function ownCloudEndpoint(cx: AdminContext, account: string, id: string, agentHint: string): StoredRecord<EndpointData> {
  const cur = cx.store.get<EndpointData>('endpoint', id);
  if (cur && cur.account === account) return cur;
  const live = cx.registry.get(id);
  if (live && live.type === 'agent' && live.account === account) {
    throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'id', detail: `${id} is an agent endpoint; ${agentHint}` });
  }
  throw notFound(id);
}

function notFound(id: string): MeshgateError {
  return new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'id', detail: `no endpoint '${id}' in this account` });
}

/** Validates a cloud endpoint as it would be stored; returns the normalised data or throws naming the field. */
function checkEndpoint(cx: AdminContext, account: string, id: string, d: Omit<EndpointData, 'binding'> & { binding: string }): EndpointData {
  if (!d.url) throw new MeshgateError('MG_ENDPOINT_URL_INVALID', { field: 'url', detail: 'is required, e.g. https://api.example.com or https://foo.internal' });
  const url = parseEndpointUrl(d.url, 'url', d.binding || undefined);
  if (url.scheme !== 'http' && url.scheme !== 'https') {
    throw new MeshgateError('MG_ENDPOINT_URL_INVALID', { field: 'url', detail: `'${d.url}': cloud endpoints are http:// or https:// (tcp and tls endpoints are served by agents)` });
  }
  checkLength('description', d.description, MAX_DESCRIPTION);
  checkLength('metadata', d.metadata, MAX_METADATA);
  checkReservation(cx, account, url);
  if (!d.traffic_policy.trim()) {
    throw new MeshgateError('MG_POLICY_INVALID', { field: 'traffic_policy', detail: 'is required: a cloud endpoint has no upstream, its policy must end in a terminating action (forward-internal, custom-response, deny, ...)' });
  }
  const res = cx.live.compileCloud(d.traffic_policy, url);
  if (!res.ok) throw new MeshgateError('MG_POLICY_INVALID', { field: 'traffic_policy', issues: res.issues.map((i) => ({ ...i, path: `traffic_policy.${i.path}` })) });
  // Pool membership, checked against the pool as it would be without this endpoint's old self.
  cx.registry.checkAdd({ account, url, poolingEnabled: d.pooling_enabled }, id);
  return { ...d, url: url.url, binding: url.binding, pooling_enabled: d.pooling_enabled };
}

/** Public hosts need a reservation of the account (exact, or a wildcard covering the host). */
function checkReservation(cx: AdminContext, account: string, url: EndpointUrl): void {
  if (url.binding !== 'public') return;
  const owner = cx.live.domainOwner(url.host);
  if (owner === account) return;
  throw new MeshgateError('MG_DOMAIN_NOT_RESERVED', {
    field: 'url',
    detail: `'${url.host}' is not reserved by this account; reserve it first (meshgate domains create ${url.host}${url.wildcard ? '' : ` or a wildcard such as *.${url.host.split('.').slice(1).join('.')}`})`,
  });
}

function cloudMessage(cx: AdminContext, rec: StoredRecord<EndpointData>): Endpoint {
  const d = rec.data;
  const live = cx.registry.get(rec.id);
  return {
    id: rec.id,
    url: d.url,
    type: 'cloud',
    binding: d.binding,
    poolingEnabled: d.pooling_enabled,
    trafficPolicy: d.traffic_policy,
    description: d.description,
    metadata: d.metadata,
    region: '',
    nodeId: '',
    pools: live ? poolIds(cx, live) : [],
    upstreamUrl: '',
    createdAt: d.created_at,
    updatedAt: d.updated_at,
  };
}

function agentMessage(cx: AdminContext, ep: LiveEndpoint): Endpoint {
  const created = ep.createdAt.toISOString();
  return {
    id: ep.id,
    url: ep.url.url,
    type: 'agent',
    binding: ep.url.binding,
    poolingEnabled: ep.poolingEnabled,
    trafficPolicy: ep.policy?.source ?? '',
    description: ep.description,
    metadata: ep.metadata,
    region: ep.region,
    nodeId: ep.nodeId,
    pools: poolIds(cx, ep),
    upstreamUrl: ep.upstreamUrl,
    createdAt: created,
    updatedAt: created,
  };
}

function poolIds(cx: AdminContext, ep: LiveEndpoint): string[] {
  return cx.registry.poolOf(ep).filter((m) => m.id !== ep.id).map((m) => m.id).sort();
}

/** What the filter's `obj` sees: the proto's snake_case names. */
function filterView(e: Endpoint): Record<string, unknown> {
  return {
    id: e.id,
    url: e.url,
    type: e.type,
    binding: e.binding,
    pooling_enabled: e.poolingEnabled,
    traffic_policy: e.trafficPolicy,
    description: e.description,
    metadata: e.metadata,
    region: e.region,
    node_id: e.nodeId,
    pools: e.pools,
    upstream_url: e.upstreamUrl,
    created_at: e.createdAt,
    updated_at: e.updatedAt,
  };
}

