/**
 * ngrok's HTTP macros: functions over the implicit current request/response.
 *
 * `getReqHeader('X-Api')` takes no request argument: it reads the request of the evaluation that
 * is running (see `currentContext` in context.ts). Header names are matched case-insensitively:
 * the gateway's header maps are lower-case, so the name is lower-cased. Absent → `[]`.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { currentContext } from './eval-context.js';

/** Functions available wherever `req` is (on_http_request, on_http_response). */
export function registerRequestFunctions(env: CelEnvironment): void {
  env.registerFunction('getReqHeader(string): list<string>', (name: string) => currentContext().reqHeader(name.toLowerCase()), {
    description: 'All values of a request header (case-insensitive name); [] when absent',
  });
  env.registerFunction('hasReqHeader(string): bool', (name: string) => currentContext().reqHeader(name.toLowerCase()).length > 0, {
    description: 'Whether the request has the header (case-insensitive name)',
  });
  env.registerFunction('getQueryParam(string): list<string>', (name: string) => currentContext().queryParam(name), {
    description: 'All values of a query parameter (case-sensitive name); [] when absent',
  });
  env.registerFunction('hasQueryParam(string): bool', (name: string) => currentContext().queryParam(name).length > 0, {
    description: 'Whether the query has the parameter',
  });
}

/** Functions available only in on_http_response. */
export function registerResponseFunctions(env: CelEnvironment): void {
  env.registerFunction('getResHeader(string): list<string>', (name: string) => currentContext().resHeader(name.toLowerCase()), {
    description: 'All values of a response header (case-insensitive name); [] when absent',
  });
  env.registerFunction('hasResHeader(string): bool', (name: string) => currentContext().resHeader(name.toLowerCase()).length > 0, {
    description: 'Whether the response has the header (case-insensitive name)',
  });
}
