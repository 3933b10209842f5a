/**
 * `add-headers`: add headers to the request (on_http_request, forwarded upstream) or to the
 * response (on_http_response, sent to the client). Never terminates.
 *
 * Config: `headers` (required map name → value with `${}`, 1 to 10 entries). Names are
 * lower-cased. Values are appended: a header already present keeps its values and gets one more
 * (duplicates allowed), except `host`, which replaces (ngrok). `user-agent` cannot be set (ngrok).
 * Setting `host` changes only the Host header sent upstream, not `req.host` (routing/`req.url`).
 *
 * Result: `actions.ngrok.add_headers.headers_added` = map name → value added.
 */
import { readHeaderTemplates, type HeaderTemplates } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { checkHeaderValue } from './util.js';

interface AddHeadersConfig {
  readonly headers: HeaderTemplates;
  readonly label: string;
}

export const addHeaders: ActionDefinition<AddHeadersConfig> = {
  phases: ['on_http_request', 'on_http_response'],
  fields: ['headers'],

  compile(config, cx) {
    if (config.headers === undefined || config.headers === null) {
      cx.issue('headers', 'is required: a map of 1 to 10 header names to values');
      return undefined;
    }
    const headers = readHeaderTemplates(config, 'headers', cx);
    if (!headers) return undefined;
    if (headers.length === 0) {
      cx.issue('headers', 'must have at least one header');
      return undefined;
    }
    let ok = true;
    for (const [name] of headers) {
      if (name === 'user-agent') {
        cx.issue(`headers.${name}`, 'user-agent cannot be changed by add-headers');
        ok = false;
      }
    }
    return ok ? { headers, label: `${cx.path}.headers` } : undefined;
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    const target = cx.phase === 'on_http_response' ? cx.response?.headers : cx.exchange.req.headers;
    if (target === undefined) return undefined;
    const added: Record<string, string> = {};
    for (const [name, t] of c.headers) {
      const value = t.isStatic ? t.staticValue : checkHeaderValue(cx.evalString(t), `${c.label}.${name}`);
      added[name] = value;
      const had = target[name];
      target[name] = name === 'host' || had === undefined ? [value] : [...had, value];
    }
    cx.setResult('add_headers', { headers_added: added });
    return undefined;
  },
};

registerAction('add-headers', addHeaders);
