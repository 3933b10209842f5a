/**
 * The contract between the Traffic Policy engine (pure: no sockets, no timers it does not own)
 * and the gateway that runs it. The edge builds an `Exchange` per request, calls
 * `policy.runRequest(...)` for the chosen endpoint, forwards or answers, then calls
 * `policy.runResponse(...)` before the response head is written to the client.
 */
import type { ErrorCode, Issue } from '../core/errors.js';
import type { PhaseTrace } from './run-phase.js';

export type Phase = 'on_http_request' | 'on_http_response' | 'on_tcp_connect';
export type EndpointType = 'agent' | 'cloud';
export type Binding = 'public' | 'internal';
export type Protocol = 'http' | 'https' | 'tcp' | 'tls';

/** Header map used everywhere in the engine: lower-case names → list of values. */
export type HeaderMap = Record<string, string[]>;

/** The request as the policy sees and changes it. The gateway forwards what is here. */
export interface PolicyRequest {
  method: string;
  /** Scheme the client used to reach the gateway. */
  scheme: 'http' | 'https';
  /** Host name without port, lower-case. */
  host: string;
  /** Port the client connected to. */
  port: number;
  /** Path as received, without the query, e.g. `/foo/bar`. */
  path: string;
  /** Raw query without the leading `?`, '' when none. */
  query: string;
  headers: HeaderMap;
  /** HTTP version as received: '1.0', '1.1' or '2.0'. */
  version: string;
  /**
   * The whole request body, present only when the policy asked for it (`requestBodyLimit` > 0)
   * and the request has one; an action may replace it (the edge forwards what is here, with a
   * matching content-length). Never larger than `requestBodyLimit`.
   */
  body?: Buffer;
}

export interface PolicyConn {
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
  /** Region label of the edge node that received the connection (`conn.server_region`). */
  serverRegion: string;
  startedAt: Date;
  /**
   * TLS facts (`conn.tls.*`), tcp/tls endpoints only: the SNI from the ClientHello of a tls://
   * connection, the rest once terminate-tls completed the handshake. Absent → all empty.
   */
  tls?: PolicyTls;
}

/** `conn.tls.*`: '' (or empty lists) for whatever is not known. */
export interface PolicyTls {
  /** `TLS 1.2` or `TLS 1.3`. */
  version: string;
  /** IANA name, e.g. `TLS_AES_128_GCM_SHA256`. */
  cipherSuite: string;
  /** Server name the client asked for (lower-case). */
  sni: string;
  /** The client's certificate (mutual TLS), when it sent one. */
  client?: PolicyCertificate;
  /** The certificate the edge presented. */
  server?: PolicyCertificate;
}

/** A certificate as `conn.tls.client.*` / `conn.tls.server.*` show it. */
export interface PolicyCertificate {
  pem: string;
  subject: PolicyCertificateName;
  issuer: PolicyCertificateName;
  san: { dnsNames: string[]; emailAddresses: string[]; ipAddresses: string[]; uris: string[] };
  /** Upper-case hex. */
  serialNumber: string;
  /** RFC 3339. */
  notBefore: string;
  notAfter: string;
}

/** A distinguished name; each field the first value of its attribute, '' when absent. */
export interface PolicyCertificateName {
  commonName: string;
  organization: string;
  organizationalUnit: string;
  country: string;
  province: string;
  locality: string;
}

/** The endpoint whose policy runs (`endpoint.*` in CEL). */
export interface PolicyEndpoint {
  id: string;
  url: string;
  host: string;
  port: number;
  protocol: Protocol;
  binding: Binding;
  type: EndpointType;
  poolingEnabled: boolean;
  /**
   * The secrets of the endpoint's account, for `secrets.get(vault, name)`. Set by whoever builds
   * the endpoint (the edge from its account's edge.yaml vaults; `policy test` from --secret), so
   * a policy can only ever read its own account's. Absent: every lookup is a runtime error.
   */
  secrets?: PolicySecrets;
}

/**
 * One account's vaults. Called synchronously while an expression is evaluated: must not block,
 * do I/O or throw, and must not expose values any other way (no enumerable data: the endpoint
 * view is logged and serialized).
 */
export interface PolicySecrets {
  /** The value of secret `name` in `vault`; undefined when there is no such vault or secret. */
  get(vault: string, name: string): string | undefined;
  /** Whether the account has a vault of that name (to tell the two errors apart). */
  hasVault(vault: string): boolean;
}

/** Response head as the on_http_response phase sees and changes it. */
export interface PolicyResponse {
  status: number;
  headers: HeaderMap;
  /**
   * Set by compress-response (and by response-body-find-replace to re-encode a body it decoded):
   * the edge streams the body through this encoder (the action has already set content-encoding
   * and vary, and removed content-length).
   */
  encode?: 'gzip' | 'deflate' | 'br';
  /**
   * Set by response-body-find-replace: the edge buffers the body (only for responses whose
   * policy set this), undoes `decode`, applies `apply`, then `encode` (if any) — see BodyRewrite.
   */
  rewrite?: BodyRewrite;
}

