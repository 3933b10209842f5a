/**
 * `redirect`: answer with a 3xx pointing elsewhere. Ends the phase when it redirects; skipped
 * (the phase continues) when the URL would not change (`from` did not match, or the result
 * equals the request URL).
 *
 * Config: `from` (optional regex, `${}`), `to` (required, `${}`, `$1` groups), `status_code`
 * (300–399, default 302), `headers` (map with `${}`, at most 10, added to the redirect).
 * Same whole-URL matching as url-rewrite. `location` is the rewritten string as is (a relative
 * `to` without `from` gives a relative location).
 *
 * Result: `actions.ngrok.redirect.{matches, url}`.
 */
import type { Template } from '../cel/index.js';
import type { HeaderMap } from '../types.js';
import { readHeaderTemplates, readInt, readTemplate, type HeaderTemplates } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { checkHeaderValue, readFromPattern, rewriteUrl, type FromPattern } from './util.js';

interface RedirectConfig {
  readonly from: FromPattern;
  readonly to: Template;
  readonly status: number;
  readonly headers: HeaderTemplates;
  readonly label: string;
}

export const redirect: ActionDefinition<RedirectConfig> = {
  phases: ['on_http_request'],
  fields: ['from', 'to', 'status_code', 'headers'],

  compile(config, cx) {
    const from = readFromPattern(config, 'from', cx);
    const to = readTemplate(config, 'to', cx, { required: true });
    const status = readInt(config, 'status_code', { default: 302, min: 300, max: 399 }, cx);
    const headers = readHeaderTemplates(config, 'headers', cx);
    if (!from || !to || status === undefined || !headers) return undefined;
    return { from, to, status, headers, label: cx.path };
  },

  termination() {
    return 'maybe';
  },

  run(cx, c) {
    const r = rewriteUrl(cx, c.from, c.to, c.label);
    cx.setResult('redirect', { matches: r.matches, url: r.after });
    if (r.after === r.before) return undefined;
    const location = checkHeaderValue(r.after, `${c.label}.to`);
    const headers: HeaderMap = {};
    for (const [name, t] of c.headers) headers[name] = [t.isStatic ? t.staticValue : checkHeaderValue(cx.evalString(t), `${c.label}.headers.${name}`)];
    headers.location = [location];
    return { kind: 'respond', response: { status: c.status, headers, body: '' } };
  },
};

registerAction('redirect', redirect);
