/*
 * The hot-path span recorder (loaded only when tracing is on).
 *
 * Why not the SDK's Tracer/Span on the request path: measured on the proxy bench (edge and agent
 * on one core, ~125 µs of CPU per request), an SDK span cost 10-15 µs of CPU in the edge
 * process (span, context, attribute and time objects per span, cache-cold in a busy proxy),
 * so the four spans of a request cost 30-50 % of throughput. A RecordedSpan is one object with
 * a flat attribute list, timed with performance.now(), and encoded soon after it ends
 * (otlp-batch-processor.ts): about a third of the cost. Ids are 32-bit words drawn from a pool
 * of random words, shared per trace (TraceRef) and written as bytes by the encoder; a hex string
 * is made only where one leaves the process (`traceparent`) or is asked for.
 *
 * Everything else stays OpenTelemetry's: the sampler (OTEL_TRACES_SAMPLER or the file's ratio)
 * decides at each root (a request entering a process, under the caller's traceparent when it
 * sent one); children share their root's decision, as every built-in sampler would decide the
 * same for them. Export, resource and configuration are the SDK's (otel-sdk.ts).
 *
 * Propagation is W3C trace context: `traceparent` parsed and written here, `tracestate` carried
 * as received (meshgate adds no entry of its own).
 */
import { ROOT_CONTEXT, SamplingDecision, SpanKind, trace as traceApi, type Attributes, type Sampler } from '@opentelemetry/api';

/** An attribute value as recorded: what OTLP AnyValue carries. */
export type RecordedValue = string | number | boolean | readonly string[];

/** Where ended spans go (the batch processor). Must not block. */
export interface SpanSink {
  record(span: RecordedSpan): void;
}

/** Random id words drawn per refill of the pool. */
const ID_POOL_WORDS = 1024;
/** The attributes of a span that has none yet (and of every unsampled span): shared, never written. */
const NO_ATTRS: Array<string | RecordedValue> = Object.freeze([]) as unknown as Array<string | RecordedValue>;
/** Built-in samplers decide on trace id and parent only: they get no attributes. */
const NO_ATTRIBUTES: Attributes = Object.freeze({});
/** Lower-case hex digits by char code ('0'-'9', 'a'-'f'); -1 for anything else. */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_DIGIT[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_DIGIT[97 + i] = 10 + i;
/** The char codes of the hex digits, by value. */
const HEX_CHAR = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** Where hex strings are assembled before they become one string (`00-` + 32 + `-` + 16 + `-01`). */
const SCRATCH = Buffer.alloc(55);

/** True when `s[from, to)` is all lower-case hex. */
function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX_DIGIT[c] < 0) return false;
  }
  return true;
}

/** Set by hexWord when it met a character that is not a lower-case hex digit. */
let badDigit = false;

/** Eight hex digits at `at` as one id word (validity goes to `badDigit`: every int32 is a word). */
function hexWord(s: string, at: number): number {
  let w = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    const d = c < 128 ? HEX_DIGIT[c] : -1;
    if (d < 0) badDigit = true;
    w = (w << 4) | (d & 15);
  }
  return w;
}

/** Writes id word `w` as eight hex digits into SCRATCH at `at`; returns the position after them. */
function putHexWord(at: number, w: number): number {
  for (let shift = 28; shift >= 0; shift -= 4) SCRATCH[at++] = HEX_CHAR[(w >>> shift) & 15];
  return at;
}

/** Id words as a lower-case hex string (two words: a span id, four: a trace id). */
function wordsHex(a: number, b: number, c?: number, d?: number): string {
  let at = putHexWord(putHexWord(0, a), b);
  if (c !== undefined && d !== undefined) at = putHexWord(putHexWord(at, c), d);
  return SCRATCH.toString('latin1', 0, at);
}

/** True for space and tab (the optional whitespace around a header value). */
function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * The caller's context from a `traceparent` (and `tracestate`) header. Ids are kept as 32-bit
 * words (big-endian order of the hex digits), as spans keep theirs: no string per id.
 */
export class RemoteParent {
  constructor(
    readonly t0: number,
    readonly t1: number,
    readonly t2: number,
    readonly t3: number,
    readonly s0: number,
    readonly s1: number,
    readonly sampled: boolean,
    readonly traceState: string | undefined,
  ) {}

