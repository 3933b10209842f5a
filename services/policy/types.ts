/**
 * The contract between the Traffic Policy engine (pure: no sockets, no timers it does not own)
 * and the gateway that runs it. The edge builds an `Exchange` per request, calls
 * `policy.runRequest(...)` for the chosen endpoint, forwards or answers, then calls
 * `policy.runResponse(...)` before the response head is written to the client.
 */
import type { ErrorCode, Issue } from '../core/errors.js';

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
}

/** Response head as the on_http_response phase sees and changes it. */
export interface PolicyResponse {
  status: number;
  headers: HeaderMap;
  /**
   * Set by compress-response: the edge streams the body through this encoder (it has already
   * set content-encoding and vary, and removed content-length).
   */
  encode?: 'gzip' | 'deflate' | 'br';
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
export interface RequestPhaseHost<R> {
  forwardInternal(x: Exchange, opts: ForwardInternalOptions): Promise<ForwardResult<R>>;
}

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
  runResponse(x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse): Promise<ResponseOutcome>;
}

export type CompileResult = { ok: true; policy: CompiledPolicy } | { ok: false; issues: Issue[] };
