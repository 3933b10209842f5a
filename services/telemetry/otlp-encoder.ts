/*
 * OTLP/protobuf encoding of finished spans, one span at a time (otlp-batch-processor.ts encodes
 * each span as it ends, so span objects die young instead of waiting in a batch).
 *
 * Wire format (opentelemetry/proto/trace/v1/trace.proto, collector/trace/v1/trace_service.proto):
 *   ExportTraceServiceRequest { 1 repeated ResourceSpans }
 *   ResourceSpans { 1 Resource; 2 repeated ScopeSpans }      Resource { 1 repeated KeyValue }
 *   ScopeSpans { 1 InstrumentationScope; 2 repeated Span }    InstrumentationScope { 1 name; 2 version }
 *   Span { 1 trace_id bytes; 2 span_id bytes; 3 trace_state; 4 parent_span_id bytes; 5 name;
 *          6 kind (API kind + 1); 7/8 start/end fixed64 ns; 9 repeated KeyValue attributes;
 *          10 dropped_attributes_count; 11 repeated Event; 12 dropped_events_count;
 *          13 repeated Link; 14 dropped_links_count; 15 Status; 16 flags fixed32 }
 *   Event { 1 time fixed64; 2 name; 3 attributes; 4 dropped_attributes_count }
 *   Link { 1 trace_id; 2 span_id; 3 trace_state; 4 attributes; 5 dropped_attributes_count; 6 flags }
 *   Status { 2 message; 3 code }    KeyValue { 1 key; 2 AnyValue }
 *   AnyValue { 1 string; 2 bool; 3 int64; 4 double; 5 ArrayValue { 1 repeated AnyValue } }
 *
 * Every length is computed before it is written (minimal varints, as any protobuf encoder
 * does). Strings are written with Buffer's native UTF-8 encoder, and the encoded bytes of short
 * strings (attribute keys, hosts, endpoint ids, span names) are kept in a bounded cache: most
 * of a span's bytes repeat from one request to the next.
 */
