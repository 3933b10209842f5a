/**
 * InspectorService (the Traffic Inspector over the admin API): list, get and replay captured
 * requests across the cluster, and the capture settings. An account's API key sees its own
 * account's captures only; the bootstrap admin key sees every account's unless the call names
 * one (`meshgate-account`). Settings always belong to one account (the admin key names it).
 */
import { MeshgateError } from '../core/errors.js';
import type { InspectorServiceServer } from '../gen/admin.js';
import type { Inspector, Scope } from '../inspector/inspector.js';
import { accountOf, unary, type AdminContext, type Caller } from './admin-context.js';

/** Whose captures a caller sees. */
export function scopeOf(c: Caller): Scope {
  return { account: c.admin && !c.account ? undefined : c.account };
}

/** `inspector` undefined: the edge runs with inspector.enabled false; every call says so. */
export function inspectorService(cx: AdminContext, inspector: Inspector | undefined): InspectorServiceServer {
  const on = (): Inspector => {
    if (inspector === undefined) throw new MeshgateError('MG_INSPECTOR_DISABLED', { detail: `edge ${cx.nodeId} (${cx.region}) captures nothing` });
    return inspector;
  };
  return {
    listCaptures: unary(cx, 'ListCaptures', (req, caller) => on().list(scopeOf(caller), req)),
    getCapture: unary(cx, 'GetCapture', (req, caller) => on().get(scopeOf(caller), req.id)),
    replay: unary(cx, 'Replay', (req, caller) => on().replay(scopeOf(caller), req)),
    getCaptureSettings: unary(cx, 'GetCaptureSettings', (req, caller) => on().getSettings(accountOf(caller), req.endpoint)),
    updateCaptureSettings: unary(cx, 'UpdateCaptureSettings', (req, caller) => on().updateSettings(accountOf(caller), req)),
  };
}
