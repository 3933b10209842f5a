/**
 * `meshgate endpoints create|list|get|update|delete`: cloud endpoints through the admin API
 * (EndpointService). `list` and `get` also show the account's agent endpoints (read-only).
 *
 * `list` follows page tokens until the last page, so it shows every endpoint; `--page-size N`
 * sets how many each call fetches, `--page-token T` starts at a token and `--one-page` stops
 * after one page (its `next_page_token` is in the `--json` output and hinted on stderr).
 */
import { MeshgateError } from '../../core/errors.js';
import type { Endpoint, ListEndpointsResponse, UpdateEndpointRequest } from '../../gen/admin.js';
import { boolFlag, dispatch, JSON_FLAG, positionals, printJson, readFlagFile, type CommandContext, type Subcommand } from '../admin-command.js';
import { stringFlag, type Parsed } from '../flags.js';
import { formatFields, formatTable, truncate } from '../output.js';

/** Most pages `list` follows, against a server that never ends. */
const MAX_PAGES = 10_000;

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: {
    usage:
      'endpoints create --url URL (--traffic-policy-file F | --traffic-policy TEXT) [--pooling-enabled] [--binding public|internal] [--description D] [--metadata M] [--json]',
    flags: {
      url: { type: 'string' },
      'traffic-policy-file': { type: 'string' },
      'traffic-policy': { type: 'string' },
      'pooling-enabled': { type: 'string' },
      binding: { type: 'string' },
      description: { type: 'string' },
      metadata: { type: 'string' },
      ...JSON_FLAG,
    },
    boolFlags: ['pooling-enabled'],
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const url = stringFlag(p, 'url');
      if (!url) throw new MeshgateError('MG_FLAG_INVALID', { field: '--url', detail: `is required, e.g. https://api.example.com or https://foo.internal\nusage: ${ctx.usage}` });
      const policy = await policyFrom(p);
      if (policy === undefined) {
        throw new MeshgateError('MG_FLAG_INVALID', {
          field: '--traffic-policy-file',
          detail: `a cloud endpoint needs a Traffic Policy that ends in a terminating action: give --traffic-policy-file F or --traffic-policy TEXT\nusage: ${ctx.usage}`,
        });
      }
      const binding = stringFlag(p, 'binding') ?? '';
      if (binding && binding !== 'public' && binding !== 'internal') throw new MeshgateError('MG_FLAG_INVALID', { field: '--binding', detail: `must be public or internal, got '${binding}'` });
      const pooling = stringFlag(p, 'pooling-enabled');
      const c = ctx.client();
      const ep = await c.call(c.endpoints.createEndpoint.bind(c.endpoints), {
        url,
        trafficPolicy: policy,
        poolingEnabled: pooling !== undefined ? boolFlag('pooling-enabled', pooling) : false,
        binding,
        description: stringFlag(p, 'description') ?? '',
        metadata: stringFlag(p, 'metadata') ?? '',
      });
      if (p.values.json) printJson(ctx, ep);
      else ctx.out(`created cloud endpoint ${ep.id} on ${ep.url}\n\n${endpointTable([ep])}`);
      return 0;
    },
  },

  list: {
    usage: 'endpoints list [--filter CEL] [--page-size N] [--page-token T] [--one-page] [--json]',
    flags: {
      filter: { type: 'string' },
      'page-size': { type: 'string' },
      'page-token': { type: 'string' },
      'one-page': { type: 'boolean' },
      ...JSON_FLAG,
    },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const sizeText = stringFlag(p, 'page-size');
      let pageSize = 0;
      if (sizeText !== undefined) {
        pageSize = Number(sizeText);
        if (!/^\d+$/.test(sizeText) || pageSize < 1 || pageSize > 1000) throw new MeshgateError('MG_FLAG_INVALID', { field: '--page-size', detail: `must be a number from 1 to 1000, got '${sizeText}'` });
      }
      const filter = stringFlag(p, 'filter') ?? '';
      const res = await listAll(ctx, filter, pageSize, stringFlag(p, 'page-token') ?? '', p.values['one-page'] === true);
      if (p.values.json) printJson(ctx, res);
      else if (res.endpoints.length === 0) ctx.out(filter ? 'no endpoints match the filter' : 'no endpoints');
      else ctx.out(endpointTable(res.endpoints));
      if (!p.values.json && res.nextPageToken) ctx.err(`more endpoints: meshgate endpoints list --page-token ${res.nextPageToken}${filter ? ' --filter ...' : ''}`);
      return 0;
    },
  },

  get: {
    usage: 'endpoints get ID [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      const [id] = positionals(p, ctx.usage, ['ID']);
      const c = ctx.client();
      const ep = await c.call(c.endpoints.getEndpoint.bind(c.endpoints), { id });
      if (p.values.json) printJson(ctx, ep);
      else ctx.out(endpointDetails(ep));
      return 0;
    },
  },

  update: {
    usage:
      'endpoints update ID [--url URL] [--traffic-policy-file F | --traffic-policy TEXT] [--pooling-enabled=true|false] [--description D] [--metadata M] [--json]',
    flags: {
      url: { type: 'string' },
      'traffic-policy-file': { type: 'string' },
      'traffic-policy': { type: 'string' },
      'pooling-enabled': { type: 'string' },
      description: { type: 'string' },
      metadata: { type: 'string' },
      ...JSON_FLAG,
    },
    boolFlags: ['pooling-enabled'],
    async run(p, ctx) {
      const [id] = positionals(p, ctx.usage, ['ID']);
      const req: UpdateEndpointRequest = { id };
      req.url = stringFlag(p, 'url');
      req.trafficPolicy = await policyFrom(p);
      req.description = stringFlag(p, 'description');
      req.metadata = stringFlag(p, 'metadata');
      const pooling = stringFlag(p, 'pooling-enabled');
      if (pooling !== undefined) req.poolingEnabled = boolFlag('pooling-enabled', pooling);
      const changes = Object.entries(req).filter(([k, v]) => k !== 'id' && v !== undefined);
      if (changes.length === 0) {
        throw new MeshgateError('MG_FLAG_INVALID', { detail: `nothing to change: give at least one of --url, --traffic-policy-file, --traffic-policy, --pooling-enabled, --description, --metadata\nusage: ${ctx.usage}` });
      }
      const c = ctx.client();
      const ep = await c.call(c.endpoints.updateEndpoint.bind(c.endpoints), req);
      if (p.values.json) printJson(ctx, ep);
      else ctx.out(`updated ${ep.id} (${changes.map(([k]) => k.replace(/[A-Z]/g, (x) => '_' + x.toLowerCase())).join(', ')})\n\n${endpointTable([ep])}`);
      return 0;
    },
  },

  delete: {
    usage: 'endpoints delete ID',
    async run(p, ctx) {
      const [id] = positionals(p, ctx.usage, ['ID']);
      const c = ctx.client();
      await c.call(c.endpoints.deleteEndpoint.bind(c.endpoints), { id });
      ctx.out(`deleted endpoint ${id}`);
      return 0;
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return dispatch('endpoints', argv, SUBCOMMANDS, { ls: 'list', rm: 'delete' });
}

/** The policy text from --traffic-policy-file or --traffic-policy (not both); undefined when neither. */
async function policyFrom(p: Parsed): Promise<string | undefined> {
  const file = stringFlag(p, 'traffic-policy-file');
  const text = stringFlag(p, 'traffic-policy');
  if (file !== undefined && text !== undefined) throw new MeshgateError('MG_FLAG_INVALID', { field: '--traffic-policy', detail: 'give either --traffic-policy-file or --traffic-policy, not both' });
  if (file !== undefined) return readFlagFile('traffic-policy-file', file);
  return text;
}

/** Fetches pages until the last one (or just one with `onePage`), as one response. */
async function listAll(ctx: CommandContext, filter: string, pageSize: number, pageToken: string, onePage: boolean): Promise<ListEndpointsResponse> {
  const c = ctx.client();
  const endpoints: Endpoint[] = [];
  let token = pageToken;
  const seen = new Set<string>();
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await c.call(c.endpoints.listEndpoints.bind(c.endpoints), { filter, pageSize, pageToken: token });
    endpoints.push(...page.endpoints);
    if (!page.nextPageToken || onePage || seen.has(page.nextPageToken)) return { endpoints, nextPageToken: onePage ? page.nextPageToken : '' };
    seen.add(page.nextPageToken);
    token = page.nextPageToken;
  }
  return { endpoints, nextPageToken: token };
}

