/**
 * `meshgate domains create|list|get|delete`: reserved domains (DomainService). A reservation
 * lets the account put public cloud endpoints on the host (or under the wildcard). `get` and
 * `delete` take the id (`rd_...`) or the domain itself.
 */
import type { Domain } from '../../gen/admin.js';
import type { AdminClient } from '../../admin/admin-client.js';
import { MeshgateError } from '../../core/errors.js';
import { dispatch, JSON_FLAG, positionals, printJson, type Subcommand } from '../admin-command.js';
import { stringFlag } from '../flags.js';
import { formatFields, formatTable, truncate } from '../output.js';

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: {
    usage: 'domains create DOMAIN [--description D] [--json]',
    flags: { description: { type: 'string' }, ...JSON_FLAG },
    async run(p, ctx) {
      const [domain] = positionals(p, ctx.usage, ['DOMAIN']);
      const c = ctx.client();
      const d = await c.call(c.domains.createDomain.bind(c.domains), { domain, description: stringFlag(p, 'description') ?? '' });
      if (p.values.json) printJson(ctx, d);
      else ctx.out(`reserved ${d.domain} (${d.id})`);
      return 0;
    },
  },
  list: {
    usage: 'domains list [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const c = ctx.client();
      const res = await c.call(c.domains.listDomains.bind(c.domains), {});
      if (p.values.json) printJson(ctx, res);
      else ctx.out(res.domains.length ? domainTable(res.domains) : 'no reserved domains');
      return 0;
    },
  },
  get: {
    usage: 'domains get ID|DOMAIN [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      const [ref] = positionals(p, ctx.usage, ['ID']);
      const c = ctx.client();
      const d = await c.call(c.domains.getDomain.bind(c.domains), { id: await domainId(c, ref) });
      if (p.values.json) printJson(ctx, d);
      else ctx.out(formatFields([['id', d.id], ['domain', d.domain], ['description', d.description], ['created', d.createdAt]]));
      return 0;
    },
  },
  delete: {
    usage: 'domains delete ID|DOMAIN',
    async run(p, ctx) {
      const [ref] = positionals(p, ctx.usage, ['ID']);
      const c = ctx.client();
      const id = await domainId(c, ref);
      await c.call(c.domains.deleteDomain.bind(c.domains), { id });
      ctx.out(`released domain ${ref === id ? id : `${ref} (${id})`}`);
      return 0;
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return dispatch('domains', argv, SUBCOMMANDS, { ls: 'list', rm: 'delete' });
}

/** An id as given, or the id of the account's reservation of a domain name (anything with a dot). */
async function domainId(c: AdminClient, ref: string): Promise<string> {
  if (!ref.includes('.')) return ref;
  const res = await c.call(c.domains.listDomains.bind(c.domains), {});
  const want = ref.toLowerCase().replace(/\.$/, '');
  const d = res.domains.find((x) => x.domain === want);
  if (!d) throw new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'ID', detail: `this account has not reserved '${ref}' (see meshgate domains list)` });
  return d.id;
}

export function domainTable(ds: readonly Domain[]): string {
  return formatTable(['ID', 'DOMAIN', 'DESCRIPTION', 'CREATED'], ds.map((d) => [d.id, d.domain, truncate(d.description, 40), d.createdAt]));
}
