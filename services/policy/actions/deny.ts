/**
 * `deny`: refuse the request with a status code (default 403) and an empty body. Terminating.
 * In on_tcp_connect (tcp/tls endpoints) the connection is closed instead (run-connect.ts).
 */
import { readInt } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';

interface DenyConfig {
  readonly status: number;
}

export const deny: ActionDefinition<DenyConfig> = {
  phases: ['on_tcp_connect', 'on_http_request'],
  fields: ['status_code'],

  compile(config, cx) {
    const status = readInt(config, 'status_code', { default: 403, min: 100, max: 599 }, cx);
    return status === undefined ? undefined : { status };
  },

  termination() {
    return 'always';
  },

  run(_cx, c) {
    return { kind: 'respond', response: { status: c.status, headers: {}, body: '' } };
  },
};

registerAction('deny', deny);