/**
 * A whole-body rewrite of the response, decided in on_http_response and carried out by the edge
 * after the phase (bodies are never read inside the engine). The action has already removed
 * `content-length` and, when it asks to `decode`, `content-encoding`; the edge sets the new
 * `content-length` unless `encode` streams the result.
 */
export interface BodyRewrite {
  /** Most body bytes the edge buffers (after decoding); a larger body is MG_RESPONSE_BODY_TOO_LARGE. */
  limit: number;
  /** Content-encodings of the upstream body, in the order they were applied, to undo first. */
  decode: ReadonlyArray<'gzip' | 'deflate' | 'br'>;
  /** The new body from the old one. Pure and synchronous; must not keep the buffer. */
  apply(body: Buffer): Buffer;
}

/** Per-request state carried through every endpoint a request crosses. */
export interface Exchange {
  readonly id: string;
  req: PolicyRequest;
  readonly conn: PolicyConn;
  /** Number of forward-internal hops taken so far (0 at the public endpoint). */
  depth: number;
  /**
   * Entries appended by the `log` action, in the order they ran (both phases, every endpoint the
   * request crossed). Created by the action when absent; the gateway attaches them to the
   * request's event/access log.
   */
  logs?: PolicyLogEntry[];
  /**
   * Headers a request-phase action adds to whatever response finally reaches the client (from the
   * upstream, a policy or a gateway error), e.g. the refreshed session cookie of openid-connect /
   * oauth. Created by the action when absent; the edge appends them after on_http_response.
   */
  responseHeaders?: HeaderMap;
}

/** One `log` action run: its metadata, evaluated (JSON-safe). */
export interface PolicyLogEntry {
  phase: Phase;
  /** Id of the endpoint whose policy logged. */
  endpointId: string;
  /** Path of the action in that policy, e.g. `on_http_request[0].actions[1]`. */
  action: string;
  metadata: Record<string, unknown>;
}

export interface ForwardInternalOptions {
  /** The interpolated target URL. */
  url: string;
  onError: 'halt' | 'continue';
}

/** Result of a forward attempt, returned by the gateway. Never thrown. */
export type ForwardResult<R> =
  | { ok: true; response: R }
  | { ok: false; code: ErrorCode; message: string };

/**
 * What a running policy asks of the gateway. Implemented by the edge.
 * Must not throw: failures come back as `{ok: false}`.
 */
export interface RequestPhaseHost<R> extends Partial<OutboundHost> {
  forwardInternal(x: Exchange, opts: ForwardInternalOptions): Promise<ForwardResult<R>>;
  /**
   * 32-byte key sealing the session cookies of openid-connect / oauth; the same on every edge of a
   * cluster (derived from cluster_secret). Absent → a random per-process key.
   */
  readonly sessionKey?: Buffer;
}

/** One HTTP request of the http-request action, already interpolated (one hop: no redirects). */
export interface OutboundRequest {
  method: string;
  /** Absolute http(s) URL with its query; `.internal` hosts are routed by the gateway itself. */
  url: string;
  /** Lower-case names. */
  headers: HeaderMap;
  /** UTF-8 body; undefined for none. */
  body?: string;
  /** Time left (ms): after it the host gives up with MG_HTTP_REQUEST_TIMEOUT (at once when <= 0). */
  timeoutMs: number;
  /** Most response body bytes to read; a longer body is MG_HTTP_REQUEST_BODY_TOO_LARGE. */
  maxBodyBytes: number;
}

/** What the host answers for an OutboundRequest. Never thrown. */
export type OutboundResult =
  | { ok: true; status: number; headers: HeaderMap; body: Buffer }
  /** `status`/`headers` are set when a response head arrived (e.g. the body was too large). */
  | { ok: false; code: ErrorCode; message: string; status?: number; headers?: HeaderMap };

/**
 * Side requests (http-request), available in on_http_request and on_http_response. Implemented by
 * the edge; hosts without it (some tests) make the action fail with MG_HTTP_REQUEST_FAILED.
 * Called once per attempt and redirect; must not throw, and must settle within `timeoutMs`.
 */
export interface OutboundHost {
  httpRequest(x: Exchange, req: OutboundRequest): Promise<OutboundResult>;
}

/** What terminate-tls asks the gateway for: the handshake with the client, as the server. */
export interface TerminateTlsOptions {
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  maxVersion: 'TLSv1.2' | 'TLSv1.3';
  /** PEM certificate chain and key to present; both '' = the edge's own certificate. */
  cert: string;
  key: string;
  /** PEM CA certificates client certificates are verified against; empty = none. */
  clientCas: readonly string[];
  /** Client certificates: not asked for (`none`), asked for, required, or required and verified. */
  clientAuth: 'none' | 'request' | 'require-any' | 'require-and-verify';
}

/** The handshake's result; on failure the connection is already closed (TLS alert sent). */
export type TerminateTlsResult = { ok: true; tls: PolicyTls } | { ok: false; code: ErrorCode; message: string };

