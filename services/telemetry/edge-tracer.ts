/**
 * The edge's spans (loaded only when tracing is on). See span-names.ts for the shape of a trace
 * and tracing.ts for the contract.
 *
 * Context is explicit: each request's {@link EdgeRequestTrace} holds its current span (ingress,
 * then a policy phase while it runs). The pipeline is sequential per request (forward-internal
 * and retries are awaited), so one "current" slot per exchange is enough; a side call
 * (http-request) gets its own trace through `fork()`.
 *
 * An unsampled request opens no span below the ingress (its children share its decision): its
 * context is still propagated.
 */
import type http from 'node:http';
import http2 from 'node:http2';
import { ERROR_HEADER } from '../core/errors.js';
import { UPGRADE_STATUS_HEADER } from '../tunnel/wire.js';
import type { CompiledAction, CompiledRule, PhaseTrace } from '../policy/run-phase.js';
import type { CompiledPolicy, ConnectionExchange, ConnectOutcome, ConnectPhaseHost, Exchange, OutboundHost, PolicyEndpoint, PolicyResponse, RequestOutcome, RequestPhaseHost, ResponseOutcome } from '../policy/types.js';
import { endHttpSpan, NOOP_HOP, StreamHop } from './http-span.js';
import type { TracingSdk } from './otel-sdk.js';
import { ATTR, SPAN } from './span-names.js';
import { parseTraceparent, SpanKind, type RecordedSpan, type SpanRecorder } from './span-recorder.js';
import type { EdgeTracer, Hop, RequestTrace, TracedConnection, TracedEndpoint, TracedRequest } from './tracing.js';

const REQUEST_PHASE = `${SPAN.policy} on_http_request`;
const RESPONSE_PHASE = `${SPAN.policy} on_http_response`;
const CONNECT_PHASE = `${SPAN.policy} on_tcp_connect`;
/** `ingress GET`, ... built once per method. */
const ingressNames = new Map<string, string>();

export class OtelEdgeTracer implements EdgeTracer {
  readonly recorder: SpanRecorder;

  constructor(
    private readonly sdk: TracingSdk,
    readonly nodeId: string,
  ) {
    this.recorder = sdk.recorder;
  }

  ingress(x: TracedRequest, req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse | undefined): RequestTrace {
    const method = x.req.method;
    let name = ingressNames.get(method);
    if (name === undefined) {
      name = `${SPAN.ingress} ${method}`;
      if (ingressNames.size < 64) ingressNames.set(method, name);
    }
    const h = req.headers;
    const span = this.recorder.root(name, SpanKind.SERVER, parseTraceparent(h.traceparent, h.tracestate));
    if (span.sampled) {
      span.attrs = [ATTR.httpMethod, method, ATTR.serverAddress, x.req.host, ATTR.urlPath, x.req.path, ATTR.clientAddress, x.conn.clientIp];
      // `on`, not `once`: 'close' comes once, and once() costs a wrapper per request
      if (res !== undefined) res.on('close', () => endHttpSpan(span, res.statusCode, res.getHeader(ERROR_HEADER), res.writableEnded ? undefined : 'the client went away before the response ended', true));
    }
    return new EdgeRequestTrace(this, span);
  }

  connection(c: TracedConnection): RequestTrace {
    const span = this.recorder.root(`${SPAN.connect} ${c.proto}`, SpanKind.SERVER, undefined);
    if (span.sampled) {
      span.attrs = c.sni === ''
        ? [ATTR.networkTransport, 'tcp', ATTR.clientAddress, c.clientIp, ATTR.serverPort, c.serverPort]
        : [ATTR.networkTransport, 'tcp', ATTR.clientAddress, c.clientIp, ATTR.serverPort, c.serverPort, ATTR.serverAddress, c.sni];
    }
    return new EdgeRequestTrace(this, span);
  }

  replay(x: TracedRequest, replayOf: string): RequestTrace {
    const span = this.recorder.root(`${SPAN.replay} ${x.req.method}`, SpanKind.SERVER, undefined);
    if (span.sampled) span.attrs = [ATTR.httpMethod, x.req.method, ATTR.serverAddress, x.req.host, ATTR.urlPath, x.req.path, ATTR.replayOf, replayOf];
    return new EdgeRequestTrace(this, span);
  }

