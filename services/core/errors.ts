/**
 * The one error catalog of meshgate.
 *
 * Every error the gateway reports to a user — an HTTP response it makes itself, a refused agent
 * registration, a bad config file, an admin API call — carries one of these codes. Callers branch
 * on `err.code`, never on message text. HTTP responses made by the gateway carry the code in the
 * `meshgate-error-code` header; the admin API maps it to the gRPC status listed here.
 *
 * `test/unit/errors.test.ts` keeps this catalog and the README's error table in sync.
 */

/** gRPC status codes by name (numeric values from the gRPC spec; kept here so core has no grpc import). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusName = keyof typeof GrpcStatus;

export interface ErrorDef {
  /** Short human message; details go in MeshgateError.detail. */
  readonly message: string;
  /** HTTP status used when the gateway answers a request with this error. */
  readonly http: number;
  /** gRPC status used by the admin API and the tunnel control stream. */
  readonly grpc: GrpcStatusName;
  /** The closest ngrok error code, when one exists. */
  readonly ngrok?: string;
}

function def(message: string, http: number, grpc: GrpcStatusName, ngrok?: string): ErrorDef {
  return Object.freeze({ message, http, grpc, ngrok });
}

export const ERRORS = Object.freeze({
  // --- data plane: answers the gateway makes itself ---
  MG_ENDPOINT_NOT_FOUND: def('no endpoint is online for this host', 404, 'NOT_FOUND', 'ERR_NGROK_3200'),
  MG_FORWARD_TARGET_OFFLINE: def('forward-internal target has no online endpoint', 502, 'UNAVAILABLE', 'ERR_NGROK_3200'),
  MG_FORWARD_CHAIN_TOO_DEEP: def('forward-internal chain is too deep', 508, 'FAILED_PRECONDITION', 'ERR_NGROK_3501'),
  MG_FORWARD_NOT_INTERNAL: def('forward-internal target must be an internal endpoint of the same account', 502, 'INVALID_ARGUMENT'),
  MG_AGENT_UNREACHABLE: def('the agent holding this endpoint could not be reached', 502, 'UNAVAILABLE', 'ERR_NGROK_3210'),
  MG_UPSTREAM_CONNECT_FAILED: def('the agent could not connect to its upstream', 502, 'UNAVAILABLE', 'ERR_NGROK_8012'),
  MG_UPSTREAM_INVALID_RESPONSE: def('the upstream returned an invalid response', 502, 'UNAVAILABLE', 'ERR_NGROK_3004'),
  MG_UPSTREAM_TIMEOUT: def('the upstream did not answer in time', 504, 'DEADLINE_EXCEEDED', 'ERR_NGROK_3005'),
  MG_UPSTREAM_RESET: def('the upstream or the tunnel closed the response before it ended', 502, 'UNAVAILABLE'),
  MG_NO_TERMINATING_ACTION: def('the cloud endpoint policy ended without a terminating action', 502, 'FAILED_PRECONDITION', 'ERR_NGROK_2235'),
  MG_POLICY_RUNTIME_ERROR: def('the Traffic Policy failed while handling this request', 500, 'INTERNAL', 'ERR_NGROK_3900'),
  MG_REQUEST_INVALID: def('the request could not be parsed', 400, 'INVALID_ARGUMENT'),
  MG_REQUEST_BODY_TOO_LARGE: def('the request body is larger than the Traffic Policy can read', 413, 'RESOURCE_EXHAUSTED', 'ERR_NGROK_3903'),
  MG_IP_RESTRICTED: def('the client IP is not allowed by the restrict-ips action', 403, 'PERMISSION_DENIED', 'ERR_NGROK_3205'),
  MG_BASIC_AUTH_FAILED: def('basic-auth credentials are missing or wrong', 401, 'UNAUTHENTICATED'),
  MG_RATE_LIMITED: def('the rate limit of this endpoint is exceeded; retry after the retry-after header', 429, 'RESOURCE_EXHAUSTED'),
  MG_JWT_INVALID: def('the request has no valid JWT for this endpoint', 401, 'UNAUTHENTICATED', 'ERR_NGROK_3401'),
  MG_JWT_KEYS_UNAVAILABLE: def('the signing keys (JWKS) could not be fetched', 401, 'UNAUTHENTICATED', 'ERR_NGROK_3422'),
  MG_WEBHOOK_INVALID: def('the request is not a validly signed webhook', 403, 'PERMISSION_DENIED', 'ERR_NGROK_3204'),
  MG_AUTH_REQUIRED: def('sign-in required: this endpoint is protected by oauth or openid-connect', 401, 'UNAUTHENTICATED'),
  MG_OAUTH_FAILED: def('the sign-in with the identity provider failed', 401, 'UNAUTHENTICATED'),
  MG_IDP_UNAVAILABLE: def('the identity provider could not be reached or answered unexpectedly', 502, 'UNAVAILABLE'),
  MG_CIRCUIT_OPEN: def('the circuit breaker of this endpoint is open after too many upstream errors; retry after the retry-after header', 503, 'UNAVAILABLE', 'ERR_NGROK_3202'),
  MG_RATE_LIMIT_UNAVAILABLE: def('the rate-limit counter could not be reached; the request was let through', 503, 'UNAVAILABLE'),
  MG_HTTP_REQUEST_FAILED: def('the http-request action could not get an answer from its target', 502, 'UNAVAILABLE'),
  MG_HTTP_REQUEST_TIMEOUT: def('the http-request action ran out of time', 504, 'DEADLINE_EXCEEDED', 'ERR_NGROK_3602'),
  MG_HTTP_REQUEST_BODY_TOO_LARGE: def('the http-request target answered a body larger than 256 KiB', 502, 'RESOURCE_EXHAUSTED', 'ERR_NGROK_3601'),
  MG_HTTP_REQUEST_LOOP: def('http-request calls are nested too deeply (an endpoint calling itself?)', 508, 'FAILED_PRECONDITION', 'ERR_NGROK_3603'),
  MG_HTTP_REQUEST_NOT_ALLOWED: def('this edge does not allow http-request to that URL', 502, 'PERMISSION_DENIED'),
  MG_RESPONSE_BODY_TOO_LARGE: def('the response body is larger than the Traffic Policy can read', 502, 'RESOURCE_EXHAUSTED'),
  MG_RESPONSE_BODY_UNREADABLE: def('the response body could not be decoded for the Traffic Policy', 502, 'UNAVAILABLE'),
  // L4 (tcp/tls endpoints): the connection is closed and the code is logged
  MG_CONNECTION_CLOSED_BY_POLICY: def('the Traffic Policy closed the connection (deny or close-connection in on_tcp_connect)', 403, 'PERMISSION_DENIED'),
  MG_TLS_CLIENT_HELLO_INVALID: def('the connection did not start with a TLS ClientHello naming a server (SNI) in time', 400, 'INVALID_ARGUMENT'),
  MG_TLS_HANDSHAKE_FAILED: def('the TLS handshake with the client failed (version, cipher or mutual TLS certificate)', 400, 'UNAUTHENTICATED'),
  MG_INTERNAL: def('internal gateway error', 500, 'INTERNAL'),

  // --- control plane: refused registrations, bad policies and URLs ---
  MG_POLICY_INVALID: def('the Traffic Policy is invalid', 400, 'INVALID_ARGUMENT', 'ERR_NGROK_2200'),
  MG_ENDPOINT_URL_INVALID: def('the endpoint URL is invalid', 400, 'INVALID_ARGUMENT', 'ERR_NGROK_18001'),
  MG_BINDING_INVALID: def('the endpoint binding is invalid for this URL', 400, 'INVALID_ARGUMENT', 'ERR_NGROK_18007'),
  MG_POOL_CONFLICT: def('an endpoint is already online on this URL', 409, 'ALREADY_EXISTS', 'ERR_NGROK_334'),
  MG_POOL_SCHEME_MISMATCH: def('pool members must share the same scheme', 409, 'FAILED_PRECONDITION'),
  MG_TCP_PORT_UNAVAILABLE: def('the edge cannot serve this TCP port', 409, 'FAILED_PRECONDITION', 'ERR_NGROK_18003'),
  MG_AUTHTOKEN_INVALID: def('the authtoken is not valid', 401, 'UNAUTHENTICATED', 'ERR_NGROK_105'),
  MG_CONFIG_INVALID: def('the configuration is invalid', 400, 'INVALID_ARGUMENT'),
  MG_FLAG_INVALID: def('a command-line flag or argument is invalid', 400, 'INVALID_ARGUMENT'),
  MG_TUNNEL_PROTOCOL: def('the tunnel peer spoke an unexpected protocol', 400, 'INVALID_ARGUMENT'),
  MG_EDGE_UNREACHABLE: def('the edge could not be reached', 503, 'UNAVAILABLE'),

  // --- admin API and store ---
  MG_ADMIN_REQUEST_INVALID: def('the admin request is invalid', 400, 'INVALID_ARGUMENT'),
  MG_API_KEY_INVALID: def('the API key is missing, unknown or revoked', 401, 'UNAUTHENTICATED'),
  MG_PERMISSION_DENIED: def('this API key may not do that', 403, 'PERMISSION_DENIED'),
  MG_RESOURCE_NOT_FOUND: def('no such resource in this account', 404, 'NOT_FOUND'),
  MG_RESOURCE_EXISTS: def('the resource already exists', 409, 'ALREADY_EXISTS'),
  MG_RESOURCE_IN_USE: def('the resource is still in use', 409, 'FAILED_PRECONDITION'),
  MG_DOMAIN_NOT_RESERVED: def('the account has not reserved this domain', 403, 'FAILED_PRECONDITION', 'ERR_NGROK_318'),
  MG_STORE_UNAVAILABLE: def('the config store could not be written; nothing was changed', 503, 'UNAVAILABLE'),
  MG_REPLAY_INCOMPLETE: def('the captured request is incomplete (metadata only, or a truncated body) and cannot be replayed as it was', 409, 'FAILED_PRECONDITION'),
  MG_INSPECTOR_DISABLED: def('the Traffic Inspector is turned off on this edge (inspector.enabled: false)', 409, 'FAILED_PRECONDITION'),
});

