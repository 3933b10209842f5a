/**
 * What the admin services need from the edge, and how a call is authenticated and handled.
 *
 * Callers: `authorization: Bearer <key>`. An account API key acts on its own account only; the
 * bootstrap admin key (edge.yaml `admin_api_key`) manages accounts and acts on the account named
 * by the `meshgate-account` metadata. Every handler runs through `unary`, which authenticates,
 * runs it and maps any error to the gRPC status with the meshgate code (grpc-errors.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { MeshgateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { EndpointRegistry } from '../edge/endpoints/registry.js';
import type { ConfigStore } from '../edge/store/config-store.js';
import type { LiveConfig } from '../edge/store/live-config.js';
import { toServiceError } from './grpc-errors.js';

export interface AdminContext {
  readonly nodeId: string;
  readonly region: string;
  readonly version: string;
  readonly store: ConfigStore;
  readonly live: LiveConfig;
  readonly registry: EndpointRegistry;
  /** The bootstrap admin key, when configured. */
  readonly adminApiKey: string | undefined;
  /** Other edges known to presence, as `node@region`. */
  peers(): string[];
  draining(): boolean;
  log: Logger;
}

export interface Caller {
  /** The account the call acts on ('' = none: an admin call that named no account). */
  readonly account: string;
  readonly admin: boolean;
}

export const ACCOUNT_METADATA = 'meshgate-account';

/** Also used by the console's JSON API (Traffic Inspector), with the HTTP headers as metadata. */
export function authenticate(cx: Pick<AdminContext, 'adminApiKey' | 'store' | 'live'>, md: grpc.Metadata): Caller {
  const auth = String(md.get('authorization')[0] ?? '');
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m) throw new MeshgateError('MG_API_KEY_INVALID', { field: 'authorization', detail: "send metadata 'authorization: Bearer <api key>' (meshgate --api-key or MESHGATE_API_KEY)" });
  const key = m[1];
  if (cx.adminApiKey !== undefined && sameSecret(key, cx.adminApiKey)) {
    const account = String(md.get(ACCOUNT_METADATA)[0] ?? '');
    if (account && !cx.store.get('account', account)) throw new MeshgateError('MG_RESOURCE_NOT_FOUND', { field: ACCOUNT_METADATA, detail: `no account '${account}'` });
    return { account, admin: true };
  }
  const p = cx.live.authenticateApiKey(key);
  if (!p) throw new MeshgateError('MG_API_KEY_INVALID', { field: 'authorization', detail: 'this API key is unknown or revoked' });
  const named = String(md.get(ACCOUNT_METADATA)[0] ?? '');
  if (named && named !== p.account) {
    throw new MeshgateError('MG_PERMISSION_DENIED', { field: ACCOUNT_METADATA, detail: `this API key belongs to another account; only the admin key acts on account '${named}'` });
  }
  return { account: p.account, admin: false };
}

/** The account the call acts on; an admin call must name one. */
export function accountOf(c: Caller): string {
  if (c.account) return c.account;
  throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: ACCOUNT_METADATA, detail: 'the admin key acts on an account only when the call names it (metadata meshgate-account, or --account)' });
}

export function requireAdmin(c: Caller): void {
  if (!c.admin) throw new MeshgateError('MG_PERMISSION_DENIED', { detail: 'only the bootstrap admin key (admin_api_key in edge.yaml) manages accounts' });
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

type Handler<Req, Res> = (req: Req, caller: Caller) => Res | Promise<Res>;

/** Wraps a handler: authenticate (unless `open`), run, map errors. Logs each call at debug. */
export function unary<Req, Res>(cx: AdminContext, method: string, fn: Handler<Req, Res>, open = false): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    const started = Date.now();
    void (async () => {
      try {
        const caller = open ? { account: '', admin: false } : authenticate(cx, call.metadata);
        const res = await fn(call.request, caller);
        cx.log.debug('admin call', { method, account: caller.account || undefined, ms: Date.now() - started });
        cb(null, res);
      } catch (e) {
        const err = toServiceError(e);
        cx.log.info('admin call refused', { method, code: err.metadata?.get('meshgate-error-code')[0], message: err.message.split('\n')[0] });
        cb(err as grpc.ServiceError);
      }
    })();
  };
}

/** RFC 3339 now. */
export const nowIso = (): string => new Date().toISOString();

/** Checks a free-text field's length. */
export function checkLength(field: string, value: string, max: number): void {
  if (value.length > max) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field, detail: `is ${value.length} characters; at most ${max}` });
}

/** A required id field. */
export function requireId(field: string, value: string): string {
  if (!value) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field, detail: 'is required' });
  return value;
}