  relayReceive(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, out: http2.OutgoingHttpHeaders, endpointId: string): Hop {
    const server = this.recorder.root(SPAN.relayReceive, SpanKind.SERVER, parseTraceparent(headers.traceparent, headers.tracestate));
    if (!server.sampled) {
      server.inject(out);
      neverIndexed(out);
      return NOOP_HOP;
    }
    server.set(ATTR.endpointId, endpointId);
    stream.on('close', () => {
      const sent = stream.sentHeaders as http2.OutgoingHttpHeaders | undefined;
      const rst = sent?.[UPGRADE_STATUS_HEADER] === '101' ? 0 : (stream.rstCode ?? 0);
      endHttpSpan(server, sent?.[UPGRADE_STATUS_HEADER] ?? sent?.[':status'], sent?.[ERROR_HEADER], rst !== 0 ? `relay stream reset (code ${rst})` : undefined, true);
    });
    const client = server.child(SPAN.tunnelSend, SpanKind.CLIENT);
    client.set(ATTR.endpointId, endpointId);
    client.inject(out);
    neverIndexed(out);
    return new StreamHop(client);
  }

  shutdown(): Promise<void> {
    return this.sdk.shutdown();
  }
}

class EdgeRequestTrace implements RequestTrace {
  /** Endpoint chosen by the last `select`, recorded on the next span opened for it. */
  private pending: TracedEndpoint | undefined;
  private pendingPool = 0;
  private pendingAttempt = 0;

  constructor(
    private readonly t: OtelEdgeTracer,
    /** The parent of the next span opened. */
    private current: RecordedSpan,
  ) {}

  answered(status: number, errorCode: string | undefined): void {
    // only the root trace of an upgrade or a replay gets here (plain requests end theirs on 'close')
    if (this.current.sampled) endHttpSpan(this.current, status, errorCode, undefined, true);
  }

  connectionEnded(errorCode: string | undefined, failed: boolean): void {
    const span = this.current;
    if (!span.sampled) return;
    if (errorCode !== undefined) span.errorCode = errorCode;
    if (failed) span.error();
    span.end();
  }

  get traceId(): string | undefined {
    return this.current.sampled ? this.current.traceId : undefined;
  }

  select(ep: TracedEndpoint, poolSize: number, attempt: number): void {
    if (!this.current.sampled) return;
    this.pending = ep;
    this.pendingPool = poolSize;
    this.pendingAttempt = attempt;
  }

  requestPhase<R>(policy: CompiledPolicy, x: Exchange, endpoint: PolicyEndpoint, host: RequestPhaseHost<R>, also: PhaseTrace | undefined): Promise<RequestOutcome<R>> {
    if (!this.current.sampled) return also === undefined ? policy.runRequest(x, endpoint, host) : policy.traceRequest(x, endpoint, host, also);
    return this.phaseSpan(REQUEST_PHASE, endpoint.id, also, (rec) => policy.traceRequest(x, endpoint, host, rec));
  }

  responsePhase(policy: CompiledPolicy, x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse, host: OutboundHost, also: PhaseTrace | undefined): Promise<ResponseOutcome> {
    if (!this.current.sampled) return also === undefined ? policy.runResponse(x, endpoint, res, host) : policy.traceResponse(x, endpoint, res, also, host);
    return this.phaseSpan(RESPONSE_PHASE, endpoint.id, also, (rec) => policy.traceResponse(x, endpoint, res, rec, host));
  }

  connectPhase<R>(policy: CompiledPolicy, x: ConnectionExchange, endpoint: PolicyEndpoint, host: ConnectPhaseHost<R>): Promise<ConnectOutcome<R>> {
    if (!this.current.sampled) return policy.traceConnect(x, endpoint, host, undefined);
    return this.phaseSpan(CONNECT_PHASE, endpoint.id, undefined, (rec) => policy.traceConnect(x, endpoint, host, rec));
  }

