/**
 * `remove-headers`: remove headers from the request (on_http_request) or the response
 * (on_http_response). Never terminates. "Replace" = remove-headers then add-headers.
 *
 * Config: `headers` (required list of 1 to 10 header names, case-insensitive). `host` cannot be
 * removed from a request (the upstream needs it).
 *
 * Result: `actions.ngrok.remove_headers.headers_removed` = the configured names that were
 * present (lower-case), in config order.
 */
import { MAX_HEADERS } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { readHeaderNames } from './util.js';

interface RemoveHeadersConfig {
  readonly names: readonly string[];
}

export const removeHeaders: ActionDefinition<RemoveHeadersConfig> = {
  phases: ['on_http_request', 'on_http_response'],
  fields: ['headers'],

  compile(config, cx) {
    const names = readHeaderNames(config, 'headers', cx, MAX_HEADERS);
    if (!names) return undefined;
    if (cx.phase === 'on_http_request' && names.includes('host')) {
      const i = (config.headers as string[]).findIndex((n) => n.toLowerCase() === 'host');
      cx.issue(`headers[${i}]`, 'the host header cannot be removed from a request');
      return undefined;
    }
    return { names: Object.freeze(names) };
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    const target = cx.phase === 'on_http_response' ? cx.response?.headers : cx.exchange.req.headers;
    if (target === undefined) return undefined;
    const removed: string[] = [];
    for (const name of c.names) {
      if (target[name] === undefined) continue;
      delete target[name];
      removed.push(name);
    }
    cx.setResult('remove_headers', { headers_removed: removed });
    return undefined;
  },
};

registerAction('remove-headers', removeHeaders);
