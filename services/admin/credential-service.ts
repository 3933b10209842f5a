/**
 * AuthtokenService and ApiKeyService: the same model twice. A credential's secret is random
 * (32 bytes, base64url, with a readable prefix), returned once by Create and stored only as its
 * SHA-256. Deleting an authtoken disconnects the agents using it on every edge (each edge acts
 * when the tombstone reaches it); deleting an API key refuses its next call.
 */
import { randomBytes } from 'node:crypto';
import { MeshgateError } from '../core/errors.js';
import { sha256Hex } from '../edge/store/live-config.js';
import type { CredentialData, StoredRecord } from '../edge/store/record.js';
import type { ApiKeyServiceServer, AuthtokenServiceServer, Credential, CreateCredentialRequest, DeleteCredentialRequest } from '../gen/admin.js';
import { accountOf, checkLength, nowIso, requireId, unary, type AdminContext, type Caller } from './admin-context.js';

interface Kind {
  readonly record: 'authtoken' | 'api_key';
  readonly idPrefix: string;
  readonly secretPrefix: string;
  readonly noun: string;
}
const AUTHTOKEN: Kind = { record: 'authtoken', idPrefix: 'at_', secretPrefix: 'mgat_', noun: 'authtoken' };
const API_KEY: Kind = { record: 'api_key', idPrefix: 'ak_', secretPrefix: 'mgak_', noun: 'API key' };

function handlers(cx: AdminContext, k: Kind) {
  const create = async (req: CreateCredentialRequest, caller: Caller): Promise<Credential> => {
    const account = accountOf(caller);
    checkLength('description', req.description, 255);
    const id = k.idPrefix + randomBytes(8).toString('hex');
    const token = k.secretPrefix + randomBytes(32).toString('base64url');
    const rec = await cx.store.write(k.record, id, account, { hash: sha256Hex(token), description: req.description, created_at: nowIso(), source: 'api' } satisfies CredentialData);
    cx.log.info(`${k.noun} created`, { account, id });
    return { ...message(rec), token };
  };
  const list = (_req: unknown, caller: Caller) => ({
    credentials: cx.store.list<CredentialData>(k.record, accountOf(caller)).map(message).sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
  });
  const remove = async (req: DeleteCredentialRequest, caller: Caller) => {
    const account = accountOf(caller);
    const rec = cx.store.get<CredentialData>(k.record, requireId('id', req.id));
    if (!rec || rec.account !== account) throw new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: 'id', detail: `no ${k.noun} '${req.id}' in this account` });
    await cx.store.write(k.record, rec.id, account, null);
    cx.log.info(`${k.noun} revoked`, { account, id: rec.id });
    return {};
  };
  return { create, list, remove };
}

export function authtokenService(cx: AdminContext): AuthtokenServiceServer {
  const h = handlers(cx, AUTHTOKEN);
  return {
    createAuthtoken: unary(cx, 'CreateAuthtoken', h.create),
    listAuthtokens: unary(cx, 'ListAuthtokens', h.list),
    deleteAuthtoken: unary(cx, 'DeleteAuthtoken', h.remove),
  };
}

export function apiKeyService(cx: AdminContext): ApiKeyServiceServer {
  const h = handlers(cx, API_KEY);
  return {
    createApiKey: unary(cx, 'CreateApiKey', h.create),
    listApiKeys: unary(cx, 'ListApiKeys', h.list),
    deleteApiKey: unary(cx, 'DeleteApiKey', h.remove),
  };
}

function message(r: StoredRecord<CredentialData>): Credential {
  return { id: r.id, description: r.data.description, token: '', createdAt: r.data.created_at, account: r.account };
}
