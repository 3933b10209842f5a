/*
 * The hot-path span recorder (loaded only when tracing is on).
 *
 * Why not the SDK's Tracer/Span on the request path: measured on the proxy bench (edge and agent
 * on one core, ~125 µs of CPU per request), an SDK span cost 10-15 µs of CPU in the edge
 * process (span, context, attribute and time objects per span, cache-cold in a busy proxy),
 * so the four spans of a request cost 30-50 % of throughput. A RecordedSpan is one object with
 * a flat attribute list, timed with performance.now(), given ids from a pooled random buffer,
 * and encoded the moment it ends (otlp-batch-processor.ts): about a third of the cost.
 *
 * Everything else stays OpenTelemetry's: the sampler (OTEL_TRACES_SAMPLER or the file's ratio)
 * decides at each root (a request entering a process, under the caller's traceparent when it
 * sent one); children share their root's decision, as every built-in sampler would decide the
 * same for them. Export, resource and configuration are the SDK's (otel-sdk.ts).
 *
 * Propagation is W3C trace context: `traceparent` parsed and written here, `tracestate` carried
 * as received (meshgate adds no entry of its own).
 */
import { ROOT_CONTEXT, SamplingDecision, SpanKind, trace, type Attributes, type Sampler } from '@opentelemetry/api';

/** An attribute value as recorded: what OTLP AnyValue carries. */
export type RecordedValue = string | number | boolean | readonly string[];

/** Where ended spans go (the batch processor). Must not block. */
export interface SpanSink {
  record(span: RecordedSpan): void;
}

/** The caller's context from a `traceparent` (and `tracestate`) header. */
export interface RemoteParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
  traceState: string | undefined;
}

const ID_POOL_BYTES = 4096;
/** The attributes of a span that has none yet (and of every unsampled span): shared, never written. */
const NO_ATTRS: Array<string | RecordedValue> = Object.freeze([]) as unknown as Array<string | RecordedValue>;
/** Built-in samplers decide on trace id and parent only: they get no attributes. */
const NO_ATTRIBUTES: Attributes = Object.freeze({});
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
/** Lower-case hex digits by char code ('0'-'9', 'a'-'f'); -1 for anything else. */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_DIGIT[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_DIGIT[97 + i] = 10 + i;

/** True when `s[from, to)` is all lower-case hex. */
function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX_DIGIT[c] < 0) return false;
  }
  return true;
}

/** True for space and tab (the optional whitespace around a header value). */
function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Parses a W3C traceparent (`version-traceid-parentid-flags`); undefined when absent or invalid
 * (then a new trace starts). Version ff is invalid, version 00 has exactly four fields, a later
 * version may append `-...` fields. Checked by hand: this runs on every traced request in the
 * edge and the agent, and a regular expression match allocates a result per field.
 */
export function parseTraceparent(header: string | string[] | undefined, tracestate: string | string[] | undefined): RemoteParent | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined) return undefined;
  let start = 0;
  let end = v.length;
  while (start < end && isOws(v.charCodeAt(start))) start++;
  while (end > start && isOws(v.charCodeAt(end - 1))) end--;
  // 2 + 1 + 32 + 1 + 16 + 1 + 2 characters
  if (end - start < 55 || v.charCodeAt(start + 2) !== 45 || v.charCodeAt(start + 35) !== 45 || v.charCodeAt(start + 52) !== 45) return undefined;
  if (!isHex(v, start, start + 2) || !isHex(v, start + 3, start + 35) || !isHex(v, start + 36, start + 52) || !isHex(v, start + 53, start + 55)) return undefined;
  const version = v.charCodeAt(start) === 48 && v.charCodeAt(start + 1) === 48 ? 0 : -1;
  if (v.charCodeAt(start) === 102 && v.charCodeAt(start + 1) === 102) return undefined;
  if (end - start > 55) {
    // more fields: only after a dash, never in version 00, and never with whitespace inside
    if (version === 0 || v.charCodeAt(start + 55) !== 45) return undefined;
    for (let i = start + 56; i < end; i++) if (isOws(v.charCodeAt(i))) return undefined;
  }
  const traceId = v.slice(start + 3, start + 35);
  const spanId = v.slice(start + 36, start + 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const sampled = (HEX_DIGIT[v.charCodeAt(start + 54)] & 1) === 1;
  const state = Array.isArray(tracestate) ? tracestate.join(',') : tracestate;
  return { traceId, spanId, sampled, traceState: state?.trim() || undefined };
}

