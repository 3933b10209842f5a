/**
 * A Traffic Policy failure while handling one request (a CEL evaluation error, an expression that
 * did not evaluate to bool). The run loop turns it into outcome
 * `{kind: 'error', code: 'MG_POLICY_RUNTIME_ERROR'}`; it never escapes runRequest/runResponse.
 */
export class PolicyRuntimeError extends Error {
  /** Where in the policy: `on_http_request[1].expressions[0]`, `...actions[0].config.url`. */
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.name = 'PolicyRuntimeError';
    this.path = path;
  }
}
