/**
 * What the edge and the agent see of tracing: small interfaces, and `startEdgeTracer` /
 * `startAgentTracer`, which load OpenTelemetry (`import()`) only when tracing is on.
 *
 * Off (the default) costs nothing on the hot path: no OpenTelemetry module is loaded, requests
 * carry no trace (`x.trace === undefined` is the only check), and headers pass through as they
 * came, a client's `traceparent` included.
 *
 * On: context travels explicitly, never through AsyncLocalStorage. The ingress span's
 * {@link RequestTrace} rides on the request's exchange; every hook of the pipeline takes it from
 * there, and what leaves the process (relay stream, tunnel stream, upstream request) gets a W3C
 * `traceparent` naming the span that sent it.
 *
 * Nothing here may block or buffer a request: spans end on stream events the request emits
 * anyway, and export is batched off the request path (BatchSpanProcessor).
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Logger } from '../core/log.js';
import type { PhaseTrace } from '../policy/run-phase.js';
import type { CompiledPolicy, ConnectionExchange, ConnectOutcome, ConnectPhaseHost, Exchange, OutboundHost, PolicyEndpoint, PolicyResponse, RequestOutcome, RequestPhaseHost, ResponseOutcome } from '../policy/types.js';
import type { TracingSettings } from './telemetry-config.js';

/** The fields of an endpoint a trace records (the edge's Endpoint has them). */
export interface TracedEndpoint {
  readonly id: string;
  readonly url: { readonly url: string };
  readonly type: string;
  /** Region and node of the edge holding it. */
  readonly region: string;
  readonly nodeId: string;
}

/** A tcp/tls client connection as its `connect` span records it. */
export interface TracedConnection {
  readonly proto: 'tcp' | 'tls';
  readonly clientIp: string;
  readonly serverPort: number;
  /** The ClientHello's server name (tls). */
  readonly sni: string;
}

/** The request as the ingress span records it (the edge's exchange has these fields). */
export interface TracedRequest {
  readonly id: string;
  readonly req: { readonly method: string; readonly scheme: string; readonly host: string; readonly path: string };
  readonly conn: { readonly clientIp: string };
}

/**
 * The trace of one request on one edge, carried by its exchange. Called by the pipeline on the
 * request path; must not throw, block or buffer.
 */
export interface RequestTrace {
  /** The W3C trace id when this request's trace is recorded (sampled); undefined when it only propagates. */
  readonly traceId: string | undefined;
  /** A pool member was chosen: the next span opened for `ep` records it (meshgate.endpoint.*). */
  select(ep: TracedEndpoint, poolSize: number, attempt: number): void;
  /**
   * Runs on_http_request of `policy` in a `policy on_http_request` span (rules matched, actions
   * run); `also` (request observers) sees the same rules and actions.
   */
  requestPhase<R>(policy: CompiledPolicy, x: Exchange, endpoint: PolicyEndpoint, host: RequestPhaseHost<R>, also: PhaseTrace | undefined): Promise<RequestOutcome<R>>;
  /** Runs on_tcp_connect of `policy` in a `policy on_tcp_connect` span (tcp/tls connections). */
  connectPhase<R>(policy: CompiledPolicy, x: ConnectionExchange, endpoint: PolicyEndpoint, host: ConnectPhaseHost<R>): Promise<ConnectOutcome<R>>;
  /** Runs on_http_response of `policy` in a `policy on_http_response` span. */
  responsePhase(policy: CompiledPolicy, x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse, host: OutboundHost, also: PhaseTrace | undefined): Promise<ResponseOutcome>;
  /**
   * The request is about to leave for `ep`'s agent: opens `tunnel send` (agent on this edge) or
   * `relay send` (agent on another edge) and writes its `traceparent` into `headers`.
   */
  hop(ep: TracedEndpoint, headers: http.OutgoingHttpHeaders): Hop;
  /** A trace for a side call (http-request to an internal endpoint) nested at the current span. */
  fork(): RequestTrace;
  /** A request with no response object (an upgrade, a replay) was answered: ends its first span. */
  answered(status: number, errorCode: string | undefined): void;
  /**
   * A tcp/tls connection ended: ends its `connect` span, with the code it was closed with when
   * it was not served (`failed`: a gateway failure rather than a refusal by policy).
   */
  connectionEnded(errorCode: string | undefined, failed: boolean): void;
}

