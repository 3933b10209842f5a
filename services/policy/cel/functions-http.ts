/**
 * ngrok's HTTP macros: functions over the implicit current request/response.
 *
 * `getReqHeader('X-Api')` takes no request argument: it reads the request of the evaluation that
 * is running (see `currentContext` in context.ts). Header names are matched case-insensitively:
 * the gateway's header maps are lower-case, so the name is lower-cased. Absent → `[]`.
 *
 * Cookies: `getReqCookie(name)` returns the *value* (a string) of the first cookie with that name,
 * '' when absent (ngrok documents a cookie object; use `req.cookies[name][0]` for name/value
 * objects). Cookie names are case-sensitive. `getResCookie` reads `set-cookie` the same way.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { lowerHeaderName } from '../../core/header-name.js';
import { currentContext } from './eval-context.js';

/** Functions available wherever `req` is (on_http_request, on_http_response). */
export function registerRequestFunctions(env: CelEnvironment): void {
  env.registerFunction('getReqHeader(string): list<string>', (name: string) => currentContext().reqHeader(lowerHeaderName(name)), {
    description: 'All values of a request header (case-insensitive name); [] when absent',
  });
  env.registerFunction('hasReqHeader(string): bool', (name: string) => currentContext().reqHeader(lowerHeaderName(name)).length > 0, {
    description: 'Whether the request has the header (case-insensitive name)',
  });
  env.registerFunction('getQueryParam(string): list<string>', (name: string) => currentContext().queryParam(name), {
    description: 'All values of a query parameter (case-sensitive name); [] when absent',
  });
  env.registerFunction('hasQueryParam(string): bool', (name: string) => currentContext().queryParam(name).length > 0, {
    description: 'Whether the query has the parameter',
  });
  env.registerFunction('getReqCookie(string): string', (name: string) => currentContext().reqCookie(name) ?? '', {
    description: 'The value of the first request cookie with that name (case-sensitive); "" when absent',
  });
  env.registerFunction('hasReqCookie(string): bool', (name: string) => currentContext().reqCookie(name) !== undefined, {
    description: 'Whether the request has a cookie with that name (case-sensitive)',
  });
}

/** Functions available only in on_http_response. */
export function registerResponseFunctions(env: CelEnvironment): void {
  env.registerFunction('getResHeader(string): list<string>', (name: string) => currentContext().resHeader(lowerHeaderName(name)), {
    description: 'All values of a response header (case-insensitive name); [] when absent',
  });
  env.registerFunction('hasResHeader(string): bool', (name: string) => currentContext().resHeader(lowerHeaderName(name)).length > 0, {
    description: 'Whether the response has the header (case-insensitive name)',
  });
  env.registerFunction('getResCookie(string): string', (name: string) => currentContext().resCookie(name) ?? '', {
    description: 'The value of the first set-cookie cookie with that name (case-sensitive); "" when absent',
  });
  env.registerFunction('hasResCookie(string): bool', (name: string) => currentContext().resCookie(name) !== undefined, {
    description: 'Whether the response sets a cookie with that name (case-sensitive)',
  });
}
