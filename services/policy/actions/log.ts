/**
 * `log`: record metadata about the request. Never terminates.
 *
 * Config: `metadata` (required map, 1 to 32 keys; string values interpolated, a lone `${expr}`
 * keeps its type; other values as they are). Each run appends `{phase, endpointId, action,
 * metadata}` to `exchange.logs` (created when absent); the gateway attaches them to the request's
 * event (ngrok: `traffic_policy.logs` of `http_request_complete.v0`).
 *
 * Result: `actions.ngrok.log.metadata` = the evaluated metadata.
 */
import { celToJson } from '../cel/index.js';
import { describe, isPlainMap } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { evalValueSpec, joinPath, readValue, type ValueSpec } from './util.js';

const MAX_KEYS = 32;

interface LogConfig {
  readonly metadata: ReadonlyArray<readonly [string, ValueSpec]>;
  readonly action: string;
}

export const log: ActionDefinition<LogConfig> = {
  phases: ['on_tcp_connect', 'on_http_request', 'on_http_response'],
  fields: ['metadata'],

  compile(config, cx) {
    const raw = config.metadata;
    if (raw === undefined || raw === null) {
      cx.issue('metadata', 'is required: a map of names to values');
      return undefined;
    }
    if (!isPlainMap(raw)) {
      cx.issue('metadata', `must be a map of names to values, got ${describe(raw)}`);
      return undefined;
    }
    const keys = Object.keys(raw);
    if (keys.length === 0 || keys.length > MAX_KEYS) {
      cx.issue('metadata', `must have 1 to ${MAX_KEYS} entries, got ${keys.length}`);
      return undefined;
    }
    let ok = true;
    const out: Array<readonly [string, ValueSpec]> = [];
    for (const k of keys) {
      const spec = readValue(raw[k], joinPath('metadata', k), cx);
      if (!spec) ok = false;
      else out.push([k, spec]);
    }
    return ok ? { metadata: Object.freeze(out), action: cx.path.replace(/\.config$/, '') } : undefined;
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    const metadata: Record<string, unknown> = {};
    for (const [k, spec] of c.metadata) metadata[k] = celToJson(evalValueSpec(cx, spec));
    const x = cx.exchange;
    (x.logs ??= []).push({ phase: cx.phase, endpointId: cx.endpoint.id, action: c.action, metadata });
    cx.setResult('log', { metadata });
    return undefined;
  },
};

registerAction('log', log);
