/**
 * The agent's spans (loaded only when tracing is on): one `upstream <method>` CLIENT span per
 * forwarded request, a child of the edge's `tunnel send` span (the stream's traceparent), and
 * itself the parent named in the traceparent the upstream receives.
 *
 * The agent's resource names its first tunnel session (service.instance.id) and the region and
 * node of its edge; they are known only once connected, so they are resource attributes that
 * resolve then (the batch processor waits for them before the first export).
 */
import type http2 from 'node:http2';
import type { DetectedResourceAttributes } from '@opentelemetry/resources';
import { ERROR_HEADER } from '../core/errors.js';
import { ENDPOINT_ID_HEADER, UPGRADE_STATUS_HEADER } from '../tunnel/wire.js';
import { endHttpSpan } from './http-span.js';
import type { TracingSdk } from './otel-sdk.js';
import { ATTR, SPAN } from './span-names.js';
import { parseTraceparent, SpanKind, type RecordedSpan } from './span-recorder.js';
import type { AgentTracer, UpstreamSpan } from './tracing.js';

/** `upstream GET`, ... built once per method. */
const upstreamNames = new Map<string, string>();

interface Identity {
  sessionId: string;
  region: string;
  nodeId: string;
}

export class OtelAgentTracer implements AgentTracer {
  private identified = false;

  static async start(startSdk: (attributes: DetectedResourceAttributes) => Promise<TracingSdk>): Promise<OtelAgentTracer> {
    let resolve!: (i: Identity) => void;
    const identity = new Promise<Identity>((r) => (resolve = r));
    const sdk = await startSdk({
      'service.instance.id': identity.then((i) => i.sessionId),
      [ATTR.region]: identity.then((i) => i.region),
      [ATTR.edgeNode]: identity.then((i) => i.nodeId),
    });
    return new OtelAgentTracer(sdk, resolve);
  }

  private constructor(
    private readonly sdk: TracingSdk,
    private readonly resolveIdentity: (i: Identity) => void,
  ) {}

  identify(session: Identity): void {
    if (this.identified) return;
    this.identified = true;
    this.resolveIdentity({ sessionId: session.sessionId, region: session.region, nodeId: session.nodeId });
  }

  upstream(h: http2.IncomingHttpHeaders, headers: Record<string, string | string[]>, target: { host: string; port: number }): UpstreamSpan | undefined {
    const method = String(h[':method']);
    let name = upstreamNames.get(method);
    if (name === undefined) {
      name = `${SPAN.upstream} ${method}`;
      if (upstreamNames.size < 64) upstreamNames.set(method, name);
    }
    const span = this.sdk.recorder.root(name, SpanKind.CLIENT, parseTraceparent(h.traceparent, h.tracestate));
    span.inject(headers);
    if (!span.sampled) return undefined;
    const path = String(h[':path']);
    const q = path.indexOf('?');
    span.attrs = [ATTR.httpMethod, method, ATTR.serverAddress, target.host, ATTR.serverPort, target.port, ATTR.urlPath, q === -1 ? path : path.slice(0, q), ATTR.endpointId, String(h[ENDPOINT_ID_HEADER] ?? '')];
    return new AgentUpstreamSpan(span);
  }

  connect(h: http2.IncomingHttpHeaders, target: { host: string; port: number }): UpstreamSpan | undefined {
    const span = this.sdk.recorder.root(SPAN.upstreamConnect, SpanKind.CLIENT, parseTraceparent(h.traceparent, h.tracestate));
    if (!span.sampled) return undefined;
    span.attrs = [ATTR.networkTransport, 'tcp', ATTR.serverAddress, target.host, ATTR.serverPort, target.port, ATTR.endpointId, String(h[ENDPOINT_ID_HEADER] ?? '')];
    return new AgentConnectSpan(span);
  }

  shutdown(): Promise<void> {
    return this.sdk.shutdown();
  }
}

class AgentConnectSpan implements UpstreamSpan {
  constructor(private readonly span: RecordedSpan) {}

  /** Ends the span: connected (the stream was answered 200), or the code the connect failed with. */
  closed(stream: http2.ServerHttp2Stream): void {
    const sent = stream.sentHeaders as http2.OutgoingHttpHeaders | undefined;
    const code = sent?.[ERROR_HEADER];
    if (code !== undefined) this.span.errorCode = String(code);
    if (sent?.[':status'] !== 200) this.span.error(code === undefined ? 'no connection to the upstream' : undefined);
    this.span.end();
  }
}

class AgentUpstreamSpan implements UpstreamSpan {
  constructor(private readonly span: RecordedSpan) {}

  /** Ends the span with what the agent answered on the tunnel stream. */
  closed(stream: http2.ServerHttp2Stream): void {
    const sent = stream.sentHeaders as http2.OutgoingHttpHeaders | undefined;
    // a WebSocket (101) session ends with a reset when either side goes away: not a failure
    const rst = sent?.[UPGRADE_STATUS_HEADER] === '101' ? 0 : (stream.rstCode ?? 0);
    endHttpSpan(this.span, sent?.[UPGRADE_STATUS_HEADER] ?? sent?.[':status'], sent?.[ERROR_HEADER], sent === undefined || sent[':status'] === undefined ? 'no response' : rst !== 0 ? `tunnel stream reset (code ${rst})` : undefined, false);
  }
}