/** The connection as on_tcp_connect sees it: no request, only `conn.*`. */
export interface ConnectionExchange {
  readonly id: string;
  readonly conn: PolicyConn;
  /** forward-internal hops taken so far. */
  depth: number;
  logs?: PolicyLogEntry[];
}

/**
 * What on_tcp_connect asks of the gateway (tcp/tls endpoints). Implemented by the edge per
 * connection; must not throw. `forwardInternal` hands the connection to an internal tcp/tls
 * endpoint (its own on_tcp_connect runs too); `terminateTls` completes the TLS handshake and sets
 * `x.conn.tls`, so later rules see `conn.tls.*`. The `x` they get is the ConnectionExchange.
 */
export interface ConnectPhaseHost<R> extends RequestPhaseHost<R> {
  terminateTls(x: Exchange, opts: TerminateTlsOptions): Promise<TerminateTlsResult>;
}

/** How on_tcp_connect ended. The gateway closes the connection on `close` and logs the code. */
export type ConnectOutcome<R> =
  /** No terminating action ran: an agent endpoint connects to its upstream. */
  | { kind: 'pass' }
  /** forward-internal took the connection; `response` is whatever the host returned. */
  | { kind: 'forwarded'; response: R }
  /** deny, close-connection, restrict-ips, a failed handshake or forward, a runtime error. */
  | { kind: 'close'; code: ErrorCode; message: string };

/** A response the policy itself made (custom-response, deny). */
export interface SyntheticResponse {
  status: number;
  headers: HeaderMap;
  body: string;
}

/** How the on_http_request phase ended. */
export type RequestOutcome<R> =
  /** No terminating action ran: an agent endpoint forwards to its upstream. */
  | { kind: 'pass' }
  /** custom-response / deny made the answer. on_http_response still runs over it. */
  | { kind: 'respond'; response: SyntheticResponse }
  /** forward-internal succeeded; `response` is whatever the host returned. */
  | { kind: 'forwarded'; response: R }
  /** close-connection: drop the client connection without an answer. */
  | { kind: 'close' }
  /** A gateway error ends the request (forward failed with on_error: halt, runtime error). */
  | { kind: 'error'; code: ErrorCode; message: string };

/** How the on_http_response phase ended. */
export type ResponseOutcome =
  /** Keep the (possibly changed) response head; the body passes through. */
  | { kind: 'pass' }
  /** Replace the whole response (custom-response in the response phase). */
  | { kind: 'respond'; response: SyntheticResponse }
  | { kind: 'close' }
  | { kind: 'error'; code: ErrorCode; message: string };

export interface CompileOptions {
  /** Cloud endpoint policies must be guaranteed to end in a terminating action. */
  endpointType: EndpointType;
  protocol: Protocol;
  binding: Binding;
}

/** A validated, compiled, frozen policy. Safe to share between concurrent requests. */
export interface CompiledPolicy {
  /** The source text it was compiled from. */
  readonly source: string;
  hasPhase(phase: Phase): boolean;
  /**
   * Largest request body (bytes) an action of this policy needs to read whole before the request
   * phase (verify-webhook, request-body-find-replace); 0 when none. The edge then buffers up to
   * this many bytes into `req.body` and answers 413 MG_REQUEST_BODY_TOO_LARGE beyond it.
   */
  readonly requestBodyLimit: number;
  runRequest<R>(x: Exchange, endpoint: PolicyEndpoint, host: RequestPhaseHost<R>): Promise<RequestOutcome<R>>;
  /**
   * on_tcp_connect of a tcp/tls endpoint, once per connection (before any byte is forwarded).
   * Resolves `{kind: 'pass'}` at once when the phase is empty (agent endpoints).
   */
  runConnect<R>(x: ConnectionExchange, endpoint: PolicyEndpoint, host: ConnectPhaseHost<R>): Promise<ConnectOutcome<R>>;
  /** `host` serves http-request side calls in this phase (optional: without it they fail). */
  runResponse(x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse, host?: OutboundHost): Promise<ResponseOutcome>;
  /** runRequest, reporting every rule evaluated and action run to `trace` (observers, `policy test`). */
  traceRequest<R>(x: Exchange, endpoint: PolicyEndpoint, host: RequestPhaseHost<R>, trace: PhaseTrace | undefined): Promise<RequestOutcome<R>>;
  /** runResponse with a `trace`, like traceRequest. */
  traceResponse(x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse, trace: PhaseTrace | undefined, host?: OutboundHost): Promise<ResponseOutcome>;
  /** runConnect with a `trace`, like traceRequest. */
  traceConnect<R>(x: ConnectionExchange, endpoint: PolicyEndpoint, host: ConnectPhaseHost<R>, trace: PhaseTrace | undefined): Promise<ConnectOutcome<R>>;
}

export type CompileResult = { ok: true; policy: CompiledPolicy } | { ok: false; issues: Issue[] };
