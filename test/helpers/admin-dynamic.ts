/**
 * An admin API client built only from proto/admin.proto at run time (@grpc/proto-loader), with
 * no meshgate code: what a user's own tooling would do. Calls return promises; errors are
 * grpc ServiceErrors (code, details, metadata).
 */
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { join } from 'node:path';
import { REPO_ROOT } from './procs.js';

const definition = loader.loadSync(join(REPO_ROOT, 'proto', 'admin.proto'), { keepCase: true, longs: Number, defaults: true, oneofs: true, includeDirs: [join(REPO_ROOT, 'proto')] });
const pkg = (grpc.loadPackageDefinition(definition) as any).meshgate.admin.v1;

export type Call = (method: string, req?: Record<string, unknown>) => Promise<any>;

export interface DynamicAdmin {
  endpoints: Call;
  domains: Call;
  authtokens: Call;
  apiKeys: Call;
  accounts: Call;
  server: Call;
  inspector: Call;
  close(): void;
}

/** A client of the edge at `addr` acting with `apiKey` (and `account`, for the admin key). */
export function dynamicAdmin(addr: string, apiKey: string, account?: string): DynamicAdmin {
  const clients: grpc.Client[] = [];
  const service = (name: string): Call => {
    const c = new pkg[name](addr, grpc.credentials.createInsecure());
    clients.push(c);
    return (method, req = {}) =>
      new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        if (apiKey) md.set('authorization', `Bearer ${apiKey}`);
        if (account) md.set('meshgate-account', account);
        c[method](req, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
      });
  };
  return {
    endpoints: service('EndpointService'),
    domains: service('DomainService'),
    authtokens: service('AuthtokenService'),
    apiKeys: service('ApiKeyService'),
    accounts: service('AccountService'),
    server: service('ServerService'),
    inspector: service('InspectorService'),
    close: () => clients.forEach((c) => c.close()),
  };
}

/** Awaits a call that must fail; returns its gRPC code, message and meshgate code/field. */
export async function refusal(p: Promise<unknown>): Promise<{ code: number; details: string; mg: string; field: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details, mg: String(err.metadata?.get('meshgate-error-code')[0] ?? ''), field: String(err.metadata?.get('meshgate-error-field')[0] ?? '') };
  }
  throw new Error('the call succeeded but was expected to fail');
}

export { grpc };
