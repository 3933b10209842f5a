/**
 * The batch span processor of the default protocol (OTLP/HTTP protobuf): each sampled span is
 * encoded to protobuf the moment it ends (otlp-encoder.ts), the bytes are batched, and batches
 * go out through the OpenTelemetry OTLP/HTTP transport (`@opentelemetry/otlp-exporter-base`:
 * OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION, retries), one export at
 * a time, off the request path.
 *
 * Why not the SDK's BatchSpanProcessor + OTLPTraceExporter (still used for http/json and grpc):
 * measured on the proxy bench, holding up to 512 span objects until a batch is serialized cost
 * more than the spans themselves (they outlive young-generation GC and are serialized cache-cold);
 * a span encoded at its end is garbage at once, and a batch is a few compact buffers.
 *
 * Same knobs and semantics as the BatchSpanProcessor: OTEL_BSP_SCHEDULE_DELAY (5000 ms: a
 * partial batch waits at most this long), OTEL_BSP_MAX_EXPORT_BATCH_SIZE (spans per export),
 * OTEL_BSP_MAX_QUEUE_SIZE (spans waiting; more are dropped and counted in a warning). Their
 * defaults here are 4096 and 16384 instead of the SDK's 512 and 2048: an encoded span is about
 * 150 bytes (a full batch ~600 KiB), and each export costs about a millisecond of CPU in a busy
 * process whatever its size, so with 512-span batches exporting alone cost ~10 µs per request.
 */
