/**
 * AccountService (bootstrap admin key only). Deleting an account deletes everything it owns —
 * cloud endpoints, domains, authtokens (its agents are disconnected), API keys — then the
 * account itself, each as a replicated delete.
 */
import { MeshgateError } from '../core/errors.js';
import type { AccountData, StoredRecord } from '../edge/store/record.js';
import type { Account, AccountServiceServer } from '../gen/admin.js';
import { checkLength, nowIso, requireAdmin, unary, type AdminContext } from './admin-context.js';

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function accountService(cx: AdminContext): AccountServiceServer {
  return {
    createAccount: unary(cx, 'CreateAccount', async (req, caller) => {
      requireAdmin(caller);
      if (!NAME_RE.test(req.name)) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'name', detail: `'${req.name}' must be 1 to 64 letters, digits, _ . -` });
      checkLength('description', req.description, 255);
      if (cx.store.get('account', req.name)) throw new MeshgateError('MG_RESOURCE_EXISTS', { field: 'name', detail: `account '${req.name}' exists` });
      const rec = await cx.store.write('account', req.name, '', { description: req.description, created_at: nowIso(), source: 'api' } satisfies AccountData);
      cx.log.info('account created', { account: req.name });
      return message(rec);
    }),
    listAccounts: unary(cx, 'ListAccounts', (_req, caller) => {
      requireAdmin(caller);
      return { accounts: cx.store.list<AccountData>('account').map(message).sort((a, b) => a.name.localeCompare(b.name)) };
    }),
    deleteAccount: unary(cx, 'DeleteAccount', async (req, caller) => {
      requireAdmin(caller);
      if (!cx.store.get('account', req.name)) throw new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'name', detail: `no account '${req.name}'` });
      for (const kind of ['endpoint', 'domain', 'authtoken', 'api_key', 'inspect'] as const) {
        for (const r of cx.store.list(kind, req.name)) await cx.store.write(kind, r.id, req.name, null);
      }
      await cx.store.write('account', req.name, '', null);
      cx.log.info('account deleted', { account: req.name });
      return {};
    }),
  };
}

function message(r: StoredRecord<AccountData>): Account {
  return { name: r.id, description: r.data.description, createdAt: r.data.created_at };
}