  get traceId(): string {
    return wordsHex(this.t0, this.t1, this.t2, this.t3);
  }

  get spanId(): string {
    return wordsHex(this.s0, this.s1);
  }
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
  if (!isHex(v, start, start + 2) || !isHex(v, start + 53, start + 55)) return undefined;
  const version = v.charCodeAt(start) === 48 && v.charCodeAt(start + 1) === 48 ? 0 : -1;
  if (v.charCodeAt(start) === 102 && v.charCodeAt(start + 1) === 102) return undefined;
  if (end - start > 55) {
    // more fields: only after a dash, never in version 00, and never with whitespace inside
    if (version === 0 || v.charCodeAt(start + 55) !== 45) return undefined;
    for (let i = start + 56; i < end; i++) if (isOws(v.charCodeAt(i))) return undefined;
  }
  badDigit = false;
  const t0 = hexWord(v, start + 3);
  const t1 = hexWord(v, start + 11);
  const t2 = hexWord(v, start + 19);
  const t3 = hexWord(v, start + 27);
  const s0 = hexWord(v, start + 36);
  const s1 = hexWord(v, start + 44);
  // all-zero ids are invalid
  if (badDigit || (t0 | t1 | t2 | t3) === 0 || (s0 | s1) === 0) return undefined;
  const sampled = (HEX_DIGIT[v.charCodeAt(start + 54)] & 1) === 1;
  const state = Array.isArray(tracestate) ? tracestate.join(',') : tracestate;
  return new RemoteParent(t0, t1, t2, t3, s0, s1, sampled, state?.trim() || undefined);
}

/**
 * One trace as this process records it: its id (four 32-bit words), its sampling decision and
 * the caller's tracestate, shared by all its spans here. The hex id is made only when asked for.
 */
export class TraceRef {
  /** False: its spans only carry context to propagate. Set once, by the recorder, at the root. */
  sampled = false;
  private hex: string | undefined;

  constructor(
    readonly recorder: SpanRecorder,
    readonly t0: number,
    readonly t1: number,
    readonly t2: number,
    readonly t3: number,
    readonly traceState: string | undefined,
  ) {}

  /** The W3C trace id (32 lower-case hex digits). */
  get id(): string {
    return (this.hex ??= wordsHex(this.t0, this.t1, this.t2, this.t3));
  }
}

/** One span. Not recording (`sampled` false) spans only carry context to propagate. */
export class RecordedSpan {
  /** The span id, as two 32-bit words. */
  readonly s0: number;
  readonly s1: number;
  /** performance.now() at start and end (ms); endMs 0 = not ended. */
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
  statusMessage: string | undefined = undefined;

  constructor(
    readonly trace: TraceRef,
    /** The parent's span id words; both 0 for a root span. */
    readonly p0: number,
    readonly p1: number,
    readonly parentIsRemote: boolean,
    readonly name: string,
    readonly kind: SpanKind,
  ) {
    const r = trace.recorder;
    let s0 = r.nextWord();
    let s1 = r.nextWord();
    // an all-zero span id is invalid (a 2^-64 chance): draw again
    while ((s0 | s1) === 0) {
      s0 = r.nextWord();
      s1 = r.nextWord();
    }
    this.s0 = s0;
    this.s1 = s1;
    this.startMs = performance.now();
  }

  get sampled(): boolean {
    return this.trace.sampled;
  }

  get traceId(): string {
    return this.trace.id;
  }

  get traceState(): string | undefined {
    return this.trace.traceState;
  }

  get spanId(): string {
    return wordsHex(this.s0, this.s1);
  }

  /** '' for a root span. */
  get parentSpanId(): string {
    return (this.p0 | this.p1) === 0 ? '' : wordsHex(this.p0, this.p1);
  }

  set(key: string, value: RecordedValue): void {
    if (!this.trace.sampled) return;
    if (this.attrs === NO_ATTRS) this.attrs = [key, value];
    else this.attrs.push(key, value);
  }

  error(message?: string): void {
    this.statusCode = 2;
    this.statusMessage = message;
  }

  end(): void {
    if (this.endMs !== 0 || !this.trace.sampled) return;
    this.endMs = performance.now();
    this.trace.recorder.sink.record(this);
  }