export type ErrorCode = keyof typeof ERRORS;

/** A problem found while validating input: where it is (`path`) and what is wrong with it. */
export interface Issue {
  /** JSON-path-like location, e.g. `on_http_request[2].actions[0].config.url` or `--url`. */
  path: string;
  message: string;
  /** 1-based line in the source document, when known. */
  line?: number;
}

export interface MeshgateErrorOptions {
  /** The field, flag or path the error is about. */
  field?: string;
  /** Extra human detail appended to the catalog message. */
  detail?: string;
  /** All problems found, for validation errors. */
  issues?: Issue[];
  cause?: unknown;
  /** The full message, verbatim (e.g. received over the wire); replaces the built one. */
  message?: string;
}

/** The error type thrown throughout meshgate. Branch on `code`. */
export class MeshgateError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly detail?: string;
  readonly issues: Issue[];

  constructor(code: ErrorCode, opts: MeshgateErrorOptions = {}) {
    const d = ERRORS[code];
    super(opts.message ?? formatMessage(d.message, opts), opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'MeshgateError';
    this.code = code;
    this.field = opts.field;
    this.detail = opts.detail;
    this.issues = opts.issues ?? [];
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }
}

function formatMessage(base: string, opts: MeshgateErrorOptions): string {
  let msg = base;
  if (opts.field) msg = `${opts.field}: ${msg}`;
  if (opts.detail) msg += `: ${opts.detail}`;
  if (opts.issues && opts.issues.length > 0) msg += '\n' + formatIssues(opts.issues);
  return msg;
}

/** One line per issue: `  path (line N): message`. */
export function formatIssues(issues: readonly Issue[]): string {
  return issues.map((i) => `  ${i.path}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`).join('\n');
}

export function isMeshgateError(e: unknown): e is MeshgateError {
  return e instanceof MeshgateError;
}

/** Header that marks every HTTP response the gateway makes itself. Upstreams can never set it. */
export const ERROR_HEADER = 'meshgate-error-code';

/** JSON body of a gateway-made error response. */
export function errorBody(code: ErrorCode, detail?: string): string {
  return JSON.stringify({ error: { code, message: detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message } });
}

/** The message of an {@link errorBody} (`{"error": {"code", "message"}}`), or undefined when `body` is not one. */
export function errorBodyMessage(body: string): string | undefined {
  try {
    const m = (JSON.parse(body) as { error?: { message?: unknown } } | null)?.error?.message;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}