const COLUMNS = ['ID', 'URL', 'TYPE', 'BINDING', 'POOL', 'REGION', 'DESCRIPTION'] as const;

/**
 * The endpoints as a table. POOL: `-` when pooling is off, else the number of other members;
 * REGION: the agent's edge region, `all` for cloud endpoints (they serve on every edge).
 */
export function endpointTable(eps: readonly Endpoint[]): string {
  return formatTable(
    COLUMNS,
    eps.map((e) => [e.id, e.url, e.type, e.binding, e.poolingEnabled ? String(e.pools.length) : '-', e.region || (e.type === 'cloud' ? 'all' : '-'), truncate(e.description, 40)]),
  );
}

/** One endpoint as `key  value` lines, the policy last. */
export function endpointDetails(e: Endpoint): string {
  const pairs: Array<[string, unknown]> = [
    ['id', e.id],
    ['url', e.url],
    ['type', e.type],
    ['binding', e.binding],
    ['pooling', e.poolingEnabled ? `enabled${e.pools.length ? ` (with ${e.pools.join(', ')})` : ' (serving alone)'}` : 'disabled'],
    ['region', e.region || (e.type === 'cloud' ? 'all (cloud endpoint)' : '-')],
  ];
  if (e.nodeId) pairs.push(['node', e.nodeId]);
  if (e.upstreamUrl) pairs.push(['upstream', e.upstreamUrl]);
  pairs.push(['description', e.description], ['metadata', e.metadata], ['created', e.createdAt], ['updated', e.updatedAt]);
  pairs.push(['traffic_policy', e.trafficPolicy.includes('\n') ? e.trafficPolicy : e.trafficPolicy || '(none)']);
  return formatFields(pairs);
}