import type { Attributes, AttributeValue, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { ATTR } from './span-names.js';
import type { RecordedSpan, RecordedValue } from './span-recorder.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** OTLP span flags: bit 8 = "is the parent remote" is known, bit 9 = it is remote. */
const FLAG_HAS_IS_REMOTE = 0x100;
const FLAG_IS_REMOTE = 0x200;

/** Strings this long or shorter are cached encoded; at most CACHE_ENTRIES of them. */
const CACHE_MAX_CHARS = 128;
const CACHE_ENTRIES = 4096;

const TWO_32 = 4294967296;

/** Encoded `KeyValue` fields kept for repeated attribute pairs. */
const FIELD_CACHE_ENTRIES = 8192;
/** Distinct values of one attribute key that are cached; past that, the key's values are written uncached. */
const VALUES_PER_KEY = 256;
/** Marks a key with more distinct values than VALUES_PER_KEY in the field cache. */
const MANY_VALUES: Map<string | number | boolean, Buffer> = new Map();

/**
 * The cache key of a list of strings: its one item as is (no string is built for the common
 * case), or `\u0001` before each item of a longer list; undefined (write it uncached) when an
 * item holds `\u0001` and two lists could share a key.
 */
function listKey(items: readonly string[]): string | undefined {
  if (items.length === 1) return items[0].charCodeAt(0) === 1 ? undefined : items[0];
  for (const item of items) if (item.includes('\u0001')) return undefined;
  return `\u0001${items.join('\u0001')}`;
}

/** Writes a 32-bit id word big-endian (the order of its hex digits); returns the position after it. */
function putWord(out: Buffer, p: number, w: number): number {
  out[p] = w >>> 24;
  out[p + 1] = (w >>> 16) & 255;
  out[p + 2] = (w >>> 8) & 255;
  out[p + 3] = w & 255;
  return p + 4;
}

/** Size in bytes of `n` (a non-negative integer below 2^53) as a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A growable output buffer with the few protobuf primitives spans need. */
export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  /** `initial`: a size to allocate, or a buffer to write over (its contents are not kept). */
  constructor(initial: number | Buffer = 4096) {
    this.buf = typeof initial === 'number' ? Buffer.allocUnsafe(initial) : initial;
  }

  reset(): void {
    this.pos = 0;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(n: number): void {
    this.ensure(10);
    const b = this.buf;
    while (n >= 128) {
      b[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    b[this.pos++] = n;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** Varint of a signed 64-bit value (negative numbers take ten bytes, two's complement). */
  int64(n: number): void {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) return this.varint(n);
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
    this.ensure(10);
    while (v >= 128n) {
      this.buf[this.pos++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  bytes(b: Buffer): void {
    this.varint(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** Hex id (trace or span id) as a length-delimited byte field. */
  hexField(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, WIRE_LEN);
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(hex, this.pos, n, 'hex');
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.pos = this.buf.writeUInt32LE(v >>> 0, this.pos);
  }

  double(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  /** HrTime [seconds, nanoseconds] as fixed64 nanoseconds since the epoch, exactly. */
  nanos(t: HrTime): void {
    const sec = t[0];
    // sec * 1e9 overflows 2^53: split sec at 2^16 so every product stays exact.
    const high = Math.floor(sec / 65536) * 1e9; // contributes high * 2^16
    const low = (sec % 65536) * 1e9 + t[1];
    let lo = (high % 65536) * 65536 + (low % TWO_32);
    const hi = Math.floor(high / 65536) + Math.floor(low / TWO_32) + Math.floor(lo / TWO_32);
    lo %= TWO_32;
    this.ensure(8);
    this.pos = this.buf.writeUInt32LE(lo, this.pos);
    this.pos = this.buf.writeUInt32LE(hi >>> 0, this.pos);
  }

  /** Copies a small buffer in (a loop beats a native call for a few dozen bytes). */
  put(b: Buffer): void {
    const n = b.length;
    this.ensure(n);
    if (n > 48) {
      this.buf.set(b, this.pos);
      this.pos += n;
      return;
    }
    const out = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) out[p++] = b[i];
    this.pos = p;
  }

  /** An id kept as 32-bit words (span-recorder.ts) as a length-delimited byte field: two words (8 bytes) or four (16). */
  idWords(field: number, a: number, b: number, c?: number, d?: number): void {
    this.ensure(19);
    const out = this.buf;
    let p = this.pos;
    const four = c !== undefined && d !== undefined;
    out[p++] = field * 8 + WIRE_LEN;
    out[p++] = four ? 16 : 8;
    p = putWord(out, p, a);
    p = putWord(out, p, b);
    if (four) p = putWord(out, putWord(out, p, c), d);
    this.pos = p;
  }

  /**
   * Writes at `at` the length of what follows the `reserved` bytes kept there (up to the end),
   * as a minimal varint, moving what follows when the varint takes another number of bytes.
   */
  fillLength(at: number, reserved: number): void {
    const start = at + reserved;
    const size = this.pos - start;
    const need = varintSize(size);
    if (need !== reserved) {
      this.ensure(need - reserved);
      this.buf.copyWithin(at + need, start, this.pos);
      this.pos += need - reserved;
    }
    const b = this.buf;
    let p = at;
    let n = size;
    while (n >= 128) {
      b[p++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    b[p] = n;
  }

  /** Copies `from[start..end)` in. */
  append(from: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    from.copy(this.buf, this.pos, start, end);
    this.pos += end - start;
  }
}

/** Encoded UTF-8 bytes of recently seen short strings. */
export class StringBytes {
  private readonly cache = new Map<string, Buffer>();

  get(s: string): Buffer {
    let b = this.cache.get(s);
    if (b === undefined) {
      b = Buffer.from(s, 'utf8');
      if (s.length <= CACHE_MAX_CHARS) {
        if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
        this.cache.set(s, b);
      }
    }
    return b;
  }
}

/** Encodes spans, resources and scopes; one instance per batch processor. */
export class SpanEncoder {
  private readonly strings = new StringBytes();
  private readonly scratch = new ProtoWriter(2048);

  /** One span as a complete `Span` message (no tag/length of its own). */
  encodeSpan(span: ReadableSpan): Buffer {
    const w = this.scratch;
    w.reset();
    const ctx = span.spanContext();
    w.hexField(1, ctx.traceId);
    w.hexField(2, ctx.spanId);
    const state = ctx.traceState?.serialize();
    if (state) this.stringField(w, 3, state);
    const parent = span.parentSpanContext;
    if (parent?.spanId) w.hexField(4, parent.spanId);
    this.stringField(w, 5, span.name);
    w.tag(6, WIRE_VARINT);
    w.varint(span.kind + 1);
    w.tag(7, WIRE_FIXED64);
    w.nanos(span.startTime);
    w.tag(8, WIRE_FIXED64);
    w.nanos(span.endTime);
    this.attributes(w, 9, span.attributes);
    if (span.droppedAttributesCount > 0) {
      w.tag(10, WIRE_VARINT);
      w.varint(span.droppedAttributesCount);
    }
    for (const e of span.events) this.event(w, e);
    if (span.droppedEventsCount > 0) {
      w.tag(12, WIRE_VARINT);
      w.varint(span.droppedEventsCount);
    }
    for (const l of span.links) this.link(w, l);
    if (span.droppedLinksCount > 0) {
      w.tag(14, WIRE_VARINT);
      w.varint(span.droppedLinksCount);
    }
    const status = span.status;
    if (status.code !== 0 || status.message) {
      const msg = status.message ? this.strings.get(status.message) : undefined;
      const size = (msg ? 1 + varintSize(msg.length) + msg.length : 0) + (status.code !== 0 ? 2 : 0);
      w.tag(15, WIRE_LEN);
      w.varint(size);
      if (msg) {
        w.tag(2, WIRE_LEN);
        w.bytes(msg);
      }
      if (status.code !== 0) {
        w.tag(3, WIRE_VARINT);
        w.varint(status.code);
      }
    }
    w.tag(16, WIRE_FIXED32);
    w.fixed32(spanFlags(ctx, parent));
    return w.buf.subarray(0, w.pos);
  }

  /** Encoded `5: name` fields by span name. */
  private readonly names = new Map<string, Buffer>();
  /** Encoded `9: KeyValue` fields by key, then by value. */
  private readonly keyValues = new Map<string, Map<string | number | boolean, Buffer>>();
  /** The same for list values, by `listKey` (rules matched, actions run). */
  private readonly listValues = new Map<string, Map<string | number | boolean, Buffer>>();
  /** Entries in both caches; both are emptied when it reaches FIELD_CACHE_ENTRIES. */
  private cachedFields = 0;
  /** performance.timeOrigin the next two are for, and it in nanoseconds split at 2^32. */
  private originMs = NaN;
  private originHi = 0;
  private originLo = 0;

  /**
   * Writes a RecordedSpan (span-recorder.ts) into `out` as a `2: Span` field of ScopeSpans.
   * `timeOrigin` = performance.timeOrigin. The hot path: whole attribute fields (key and value)
   * and the span name come from caches, the rest is ids and times, written straight into `out`
   * after a two-byte space for the length, which is filled in (and the span moved, when its
   * length takes another number of bytes) at the end.
   */
  writeRecorded(out: ProtoWriter, span: RecordedSpan, timeOrigin: number): void {
    if (timeOrigin !== this.originMs) this.setOrigin(timeOrigin);
    const t = span.trace;
    // the fixed-size head, written byte by byte: the field's tag and two bytes for its length,
    // the trace id (tag, length, 16 bytes) and the span id (tag, length, 8 bytes)
    out.ensure(31);
    let b = out.buf;
    let p = out.pos;
    b[p++] = 2 * 8 + WIRE_LEN;
    const lengthAt = p;
    p += 2;
    b[p++] = 1 * 8 + WIRE_LEN;
    b[p++] = 16;
    p = putWord(b, putWord(b, putWord(b, putWord(b, p, t.t0), t.t1), t.t2), t.t3);
    b[p++] = 2 * 8 + WIRE_LEN;
    b[p++] = 8;
    out.pos = putWord(b, putWord(b, p, span.s0), span.s1);
    if (t.traceState !== undefined) this.stringField(out, 3, t.traceState);
    if ((span.p0 | span.p1) !== 0) out.idWords(4, span.p0, span.p1);
    out.put(this.nameField(span.name));
    // kind (API kind + 1: one byte), start and end (fixed64 nanoseconds)
    out.ensure(20);
    b = out.buf;
    p = out.pos;
    b[p++] = 6 * 8 + WIRE_VARINT;
    b[p++] = span.kind + 1;
    b[p++] = 7 * 8 + WIRE_FIXED64;
    p = this.putNanos(b, p, span.startMs);
    b[p++] = 8 * 8 + WIRE_FIXED64;
    out.pos = this.putNanos(b, p, span.endMs);
    const a = span.attrs;
    for (let i = 0; i < a.length; i += 2) this.writeAttribute(out, a[i] as string, a[i + 1] as RecordedValue);
    if (span.status !== 0) this.writeAttribute(out, ATTR.httpStatus, span.status);
    if (span.errorCode !== undefined) this.writeAttribute(out, ATTR.errorCode, span.errorCode);
    if (span.statusCode !== 0) {
      const msg = span.statusMessage ? this.strings.get(span.statusMessage) : undefined;
      out.tag(15, WIRE_LEN);
      out.varint((msg ? 1 + varintSize(msg.length) + msg.length : 0) + 2);
      if (msg) {
        out.tag(2, WIRE_LEN);
        out.bytes(msg);
      }
      out.tag(3, WIRE_VARINT);
      out.varint(span.statusCode);
    }
    // flags (fixed32): sampled, and whether the parent is remote
    out.ensure(5);
    b = out.buf;
    p = out.pos;
    b[p++] = 16 * 8 + WIRE_FIXED32;
    b[p++] = 1;
    b[p++] = (FLAG_HAS_IS_REMOTE | (span.parentIsRemote ? FLAG_IS_REMOTE : 0)) >>> 8;
    b[p++] = 0;
    b[p++] = 0;
    out.pos = p;
    out.fillLength(lengthAt, 2);
  }

  private setOrigin(timeOrigin: number): void {
    const ms = Math.floor(timeOrigin);
    const ns = BigInt(ms) * 1_000_000n + BigInt(Math.round((timeOrigin - ms) * 1e6));
    this.originMs = timeOrigin;
    this.originHi = Number(ns >> 32n);
    this.originLo = Number(ns & 0xffffffffn);
  }

  /**
   * Writes a performance.now() time at `p` as fixed64 nanoseconds since the epoch (exact to the
   * nanosecond the clock gives); returns the position after it.
   */
  private putNanos(b: Buffer, p: number, ms: number): number {
    const rel = Math.round(ms * 1e6);
    let lo = this.originLo + (rel % TWO_32);
    let hi = this.originHi + Math.floor(rel / TWO_32);
    if (lo >= TWO_32) {
      lo -= TWO_32;
      hi++;
    }
    b[p] = lo & 255;
    b[p + 1] = (lo >>> 8) & 255;
    b[p + 2] = (lo >>> 16) & 255;
    b[p + 3] = lo >>> 24;
    b[p + 4] = hi & 255;
    b[p + 5] = (hi >>> 8) & 255;
    b[p + 6] = (hi >>> 16) & 255;
    b[p + 7] = hi >>> 24;
    return p + 8;
  }

  /** `5: name` encoded, cached. */
  private nameField(name: string): Buffer {
    const b = this.names.get(name);
    if (b !== undefined) return b;
    const w = new ProtoWriter(name.length * 3 + 8);
    this.stringField(w, 5, name);
    return this.remember(this.names, name, w);
  }

  /**
   * Writes one attribute as a `9: KeyValue` field: from the cache when the pair was seen before;
   * a pair of a key with few distinct values is cached on first sight; one of a key with many
   * (url.path, client.address) is written straight into `out`, so such values neither fill the
   * cache nor push the repeating pairs out of it.
   */
  private writeAttribute(out: ProtoWriter, key: string, value: RecordedValue): void {
    const list = typeof value === 'object';
    const cache = list ? this.listValues : this.keyValues;
    let byValue = cache.get(key);
    if (byValue === MANY_VALUES) return this.writeUncached(out, key, value);
    const vkey = list ? listKey(value) : value;
    if (vkey === undefined) return this.keyValue(out, 9, key, value);
    const b = byValue?.get(vkey);
    if (b !== undefined) return out.put(b);
    if (byValue !== undefined && byValue.size >= VALUES_PER_KEY) {
      // from now on (until the caches are emptied) the key's values are neither looked up nor kept
      cache.set(key, MANY_VALUES);
      return this.writeUncached(out, key, value);
    }
    if (byValue === undefined || this.cachedFields >= FIELD_CACHE_ENTRIES) {
      if (this.cachedFields >= FIELD_CACHE_ENTRIES) this.forget();
      byValue = new Map();
      cache.set(key, byValue);
    }
    const w = new ProtoWriter(64);
    this.keyValue(w, 9, key, value);
    out.put(this.remember(byValue, vkey, w));
  }

  /** A `9: KeyValue` written without caching its value's bytes. */
  private writeUncached(out: ProtoWriter, key: string, value: RecordedValue): void {
    if (typeof value !== 'string') return this.keyValue(out, 9, key, value);
    const k = this.strings.get(key);
    const n = Buffer.byteLength(value, 'utf8');
    const anyValue = 1 + varintSize(n) + n;
    out.tag(9, WIRE_LEN);
    out.varint(1 + varintSize(k.length) + k.length + 1 + varintSize(anyValue) + anyValue);
    out.tag(1, WIRE_LEN);
    out.bytes(k);
    out.tag(2, WIRE_LEN);
    out.varint(anyValue);
    out.tag(1, WIRE_LEN);
    out.varint(n);
    out.ensure(n);
    out.pos += out.buf.write(value, out.pos, n, 'utf8');
  }

  private remember<K>(cache: Map<K, Buffer>, key: K, w: ProtoWriter): Buffer {
    if (this.cachedFields >= FIELD_CACHE_ENTRIES) this.forget();
    const b = Buffer.from(w.buf.subarray(0, w.pos));
    cache.set(key, b);
    this.cachedFields++;
    return b;
  }

  private forget(): void {
    this.names.clear();
    this.keyValues.clear();
    this.listValues.clear();
    this.cachedFields = 0;
  }

  /** A `Resource` message. */
  encodeResource(attributes: Attributes): Buffer {
    const w = new ProtoWriter(512);
    this.attributes(w, 1, attributes);
    return Buffer.from(w.buf.subarray(0, w.pos));
  }

  /** An `InstrumentationScope` message. */
  encodeScope(name: string, version: string | undefined): Buffer {
    const w = new ProtoWriter(128);
    this.stringField(w, 1, name);
    if (version) this.stringField(w, 2, version);
    return Buffer.from(w.buf.subarray(0, w.pos));
  }

  private stringField(w: ProtoWriter, field: number, s: string): void {
    w.tag(field, WIRE_LEN);
    w.bytes(this.strings.get(s));
  }

  private attributes(w: ProtoWriter, field: number, attrs: Attributes): void {
    for (const key in attrs) {
      const value = attrs[key];
      if (value !== undefined && value !== null) this.keyValue(w, field, key, value);
    }
  }

  /** One `KeyValue` as field `field`. */
  private keyValue(w: ProtoWriter, field: number, key: string, value: AttributeValue | RecordedValue): void {
    const k = this.strings.get(key);
    const valueSize = this.anyValueSize(value as AttributeValue);
    w.tag(field, WIRE_LEN);
    w.varint(1 + varintSize(k.length) + k.length + 1 + varintSize(valueSize) + valueSize);
    w.tag(1, WIRE_LEN);
    w.bytes(k);
    w.tag(2, WIRE_LEN);
    w.varint(valueSize);
    this.anyValue(w, value as AttributeValue);
  }

  /** Encoded size of an AnyValue message holding `v`. */
  private anyValueSize(v: AttributeValue | null | undefined): number {
    switch (typeof v) {
      case 'string': {
        const n = this.strings.get(v).length;
        return 1 + varintSize(n) + n;
      }
      case 'boolean':
        return 2;
      case 'number':
        return Number.isInteger(v) ? 1 + (v >= 0 && v <= Number.MAX_SAFE_INTEGER ? varintSize(v) : 10) : 9;
      default: {
        if (!Array.isArray(v)) return 0;
        let inner = 0;
        for (const item of v as ReadonlyArray<unknown>) {
          const n = this.anyValueSize(item as AttributeValue);
          inner += 1 + varintSize(n) + n;
        }
        return 1 + varintSize(inner) + inner;
      }
    }
  }

  private anyValue(w: ProtoWriter, v: AttributeValue | null | undefined): void {
    switch (typeof v) {
      case 'string':
        w.tag(1, WIRE_LEN);
        w.bytes(this.strings.get(v));
        return;
      case 'boolean':
        w.tag(2, WIRE_VARINT);
        w.varint(v ? 1 : 0);
        return;
      case 'number':
        if (Number.isInteger(v)) {
          w.tag(3, WIRE_VARINT);
          w.int64(v);
        } else {
          w.tag(4, WIRE_FIXED64);
          w.double(v);
        }
        return;
      default: {
        if (!Array.isArray(v)) return;
        let inner = 0;
        for (const item of v as ReadonlyArray<unknown>) {
          const n = this.anyValueSize(item as AttributeValue);
          inner += 1 + varintSize(n) + n;
        }
        w.tag(5, WIRE_LEN);
        w.varint(inner);
        for (const item of v as ReadonlyArray<unknown>) {
          w.tag(1, WIRE_LEN);
          w.varint(this.anyValueSize(item as AttributeValue));
          this.anyValue(w, item as AttributeValue);
        }
      }
    }
  }

  /** Events and links are rare here: encoded through a nested writer. */
  private event(w: ProtoWriter, e: TimedEvent): void {
    const inner = new ProtoWriter(256);
    inner.tag(1, WIRE_FIXED64);
    inner.nanos(e.time);
    this.stringField(inner, 2, e.name);
    if (e.attributes) this.attributes(inner, 3, e.attributes);
    if (e.droppedAttributesCount) {
      inner.tag(4, WIRE_VARINT);
      inner.varint(e.droppedAttributesCount);
    }
    w.tag(11, WIRE_LEN);
    w.varint(inner.pos);
    w.append(inner.buf, 0, inner.pos);
  }

  private link(w: ProtoWriter, l: Link): void {
    const inner = new ProtoWriter(256);
    inner.hexField(1, l.context.traceId);
    inner.hexField(2, l.context.spanId);
    const state = l.context.traceState?.serialize();
    if (state) this.stringField(inner, 3, state);
    if (l.attributes) this.attributes(inner, 4, l.attributes);
    if (l.droppedAttributesCount) {
      inner.tag(5, WIRE_VARINT);
      inner.varint(l.droppedAttributesCount);
    }
    inner.tag(6, WIRE_FIXED32);
    inner.fixed32(spanFlags(l.context, undefined));
    w.tag(13, WIRE_LEN);
    w.varint(inner.pos);
    w.append(inner.buf, 0, inner.pos);
  }
}

function spanFlags(ctx: SpanContext, parent: SpanContext | undefined): number {
  let flags = (ctx.traceFlags & 0xff) | FLAG_HAS_IS_REMOTE;
  if (parent?.isRemote) flags |= FLAG_IS_REMOTE;
  return flags;
}

/**
 * An ExportTraceServiceRequest from encoded parts: one ResourceSpans with one ScopeSpans holding
 * `buf[spansStart, spansEnd)`, spans that are each already a `2: Span` field (tag, length,
 * message). When the head of the request (everything before the spans) fits in the
 * `spansStart` bytes left free before them, it is written there and the request is a view of
 * `buf`: a batch of thousands of spans is not copied.
 */
export function frameRequest(resource: Buffer, scope: Buffer, buf: Buffer, spansEnd: number, spansStart = 0): Buffer {
  const spansLength = spansEnd - spansStart;
  const scopeField = 1 + varintSize(scope.length) + scope.length;
  const scopeSpans = scopeField + spansLength;
  const resourceField = 1 + varintSize(resource.length) + resource.length;
  const resourceSpans = resourceField + 1 + varintSize(scopeSpans) + scopeSpans;
  const headLength = 1 + varintSize(resourceSpans) + resourceSpans - spansLength;
  const inPlace = headLength <= spansStart;
  const w = inPlace ? new ProtoWriter(buf) : new ProtoWriter(headLength + spansLength);
  if (inPlace) w.pos = spansStart - headLength;
  const from = w.pos;
  w.tag(1, WIRE_LEN);
  w.varint(resourceSpans);
  w.tag(1, WIRE_LEN);
  w.bytes(resource);
  w.tag(2, WIRE_LEN);
  w.varint(scopeSpans);
  w.tag(1, WIRE_LEN);
  w.bytes(scope);
  if (inPlace) return buf.subarray(from, spansEnd);
  w.append(buf, spansStart, spansEnd);
  return w.buf.subarray(0, w.pos);
}

export { varintSize };