  /** Runs one policy phase inside its own span, recording the rules matched and actions run. */
  private phaseSpan<O extends { kind: string; code?: string }>(name: string, endpointId: string, also: PhaseTrace | undefined, run: (rec: PhaseRecorder) => Promise<O>): Promise<O> {
    const span = this.open(name, SpanKind.INTERNAL, endpointId);
    const rec = new PhaseRecorder(also);
    const outer = this.current;
    this.current = span;
    return run(rec).then(
      (out) => {
        this.current = outer;
        // a connection the policy closed names why; only a runtime error is a failed phase
        rec.end(span, out.kind === 'error' || out.kind === 'close' ? out.code : undefined, out.kind === 'error');
        return out;
      },
      (e: unknown) => {
        this.current = outer;
        rec.end(span, 'MG_INTERNAL', true);
        throw e;
      },
    );
  }

  hop(ep: TracedEndpoint, headers: http.OutgoingHttpHeaders): Hop {
    // What the client sent is replaced by this hop's context (same trace, our span).
    if (!this.current.sampled) {
      this.current.inject(headers);
      neverIndexed(headers);
      return NOOP_HOP;
    }
    const selected = this.pending === ep;
    const span = this.open(ep.nodeId !== this.t.nodeId ? SPAN.relaySend : SPAN.tunnelSend, SpanKind.CLIENT, ep.id);
    // the selection is on the endpoint's phase span when it had one: name the endpoint anyway
    if (!selected) span.set(ATTR.endpointId, ep.id);
    span.inject(headers);
    neverIndexed(headers);
    return new StreamHop(span);
  }

  fork(): RequestTrace {
    return new EdgeRequestTrace(this.t, this.current);
  }

  /** Starts a child of the current span; the first one opened for the selected endpoint records the selection. */
  private open(name: string, kind: SpanKind, endpointId: string): RecordedSpan {
    const span = this.current.child(name, kind);
    const ep = this.pending;
    if (ep !== undefined && ep.id === endpointId) {
      this.pending = undefined;
      // a member on another edge: where it is; on this edge that is the span's own resource
      span.attrs = ep.nodeId === this.t.nodeId
        ? [ATTR.endpointId, ep.id, ATTR.endpointUrl, ep.url.url, ATTR.poolSize, this.pendingPool]
        : [ATTR.endpointId, ep.id, ATTR.endpointUrl, ep.url.url, ATTR.poolSize, this.pendingPool, ATTR.endpointRegion, ep.region, ATTR.endpointNode, ep.nodeId];
      if (this.pendingAttempt > 1) span.set(ATTR.attempt, this.pendingAttempt);
    }
    return span;
  }
}

/**
 * Tunnel and relay streams are HTTP/2: a header whose value is new on every request must not
 * enter the HPACK dynamic table, where it would push out the headers that do repeat.
 */
function neverIndexed(headers: http.OutgoingHttpHeaders): void {
  const h = headers as Record<symbol, unknown>;
  const list = h[http2.sensitiveHeaders];
  h[http2.sensitiveHeaders] = Array.isArray(list) ? [...list, 'traceparent'] : TRACEPARENT_ONLY;
}

/** Node only reads the list: one array serves every request. */
const TRACEPARENT_ONLY: readonly string[] = Object.freeze(['traceparent']);

/**
 * Collects, for one phase run, the rules that matched and the actions that ran, in order, and
 * passes both on to `also` (the request observers' decisions) when there is one.
 */
class PhaseRecorder implements PhaseTrace {
  private rules: string[] | undefined;
  private actions: string[] | undefined;

  constructor(private readonly also: PhaseTrace | undefined) {}

  // (the first item as a one-element literal: `[].push` would reserve room for 17)
  rule(rule: CompiledRule, matched: boolean): void {
    if (matched) {
      const label = rule.name === undefined ? rule.path : `${rule.path} (${rule.name})`;
      if (this.rules === undefined) this.rules = [label];
      else this.rules.push(label);
    }
    if (this.also !== undefined) this.also.rule(rule, matched);
  }

  action(a: CompiledAction): void {
    if (this.actions === undefined) this.actions = [a.type];
    else this.actions.push(a.type);
    if (this.also !== undefined) this.also.action(a);
  }

  end(span: RecordedSpan, code: string | undefined, failed: boolean): void {
    if (this.rules !== undefined) span.set(ATTR.rulesMatched, this.rules);
    if (this.actions !== undefined) span.set(ATTR.actions, this.actions);
    if (code !== undefined) span.errorCode = code;
    if (failed) span.error();
    span.end();
  }
}