import { diag, TraceFlags, type Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { frameRequest, ProtoWriter, SpanEncoder } from './otlp-encoder.js';
import type { RecordedSpan, SpanSink } from './span-recorder.js';

/** One export: the framed ExportTraceServiceRequest and how many spans it holds. */
interface Batch {
  bytes: Buffer;
  spans: number;
}

/** Encoded spans (`buf[start, end)`) waiting for an export, with the resource and scope they belong to. */
interface Pending {
  buf: Buffer;
  start: number;
  end: number;
  count: number;
  resource: Resource;
  scope: Buffer;
}

type Scope = ReadableSpan['instrumentationScope'];

/** Ended spans encoded in one go at most (see `record`). */
const ENCODE_BATCH = 64;
/**
 * Bytes left free at the start of each batch buffer, where the request's head (resource and
 * scope) is written at export, so the batch is sent without being copied.
 */
const HEADROOM = 2048;
/** Exported batch buffers kept for the next batches (a fresh one costs page faults as it fills). */
const SPARE_BUFFERS = 2;

function envInt(name: string, dflt: number): number {
  const n = Number(process.env[name]);
  return process.env[name]?.trim() && Number.isInteger(n) && n > 0 ? n : dflt;
}

export class OtlpProtoBatchProcessor implements SpanProcessor, SpanSink {
  private readonly encoder = new SpanEncoder();
  private readonly exporter: OTLPExporterBase<Batch>;
  private readonly delayMs = envInt('OTEL_BSP_SCHEDULE_DELAY', 5000);
  private readonly batchSize = envInt('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 4096);
  private readonly queueSize = Math.max(envInt('OTEL_BSP_MAX_QUEUE_SIZE', 16384), this.batchSize);
  /** `2: Span` fields of the batch being filled, after HEADROOM free bytes. */
  private current = batchWriter(undefined, 256 * 1024);
  private readonly spare: Buffer[] = [];
  private currentCount = 0;
  private currentResource: Resource | undefined;
  private currentScope: Scope | undefined;
  private readonly queue: Pending[] = [];
  private queuedSpans = 0;
  private exporting = false;
  private timer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private stopped = false;
  private idle: Array<() => void> = [];
  private readonly resourceBytes = new WeakMap<Resource, Buffer>();
  private readonly scopeBytes = new WeakMap<Scope, Buffer>();

  /**
   * `url` from the config file; undefined = the transport reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT.
   * `resource` and `scope` are those of the recorded spans (span-recorder.ts).
   */
  constructor(
    url: string | undefined,
    private readonly resource: Resource,
    private readonly scope: Scope,
    private readonly timeOrigin: number,
  ) {
    const delegate = createOtlpHttpExportDelegate(
      convertLegacyHttpOptions(url === undefined ? {} : { url }, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
      { serializeRequest: (b: Batch) => b.bytes, deserializeResponse: () => ({}) },
      'otlp_http_span_exporter',
      { name: 'span', countItems: (b: Batch) => b.spans },
      undefined,
    );
    this.exporter = new OTLPExporterBase(delegate);
  }

  onStart(_span: Span, _ctx: Context): void {}

  /**
   * A span of the hot path (span-recorder.ts), ended and sampled. Spans are encoded a few dozen
   * at a time, once the current I/O callbacks are done (or when ENCODE_BATCH are waiting): one
   * loop over them runs with the encoder's code and caches warm, where encoding each span inside
   * the callback that ended it ran cold. They wait less than a turn of the event loop, far too
   * short to outlive a young-generation GC.
   */
  record(span: RecordedSpan): void {
    const n = this.ended.push(span);
    if (n >= ENCODE_BATCH) this.encodeEnded();
    else if (n === 1) setImmediate(this.encodeEndedFn);
  }

  private readonly ended: RecordedSpan[] = [];
  private readonly encodeEndedFn = () => this.encodeEnded();

  private encodeEnded(): void {
    const spans = this.ended;
    for (let i = 0; i < spans.length; i++) {
      if (!this.admit(this.resource, this.scope)) continue;
      this.encoder.writeRecorded(this.current, spans[i], this.timeOrigin);
      this.counted();
    }
    spans.length = 0;
  }

  /** A span made through the OpenTelemetry API (the SDK's tracer). */
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.admit(span.resource, span.instrumentationScope)) this.append(this.encoder.encodeSpan(span));
  }

  /** False when the span must be dropped (stopped, queue full); cuts the batch when the span's resource or scope differ. */
  private admit(resource: Resource, scope: Scope): boolean {
    if (this.stopped) return false;
    if (this.queuedSpans + this.currentCount >= this.queueSize) {
      this.dropped++;
      return false;
    }
    if (this.dropped > 0) {
      diag.warn(`Dropped ${this.dropped} spans because maxQueueSize reached`);
      this.dropped = 0;
    }
    if (resource !== this.currentResource || scope !== this.currentScope) {
      this.cut();
      this.currentResource = resource;
      this.currentScope = scope;
    }
    return true;
  }

  private append(msg: Buffer): void {
    const w = this.current;
    w.tag(2, 2);
    w.varint(msg.length);
    w.append(msg, 0, msg.length);
    this.counted();
  }

  /** One more span in the batch being filled: cut it when full, else make sure a timer will. */
  private counted(): void {
    if (++this.currentCount >= this.batchSize) this.cut();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.cut(), this.delayMs);
      this.timer.unref();
    }
  }

  forceFlush(): Promise<void> {
    this.encodeEnded();
    this.cut();
    return this.whenIdle().then(() => this.exporter.forceFlush());
  }

  shutdown(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const flushed = this.forceFlush();
    this.stopped = true;
    return flushed.then(() => this.exporter.shutdown());
  }

  /** Moves the batch being filled to the export queue. */
  private cut(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.currentCount === 0 || this.currentResource === undefined || this.currentScope === undefined) return;
    let scope = this.scopeBytes.get(this.currentScope);
    if (scope === undefined) {
      scope = this.encoder.encodeScope(this.currentScope.name, this.currentScope.version);
      this.scopeBytes.set(this.currentScope, scope);
    }
    // the filled buffer goes with the batch; the next batch starts in a spare one or a new one of about its size
    const filled = this.current;
    this.queue.push({ buf: filled.buf, start: HEADROOM, end: filled.pos, count: this.currentCount, resource: this.currentResource, scope });
    this.queuedSpans += this.currentCount;
    this.current = batchWriter(this.spare.pop(), Math.max(64 * 1024, filled.pos + (filled.pos >> 3)));
    this.currentCount = 0;
    this.pump();
  }

  /** Starts the next export unless one is running. */
  private pump(): void {
    if (this.exporting) return;
    const next = this.queue.shift();
    if (next === undefined) {
      const waiting = this.idle;
      this.idle = [];
      for (const f of waiting) f();
      return;
    }
    this.exporting = true;
    const done = (result: ExportResult) => {
      if (result.code !== ExportResultCode.SUCCESS) diag.warn(`span export failed: ${result.error?.message ?? 'unknown error'}`);
      this.queuedSpans -= next.count;
      this.exporting = false;
      // a batch that was sent is done with (retries happen before `done`); one that failed may
      // still be in a socket's queue, so its buffer is left to the GC
      if (result.code === ExportResultCode.SUCCESS && this.spare.length < SPARE_BUFFERS) this.spare.push(next.buf);
      this.pump();
    };
    this.resourceOf(next.resource).then(
      (resource) => this.exporter.export({ bytes: frameRequest(resource, next.scope, next.buf, next.end, next.start), spans: next.count }, done),
      (e: unknown) => done({ code: ExportResultCode.FAILED, error: e as Error }),
    );
  }

  /** The encoded resource, once its asynchronous attributes (an agent's session id) have settled. */
  private async resourceOf(r: Resource): Promise<Buffer> {
    let b = this.resourceBytes.get(r);
    if (b !== undefined) return b;
    if (r.asyncAttributesPending) await r.waitForAsyncAttributes?.();
    b = this.encoder.encodeResource(r.attributes);
    this.resourceBytes.set(r, b);
    return b;
  }

  private whenIdle(): Promise<void> {
    if (!this.exporting && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

/** A writer for a batch's spans over `buf` when it holds `size` bytes, else over a new buffer; it starts after HEADROOM. */
function batchWriter(buf: Buffer | undefined, size: number): ProtoWriter {
  const w = new ProtoWriter(buf !== undefined && buf.length >= size + HEADROOM ? buf : size + HEADROOM);
  w.pos = HEADROOM;
  return w;
}
