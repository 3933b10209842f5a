/**
 * DomainService: reserved hosts. A reservation is global (one account per host) and is what
 * lets an account put public cloud endpoints on a host; `*.apps.example.com` covers every host
 * under it and wildcard endpoints there. Reserved hosts also keep other accounts' agents off
 * them (registration is refused).
 */
import { MeshgateError } from '../core/errors.js';
import { domainProblem } from '../edge/config.js';
import { hostCandidates } from '../core/endpoint-url.js';
import type { DomainData, EndpointData, StoredRecord } from '../edge/store/record.js';
import { domainId } from '../edge/store/seed.js';
import type { Domain, DomainServiceServer } from '../gen/admin.js';
import { accountOf, checkLength, nowIso, requireId, unary, type AdminContext } from './admin-context.js';

export function domainService(cx: AdminContext): DomainServiceServer {
  const mine = (account: string, id: string): StoredRecord<DomainData> => {
    const rec = cx.store.get<DomainData>('domain', requireId('id', id));
    if (!rec || rec.account !== account) throw new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'id', detail: `no domain '${id}' in this account` });
    return rec;
  };
  return {
    createDomain: unary(cx, 'CreateDomain', async (req, caller) => {
      const account = accountOf(caller);
      const domain = req.domain.trim().toLowerCase().replace(/\.$/, '');
      if (!domain) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'domain', detail: 'is required, e.g. api.example.com or *.apps.example.com' });
      const problem = domainProblem(domain);
      if (problem) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'domain', detail: problem });
      checkLength('description', req.description, 255);
      const id = domainId(domain);
      const cur = cx.store.get<DomainData>('domain', id);
      if (cur) throw new MeshgateError('MG_RESOURCE_EXISTS', { field: 'domain', detail: cur.account === account ? `'${domain}' is already reserved by this account (${id})` : `'${domain}' is reserved by another account` });
      const rec = await cx.store.write('domain', id, account, { domain, description: req.description, created_at: nowIso(), source: 'api' } satisfies DomainData);
      cx.log.info('domain reserved', { account, domain });
      return message(rec);
    }),
    getDomain: unary(cx, 'GetDomain', (req, caller) => message(mine(accountOf(caller), req.id))),
    listDomains: unary(cx, 'ListDomains', (_req, caller) => ({
      domains: cx.store.list<DomainData>('domain', accountOf(caller)).map(message).sort((a, b) => a.domain.localeCompare(b.domain)),
    })),
    deleteDomain: unary(cx, 'DeleteDomain', async (req, caller) => {
      const account = accountOf(caller);
      const rec = mine(account, req.id);
      const users = cx.store.list<EndpointData>('endpoint', account).filter((e) => e.data.binding === 'public' && coveredOnlyBy(cx, account, hostOf(e.data.url), rec));
      if (users.length) {
        throw new MeshgateError('MG_RESOURCE_IN_USE', { field: 'id', detail: `'${rec.data.domain}' is used by cloud endpoint${users.length > 1 ? 's' : ''} ${users.map((u) => `${u.id} (${u.data.url})`).join(', ')}; delete or move them first` });
      }
      await cx.store.write('domain', rec.id, account, null);
      cx.log.info('domain released', { account, domain: rec.data.domain });
      return {};
    }),
  };
}

function message(r: StoredRecord<DomainData>): Domain {
  return { id: r.id, domain: r.data.domain, description: r.data.description, createdAt: r.data.created_at };
}

function hostOf(url: string): string {
  return url.replace(/^[a-z]+:\/\//, '').replace(/:\d+$/, '');
}

/** Whether `host` is covered by `rec` and by no other reservation of the account. */
function coveredOnlyBy(cx: AdminContext, account: string, host: string, rec: StoredRecord<DomainData>): boolean {
  const covering = hostCandidates(host).filter((h) => {
    const d = cx.store.get<DomainData>('domain', domainId(h));
    return d !== undefined && d.account === account;
  });
  return covering.includes(rec.data.domain) && new Set(covering).size === 1;
}
