/**
 * `custom-response`: answer with a response the policy makes. Terminating.
 *
 * In on_http_request the upstream is never contacted (on_http_response still runs over the
 * answer); in on_http_response it replaces the upstream's response entirely.
 *
 * Config: `status_code` (int, default 200, 100–599), `body` (string, `${}`, default empty),
 * `headers` (map name → string with `${}`, at most 10). When no content-type header is given and
 * the body is not empty, `content-type: text/plain; charset=utf-8` is added. A fully static
 * response is built once at load and copied per request.
 */
import type { Template } from '../cel/index.js';
import type { HeaderMap, SyntheticResponse } from '../types.js';
import { copyHeaders, readHeaderTemplates, readInt, readTemplate, staticHeaders, type HeaderTemplates } from './config.js';
import { registerAction, type ActionDefinition, type ActionRunContext } from './registry.js';

export const DEFAULT_CONTENT_TYPE = 'text/plain; charset=utf-8';

interface CustomResponseConfig {
  readonly status: number;
  readonly body: Template;
  readonly headers: HeaderTemplates;
  /** Set when body and headers are static: the whole response, ready to copy. */
  readonly fixed: SyntheticResponse | undefined;
}

export const customResponse: ActionDefinition<CustomResponseConfig> = {
  phases: ['on_http_request', 'on_http_response'],
  fields: ['status_code', 'body', 'headers'],

  compile(config, cx) {
    const status = readInt(config, 'status_code', { default: 200, min: 100, max: 599 }, cx);
    const body = readTemplate(config, 'body', cx, { default: '' });
    const headers = readHeaderTemplates(config, 'headers', cx);
    if (status === undefined || !body || !headers) return undefined;
    const fixedHeaders = body.isStatic ? staticHeaders(headers) : undefined;
    const fixed = fixedHeaders ? Object.freeze(makeResponse(status, fixedHeaders, body.staticValue)) : undefined;
    return { status, body, headers, fixed };
  },

  termination() {
    return 'always';
  },

  run(cx, c) {
    if (c.fixed) {
      return { kind: 'respond', response: { status: c.fixed.status, headers: copyHeaders(c.fixed.headers), body: c.fixed.body } };
    }
    return { kind: 'respond', response: evaluate(cx, c) };
  },
};

function evaluate(cx: ActionRunContext, c: CustomResponseConfig): SyntheticResponse {
  const headers: HeaderMap = {};
  for (const [name, t] of c.headers) headers[name] = [cx.evalString(t)];
  return makeResponse(c.status, headers, cx.evalString(c.body));
}

function makeResponse(status: number, headers: HeaderMap, body: string): SyntheticResponse {
  if (body !== '' && headers['content-type'] === undefined) headers['content-type'] = [DEFAULT_CONTENT_TYPE];
  return { status, headers, body };
}

registerAction('custom-response', customResponse);