/** One span. Not recording (`sampled` false) spans only carry context to propagate. */
export class RecordedSpan {
  readonly spanId: string;
  /** performance.now() at start and end (ms). */
  readonly startMs: number;
  endMs = 0;
  /**
   * Flat key, value, key, value, ... Where a span is opened, its known attributes are assigned as
   * one array literal (allocated at its exact size), not pushed one by one into a growing array.
   */
  attrs: Array<string | RecordedValue> = NO_ATTRS;
  /** HTTP status of the exchange (`http.response.status_code`), 0 = none. */
  status = 0;
  /** The gateway's error code (`meshgate.error_code`). */
  errorCode: string | undefined = undefined;
  /** 0 unset, 2 error (OTLP status codes). */
  statusCode = 0;
  statusMessage: string | undefined;
  private ended = false;

  constructor(
    private readonly recorder: SpanRecorder,
    readonly traceId: string,
    /** '' for a root span. */
    readonly parentSpanId: string,
    readonly parentIsRemote: boolean,
    readonly traceState: string | undefined,
    readonly sampled: boolean,
    readonly name: string,
    readonly kind: SpanKind,
  ) {
    this.spanId = recorder.newId(8);
    this.startMs = performance.now();
  }

  set(key: string, value: RecordedValue): void {
    if (!this.sampled) return;
    if (this.attrs === NO_ATTRS) this.attrs = [key, value];
    else this.attrs.push(key, value);
  }

  error(message?: string): void {
    this.statusCode = 2;
    this.statusMessage = message;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.sampled) return;
    this.endMs = performance.now();
    this.recorder.sink.record(this);
  }

  /** A child span (same trace, same sampling decision). */
  child(name: string, kind: SpanKind): RecordedSpan {
    return new RecordedSpan(this.recorder, this.traceId, this.spanId, false, this.traceState, this.sampled, name, kind);
  }

  /** The W3C `traceparent` naming this span. */
  traceparent(): string {
    return `00-${this.traceId}-${this.spanId}-${this.sampled ? '01' : '00'}`;
  }

  /** Writes `traceparent` (and `tracestate`) naming this span into outgoing headers, replacing what was there. */
  inject(headers: Record<string, unknown>): void {
    headers.traceparent = this.traceparent();
    if (this.traceState !== undefined) headers.tracestate = this.traceState;
    else delete headers.tracestate;
  }
}

/**
 * How the sampler decides, when that is known without asking it: `on`/`off` (always_on,
 * always_off), `parent` (parent-based: a caller's decision is followed, the sampler is asked only
 * for new traces), `ask` (the sampler decides every root).
 */
export type SamplerShortcut = 'on' | 'off' | 'parent' | 'ask';

export class SpanRecorder {
  private readonly pool = Buffer.allocUnsafe(ID_POOL_BYTES);
  /** The pool as hex, and how many of its characters are used. */
  private hex = '';
  private used = 0;

  constructor(
    private readonly sampler: Sampler,
    readonly sink: SpanSink,
    private readonly shortcut: SamplerShortcut = 'ask',
  ) {}

  /** A span starting a trace in this process: under `parent` (the caller's) or a new trace; the sampler decides. */
  root(name: string, kind: SpanKind, parent: RemoteParent | undefined): RecordedSpan {
    const traceId = parent?.traceId ?? this.newId(16);
    return new RecordedSpan(this, traceId, parent?.spanId ?? '', parent !== undefined, parent?.traceState, this.decide(traceId, name, kind, parent), name, kind);
  }

  private decide(traceId: string, name: string, kind: SpanKind, parent: RemoteParent | undefined): boolean {
    switch (this.shortcut) {
      case 'on':
        return true;
      case 'off':
        return false;
      case 'parent':
        if (parent !== undefined) return parent.sampled;
        return this.sampler.shouldSample(ROOT_CONTEXT, traceId, name, kind, NO_ATTRIBUTES, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
      case 'ask': {
        const ctx = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: parent.spanId, traceFlags: parent.sampled ? 1 : 0, isRemote: true });
        return this.sampler.shouldSample(ctx, traceId, name, kind, NO_ATTRIBUTES, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
      }
    }
  }

  /**
   * `bytes` random bytes as hex, from a pool refilled 4 KiB at a time with Math.random (as the
   * SDK's own RandomIdGenerator: trace ids need to be unique, not secret). The pool is turned
   * into hex once per refill; an id is a slice of that string (V8 shares the characters).
   */
  newId(bytes: number): string {
    const chars = bytes * 2;
    if (this.used + chars > this.hex.length) {
      for (let i = 0; i < ID_POOL_BYTES; i += 4) this.pool.writeUInt32LE((Math.random() * 4294967296) >>> 0, i);
      this.hex = this.pool.toString('hex');
      this.used = 0;
    }
    const id = this.hex.slice(this.used, this.used + chars);
    this.used += chars;
    // all-zero ids are invalid (2^-64 chance): draw again
    return id === ZERO_SPAN || id === ZERO_TRACE ? this.newId(bytes) : id;
  }
}

export { SpanKind };
