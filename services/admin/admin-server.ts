/**
 * The gRPC admin API server of an edge (proto/admin.proto), on `listen.admin`. Every edge serves
 * the whole API from its own copy of the store; writes replicate to the others.
 */
import * as grpc from '@grpc/grpc-js';
import { MeshgateError } from '../core/errors.js';
import {
  AccountServiceService,
  ApiKeyServiceService,
  AuthtokenServiceService,
  DomainServiceService,
  EndpointServiceService,
  ServerServiceService,
  type ServerServiceServer,
} from '../gen/admin.js';
import { accountService } from './account-service.js';
import { unary, type AdminContext } from './admin-context.js';
import { apiKeyService, authtokenService } from './credential-service.js';
import { domainService } from './domain-service.js';
import { endpointService } from './endpoint-service.js';

export class AdminServer {
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 4 << 20 });

  constructor(readonly cx: AdminContext) {
    this.server.addService(EndpointServiceService, endpointService(cx));
    this.server.addService(DomainServiceService, domainService(cx));
    this.server.addService(AuthtokenServiceService, authtokenService(cx));
    this.server.addService(ApiKeyServiceService, apiKeyService(cx));
    this.server.addService(AccountServiceService, accountService(cx));
    this.server.addService(ServerServiceService, serverService(cx));
  }

  /** Adds another service of admin.proto (the InspectorService, made by the edge). Call before `listen`. */
  addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, impl);
  }

  /** Binds `host:port`; resolves with the bound address. */
  listen(host: string, port: number): Promise<string> {
    const h = host.includes(':') ? `[${host}]` : host;
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`${h}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err
          ? reject(new MeshgateError('MG_CONFIG_INVALID', { field: 'listen.admin', detail: `cannot listen on ${h}:${port}: ${/listen (\w+)/.exec(err.message)?.[1] ?? err.message}`, cause: err }))
          : resolve(`${h}:${p}`),
      ),
    );
  }

  close(): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        r();
      }, 2_000);
      t.unref();
      this.server.tryShutdown(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}

function serverService(cx: AdminContext): ServerServiceServer {
  return {
    health: unary(cx, 'Health', () => ({ status: cx.draining() ? 'DRAINING' : 'SERVING' }), true),
    getServerInfo: unary(cx, 'GetServerInfo', (_req, caller) => ({
      nodeId: cx.nodeId,
      region: cx.region,
      version: cx.version,
      store: cx.store.replicatorName === 'redis' ? 'redis' : 'embedded',
      peers: cx.peers(),
      account: caller.account,
      storeRecords: cx.store.size,
    })),
  };
}