/**
 * One request leaving the process on an HTTP/2 stream. The sender reports the stream's events
 * from the listeners it has anyway (a listener of the tracer's own would cost every request).
 */
export interface Hop {
  /** The response head arrived: its status and the gateway's error code header, if any. */
  response(status: number, errorCode: unknown): void;
  /** The stream closed (`rstCode` 0: cleanly); ends the span. */
  closed(rstCode: number): void;
  /** The stream could not be opened; ends the span. */
  failed(err: Error): void;
}

/** The agent's span of one upstream request; ended by the forwarder when the tunnel stream closes. */
export interface UpstreamSpan {
  closed(stream: http2.ServerHttp2Stream): void;
}

export interface EdgeTracer {
  /**
   * A request arrived on a public listener: its ingress span, continuing the client's
   * traceparent; it ends when `res` closes, or, for an upgrade request (no `res`), when the
   * answer is written ({@link RequestTrace.answered}).
   */
  ingress(x: TracedRequest, req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse | undefined): RequestTrace;
  /**
   * A client connection of a tcp:// or tls:// endpoint: a `connect tcp` / `connect tls` span
   * (a new trace: raw TCP carries no trace context); ends with {@link RequestTrace.connectionEnded}.
   */
  connection(c: TracedConnection): RequestTrace;
  /**
   * A Traffic Inspector replay of request `replayOf` is about to be served: a new trace whose
   * root is a `replay <method>` span (meshgate.replay_of); it ends with
   * {@link RequestTrace.answered}.
   */
  replay(x: TracedRequest, replayOf: string): RequestTrace;
  /**
   * A relayed request arrived for `endpointId` (held here): a `relay receive` span under the
   * sender's traceparent and a `tunnel send` span whose traceparent goes into `out`.
   */
  relayReceive(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, out: http2.OutgoingHttpHeaders, endpointId: string): Hop;
  /** Flushes what is batched (bounded) and stops exporting. */
  shutdown(): Promise<void>;
}

export interface AgentTracer {
  /**
   * One tunnel stream forwarded to the upstream: an `upstream <method>` span under the edge's
   * traceparent, written into `headers` (the upstream request's). Undefined when the request is
   * not recorded; else the forwarder ends it when the tunnel stream closes.
   */
  upstream(h: http2.IncomingHttpHeaders, headers: Record<string, string | string[]>, target: { host: string; port: number }): UpstreamSpan | undefined;
  /**
   * One tcp/tls tunnel stream: an `upstream connect` span under the edge's traceparent (the
   * upstream, raw TCP, gets no trace context); ended by the forwarder when the stream closes.
   */
  connect(h: http2.IncomingHttpHeaders, target: { host: string; port: number }): UpstreamSpan | undefined;
  /** The agent's session is up: its id and its edge become this process's resource (first session only). */
  identify(session: { sessionId: string; region: string; nodeId: string }): void;
  shutdown(): Promise<void>;
}

/** Starts tracing for an edge node, or returns undefined (and loads nothing) when it is off. */
export async function startEdgeTracer(settings: TracingSettings | undefined, node: { nodeId: string; region: string; version: string }, log: Logger): Promise<EdgeTracer | undefined> {
  if (settings === undefined) return undefined;
  const [{ startSdk }, { OtelEdgeTracer }] = await Promise.all([import('./otel-sdk.js'), import('./edge-tracer.js')]);
  const sdk = await startSdk(settings, { 'service.instance.id': node.nodeId, 'service.version': node.version, 'meshgate.region': node.region }, node.version, log);
  return new OtelEdgeTracer(sdk, node.nodeId);
}

/** Starts tracing for an agent, or returns undefined (and loads nothing) when it is off. */
export async function startAgentTracer(settings: TracingSettings | undefined, version: string, log: Logger): Promise<AgentTracer | undefined> {
  if (settings === undefined) return undefined;
  const [{ startSdk }, { OtelAgentTracer }] = await Promise.all([import('./otel-sdk.js'), import('./agent-tracer.js')]);
  return OtelAgentTracer.start((attributes) => startSdk(settings, { 'service.version': version, ...attributes }, version, log));
}
