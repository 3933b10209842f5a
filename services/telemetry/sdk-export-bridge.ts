/**
 * For http/json, grpc and the console exporter: recorded spans (span-recorder.ts) are handed to
 * the SDK's BatchSpanProcessor as ReadableSpans, so those protocols use OpenTelemetry's own
 * exporters unchanged. (The default http/protobuf path encodes directly: otlp-batch-processor.ts.)
 */
import type { Attributes, Context, HrTime, SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR } from './span-names.js';
import type { RecordedSpan, SpanSink } from './span-recorder.js';

type Scope = ReadableSpan['instrumentationScope'];

function hrTime(epochMs: number): HrTime {
  const sec = Math.floor(epochMs / 1000);
  return [sec, Math.min(999_999_999, Math.round((epochMs - sec * 1000) * 1e6))];
}

export class SdkExportBridge implements SpanProcessor, SpanSink {
  constructor(
    private readonly processor: SpanProcessor,
    private readonly resource: Resource,
    private readonly scope: Scope,
    private readonly timeOrigin: number,
  ) {}

  record(s: RecordedSpan): void {
    const traceState = s.traceState === undefined ? undefined : new TraceState(s.traceState);
    const context: SpanContext = { traceId: s.traceId, spanId: s.spanId, traceFlags: 1, traceState };
    const attributes: Attributes = {};
    for (let i = 0; i < s.attrs.length; i += 2) attributes[s.attrs[i] as string] = s.attrs[i + 1] as Attributes[string];
    if (s.status !== 0) attributes[ATTR.httpStatus] = s.status;
    if (s.errorCode !== undefined) attributes[ATTR.errorCode] = s.errorCode;
    const durationMs = s.endMs - s.startMs;
    const span: ReadableSpan = {
      name: s.name,
      kind: s.kind,
      spanContext: () => context,
      parentSpanContext: s.parentSpanId === '' ? undefined : { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: 1, isRemote: s.parentIsRemote, traceState },
      startTime: hrTime(this.timeOrigin + s.startMs),
      endTime: hrTime(this.timeOrigin + s.endMs),
      duration: [Math.floor(durationMs / 1000), Math.round((durationMs % 1000) * 1e6)],
      status: s.statusMessage === undefined ? { code: s.statusCode } : { code: s.statusCode, message: s.statusMessage },
      attributes,
      links: [],
      events: [],
      ended: true,
      resource: this.resource,
      instrumentationScope: this.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
    this.processor.onEnd(span);
  }

  onStart(span: Span, ctx: Context): void {
    this.processor.onStart(span, ctx);
  }

  onEnd(span: ReadableSpan): void {
    this.processor.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.processor.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.processor.shutdown();
  }
}
