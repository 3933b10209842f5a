/**
 * `meshgate authtokens ...` and `meshgate api-keys ...` are the same commands over two services
 * (AuthtokenService, ApiKeyService): create (the secret is printed once), list, delete.
 */
import type { AdminClient, UnaryMethod } from '../admin/admin-client.js';
import type { CreateCredentialRequest, Credential, DeleteCredentialRequest, DeleteCredentialResponse, ListCredentialsRequest, ListCredentialsResponse } from '../gen/admin.js';
import { dispatch, JSON_FLAG, positionals, printJson, type Subcommand } from './admin-command.js';
import { stringFlag } from './flags.js';
import { formatTable, truncate } from './output.js';

export interface CredentialKind {
  /** The command noun: `authtokens` or `api-keys`. */
  readonly noun: string;
  /** For messages: `authtoken` or `API key`. */
  readonly what: string;
  /** What the secret is for, said when it is printed. */
  readonly usedBy: string;
  create(c: AdminClient): UnaryMethod<CreateCredentialRequest, Credential>;
  list(c: AdminClient): UnaryMethod<ListCredentialsRequest, ListCredentialsResponse>;
  remove(c: AdminClient): UnaryMethod<DeleteCredentialRequest, DeleteCredentialResponse>;
}

export function runCredentialCommand(k: CredentialKind, argv: string[]): Promise<number> {
  const subs: Record<string, Subcommand> = {
    create: {
      usage: `${k.noun} create [--description D] [--json]`,
      flags: { description: { type: 'string' }, ...JSON_FLAG },
      async run(p, ctx) {
        positionals(p, ctx.usage, []);
        const c = ctx.client();
        const cred = await c.call(k.create(c), { description: stringFlag(p, 'description') ?? '' });
        if (p.values.json) printJson(ctx, cred);
        else {
          ctx.out(`created ${k.what} ${cred.id} for account ${cred.account}\n${cred.token}`);
          ctx.err(`Save this ${k.what} now (${k.usedBy}): it is shown only once; the edge keeps only its SHA-256.`);
        }
        return 0;
      },
    },
    list: {
      usage: `${k.noun} list [--json]`,
      flags: { ...JSON_FLAG },
      async run(p, ctx) {
        positionals(p, ctx.usage, []);
        const c = ctx.client();
        const res = await c.call(k.list(c), {});
        if (p.values.json) printJson(ctx, res);
        else ctx.out(res.credentials.length ? credentialTable(res.credentials) : `no ${k.what}s`);
        return 0;
      },
    },
    delete: {
      usage: `${k.noun} delete ID`,
      async run(p, ctx) {
        const [id] = positionals(p, ctx.usage, ['ID']);
        const c = ctx.client();
        await c.call(k.remove(c), { id });
        ctx.out(`revoked ${k.what} ${id}`);
        return 0;
      },
    },
  };
  return dispatch(k.noun, argv, subs, { ls: 'list', rm: 'delete' });
}

export function credentialTable(cs: readonly Credential[]): string {
  return formatTable(['ID', 'ACCOUNT', 'DESCRIPTION', 'CREATED'], cs.map((c) => [c.id, c.account, truncate(c.description, 40), c.createdAt]));
}