  /** A child span (same trace, same sampling decision). */
  child(name: string, kind: SpanKind): RecordedSpan {
    return new RecordedSpan(this.trace, this.s0, this.s1, false, name, kind);
  }

  /** The W3C `traceparent` naming this span. */
  traceparent(): string {
    const t = this.trace;
    SCRATCH[0] = 48;
    SCRATCH[1] = 48;
    SCRATCH[2] = 45;
    let at = putHexWord(putHexWord(putHexWord(putHexWord(3, t.t0), t.t1), t.t2), t.t3);
    SCRATCH[at++] = 45;
    at = putHexWord(putHexWord(at, this.s0), this.s1);
    SCRATCH[at++] = 45;
    SCRATCH[at++] = 48;
    SCRATCH[at++] = t.sampled ? 49 : 48;
    return SCRATCH.toString('latin1', 0, at);
  }

  /** Writes `traceparent` (and `tracestate`) naming this span into outgoing headers, replacing what was there. */
  inject(headers: Record<string, unknown>): void {
    headers.traceparent = this.traceparent();
    const state = this.trace.traceState;
    if (state !== undefined) headers.tracestate = state;
    else if (headers.tracestate !== undefined) delete headers.tracestate;
  }
}

/**
 * How the sampler decides, when that is known without asking it: `on`/`off` (always_on,
 * always_off), `parent` (parent-based: a caller's decision is followed, the sampler is asked only
 * for new traces), `ask` (the sampler decides every root).
 */
export type SamplerShortcut = 'on' | 'off' | 'parent' | 'ask';

export class SpanRecorder {
  /** Random words for ids, refilled with Math.random (as the SDK's own RandomIdGenerator: trace ids need to be unique, not secret). */
  private readonly pool = new Int32Array(ID_POOL_WORDS);
  private used = ID_POOL_WORDS;

  constructor(
    private readonly sampler: Sampler,
    readonly sink: SpanSink,
    private readonly shortcut: SamplerShortcut = 'ask',
  ) {}

  /** A span starting a trace in this process: under `parent` (the caller's) or a new trace; the sampler decides. */
  root(name: string, kind: SpanKind, parent: RemoteParent | undefined): RecordedSpan {
    let trace: TraceRef;
    if (parent === undefined) {
      let t0 = this.nextWord();
      let t1 = this.nextWord();
      let t2 = this.nextWord();
      let t3 = this.nextWord();
      // an all-zero trace id is invalid (a 2^-128 chance): draw again
      while ((t0 | t1 | t2 | t3) === 0) [t0, t1, t2, t3] = [this.nextWord(), this.nextWord(), this.nextWord(), this.nextWord()];
      trace = new TraceRef(this, t0, t1, t2, t3, undefined);
      trace.sampled = this.decide(trace, name, kind, undefined);
      return new RecordedSpan(trace, 0, 0, false, name, kind);
    }
    trace = new TraceRef(this, parent.t0, parent.t1, parent.t2, parent.t3, parent.traceState);
    trace.sampled = this.decide(trace, name, kind, parent);
    return new RecordedSpan(trace, parent.s0, parent.s1, true, name, kind);
  }

  private decide(trace: TraceRef, name: string, kind: SpanKind, parent: RemoteParent | undefined): boolean {
    switch (this.shortcut) {
      case 'on':
        return true;
      case 'off':
        return false;
      case 'parent':
        if (parent !== undefined) return parent.sampled;
        return this.sampler.shouldSample(ROOT_CONTEXT, trace.id, name, kind, NO_ATTRIBUTES, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
      case 'ask': {
        const ctx = parent === undefined ? ROOT_CONTEXT : traceApi.setSpanContext(ROOT_CONTEXT, { traceId: trace.id, spanId: parent.spanId, traceFlags: parent.sampled ? 1 : 0, isRemote: true });
        return this.sampler.shouldSample(ctx, trace.id, name, kind, NO_ATTRIBUTES, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
      }
    }
  }

  /** One random 32-bit id word (a signed int). */
  nextWord(): number {
    if (this.used === ID_POOL_WORDS) {
      const pool = this.pool;
      for (let i = 0; i < ID_POOL_WORDS; i++) pool[i] = (Math.random() * 4294967296) | 0;
      this.used = 0;
    }
    return this.pool[this.used++];
  }
}

export { SpanKind };
