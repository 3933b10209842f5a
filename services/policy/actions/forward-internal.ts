/**
 * `forward-internal`: hand the request to an internal endpoint (`https://foo.internal`) of the
 * same account. The gateway does the forwarding (`RequestPhaseHost.forwardInternal`); this action
 * only computes the URL and decides what a failure means:
 *
 * - success → the phase ends with outcome `forwarded`;
 * - failure, `on_error: halt` (default) → the phase ends with outcome `error` and the host's code;
 * - failure, `on_error: continue` → `actions.ngrok.forward_internal.{url, error.code,
 *   error.message}` are set and the following actions and rules run (the failover pattern).
 *
 * A static URL is validated at load; an interpolated one is validated per request, and a bad one
 * counts as a failed forward (code MG_FORWARD_NOT_INTERNAL), so `on_error: continue` applies.
 * A CEL error while interpolating is a policy runtime error, not a failed forward.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { Template } from '../cel/index.js';
import type { Protocol } from '../types.js';
import { readEnum, readTemplate } from './config.js';
import { registerAction, type ActionDefinition, type ActionOutcome, type ActionRunContext } from './registry.js';

interface ForwardInternalConfig {
  readonly url: Template;
  readonly onError: 'halt' | 'continue';
}

/** Name of the result variable: `actions.ngrok.forward_internal`. */
const RESULT = 'forward_internal';

/** URL schemes a forward from an endpoint of each protocol may use ("same protocol" rule). */
const SCHEMES: Record<Protocol, readonly string[]> = {
  http: ['http', 'https'],
  https: ['http', 'https'],
  tcp: ['tcp'],
  tls: ['tls'],
};

/** Why `url` cannot be a forward-internal target from an endpoint of `protocol`, or undefined. */
export function internalUrlProblem(url: string, protocol: Protocol): string | undefined {
  const schemes = SCHEMES[protocol];
  const example = `${schemes[schemes.length - 1]}://foo.internal`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `'${url}' is not a valid URL; expected e.g. ${example}`;
  }
  const scheme = u.protocol.slice(0, -1);
  if (!schemes.includes(scheme)) {
    return `'${url}' has scheme ${scheme}, but a ${protocol} endpoint can only forward to ${schemes.join(' or ')} URLs, e.g. ${example}`;
  }
  if (u.username || u.password) return `'${url}' must not contain credentials`;
  const host = u.hostname;
  if (!host.endsWith('.internal') || host.length <= '.internal'.length) {
    return `'${url}' is not an internal endpoint: its host must end in .internal, e.g. ${example}`;
  }
  if (host.includes('*')) return `'${url}' must name one endpoint, not a wildcard`;
  return undefined;
}

export const forwardInternal: ActionDefinition<ForwardInternalConfig> = {
  phases: ['on_tcp_connect', 'on_http_request'],
  fields: ['url', 'on_error'],

  compile(config, cx) {
    const url = readTemplate(config, 'url', cx, { required: true });
    const problem = url?.isStatic ? internalUrlProblem(url.staticValue, cx.options.protocol) : undefined;
    if (problem) cx.issue('url', problem);
    const onError = readEnum(config, 'on_error', ['halt', 'continue'], 'halt', cx);
    if (!url || problem || !onError) return undefined;
    return { url, onError };
  },

  termination(c) {
    return c.onError === 'halt' ? 'always' : 'maybe';
  },

  run(cx, c) {
    const url = c.url.isStatic ? c.url.staticValue : cx.evalString(c.url);
    if (!c.url.isStatic) {
      const problem = internalUrlProblem(url, cx.endpoint.protocol);
      if (problem) return failed(cx, c, url, 'MG_FORWARD_NOT_INTERNAL', problem);
    }
    const host = cx.host;
    if (host === undefined) return { kind: 'error', code: 'MG_INTERNAL', message: 'forward-internal ran outside on_http_request' };
    return host.forwardInternal(cx.exchange, { url, onError: c.onError }).then((r): ActionOutcome => {
      if (r.ok) return { kind: 'forwarded', response: r.response };
      return failed(cx, c, url, r.code, r.message);
    });
  },
};

function failed(cx: ActionRunContext, c: ForwardInternalConfig, url: string, code: ErrorCode, message: string): ActionOutcome {
  if (c.onError === 'halt') return { kind: 'error', code, message };
  cx.setResult(RESULT, { url, error: { code, message } });
  return undefined;
}

registerAction('forward-internal', forwardInternal);
