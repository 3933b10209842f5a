/**
 * `url-rewrite`: rewrite the request URL before it is forwarded. Transparent to the client.
 * Never terminates.
 *
 * Config: `from` (optional regex, `${}` interpolated first), `to` (required, `${}`, `$1`/`$<name>`
 * groups, `$$` for a dollar). The regex runs unanchored over the whole URL as `req.url` shows it:
 * `scheme://host[:port]/path[?query]`, the default port (80/443) omitted; every match is
 * replaced. Without `from` the whole URL becomes `to`. A static `from` is checked at load with
 * the RE2 guard (no lookaround/backreferences); an interpolated one per request.
 *
 * Applying the result: `req.path` and `req.query` always; `req.host` (and the `host` header sent
 * upstream, keeping a non-default port) when the host changed; `req.scheme`/`req.port` are updated
 * too, but they only change what later CEL sees (`req.url`) — the gateway still forwards over the
 * endpoint's own upstream. A result that is not an absolute http(s) URL is a policy runtime error
 * (MG_POLICY_RUNTIME_ERROR, ngrok 3900/3901).
 *
 * Result: `actions.ngrok.url_rewrite.{matches, url}` (matches: every substring `from` matched;
 * url: the URL after rewriting), set whether or not anything matched.
 */
import type { Template } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import type { PolicyRequest } from '../types.js';
import { readTemplate } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { readFromPattern, rewriteUrl, type FromPattern } from './util.js';

interface UrlRewriteConfig {
  readonly from: FromPattern;
  readonly to: Template;
  readonly label: string;
}

export const urlRewrite: ActionDefinition<UrlRewriteConfig> = {
  phases: ['on_http_request'],
  fields: ['from', 'to'],

  compile(config, cx) {
    const from = readFromPattern(config, 'from', cx);
    const to = readTemplate(config, 'to', cx, { required: true });
    if (!from || !to) return undefined;
    return { from, to, label: cx.path };
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    const r = rewriteUrl(cx, c.from, c.to, c.label);
    if (r.after !== r.before) applyUrl(cx.exchange.req, r.after, `${c.label}.to`);
    cx.setResult('url_rewrite', { matches: r.matches, url: r.after });
    return undefined;
  },
};

/** Sets path/query (and scheme/host/port) of `req` from an absolute URL. */
export function applyUrl(req: PolicyRequest, url: string, label: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PolicyRuntimeError(label, `the rewritten URL '${url}' is not a valid absolute URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new PolicyRuntimeError(label, `the rewritten URL '${url}' must be http or https`);
  }
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
  const host = u.hostname.toLowerCase();
  if (host !== req.host || port !== req.port) {
    req.headers.host = [u.port ? `${host}:${u.port}` : host];
  }
  req.scheme = scheme;
  req.host = host;
  req.port = port;
  req.path = u.pathname;
  req.query = u.search.slice(1);
}

registerAction('url-rewrite', urlRewrite);
