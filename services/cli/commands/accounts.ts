/**
 * `meshgate accounts create|list|delete`: accounts (AccountService), with the bootstrap admin key
 * only (edge.yaml `admin_api_key`). Deleting an account deletes everything it owns.
 */
import type { Account } from '../../gen/admin.js';
import { dispatch, JSON_FLAG, positionals, printJson, type Subcommand } from '../admin-command.js';
import { stringFlag } from '../flags.js';
import { formatTable, truncate } from '../output.js';

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: {
    usage: 'accounts create NAME [--description D] [--json]',
    flags: { description: { type: 'string' }, ...JSON_FLAG },
    async run(p, ctx) {
      const [name] = positionals(p, ctx.usage, ['NAME']);
      const c = ctx.client();
      const a = await c.call(c.accounts.createAccount.bind(c.accounts), { name, description: stringFlag(p, 'description') ?? '' });
      if (p.values.json) printJson(ctx, a);
      else ctx.out(`created account ${a.name}\nact on it with the admin key and --account ${a.name} (e.g. meshgate api-keys create --account ${a.name})`);
      return 0;
    },
  },
  list: {
    usage: 'accounts list [--json]',
    flags: { ...JSON_FLAG },
    async run(p, ctx) {
      positionals(p, ctx.usage, []);
      const c = ctx.client();
      const res = await c.call(c.accounts.listAccounts.bind(c.accounts), {});
      if (p.values.json) printJson(ctx, res);
      else ctx.out(res.accounts.length ? accountTable(res.accounts) : 'no accounts');
      return 0;
    },
  },
  delete: {
    usage: 'accounts delete NAME',
    async run(p, ctx) {
      const [name] = positionals(p, ctx.usage, ['NAME']);
      const c = ctx.client();
      await c.call(c.accounts.deleteAccount.bind(c.accounts), { name });
      ctx.out(`deleted account ${name} with its endpoints, domains, authtokens and API keys`);
      return 0;
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return dispatch('accounts', argv, SUBCOMMANDS, { ls: 'list', rm: 'delete' });
}

export function accountTable(as: readonly Account[]): string {
  return formatTable(['NAME', 'DESCRIPTION', 'CREATED'], as.map((a) => [a.name, truncate(a.description, 40), a.createdAt]));
}
