import assert from 'node:assert/strict';
import { SpanKind, type Sampler } from '@opentelemetry/api';
import { trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { frameRequest, ProtoWriter, SpanEncoder } from '../../services/telemetry/otlp-encoder.js';
import { parseTraceparent, SpanRecorder, type RecordedSpan } from '../../services/telemetry/span-recorder.js';
import { fromProtobuf } from '../helpers/otlp-receiver.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

/** A recorder whose ended spans are collected. */
function recorder(sampler: Sampler = new AlwaysOnSampler(), shortcut: 'on' | 'off' | 'parent' | 'ask' = 'ask') {
  const ended: RecordedSpan[] = [];
  return { rec: new SpanRecorder(sampler, { record: (s) => ended.push(s) }, shortcut), ended };
}

/** Encodes spans the way the batch processor does and decodes them with the test receiver's reader. */
function roundTrip(spans: RecordedSpan[], resource: Record<string, string> = { 'service.name': 'meshgate-edge' }) {
  const enc = new SpanEncoder();
  const out = new ProtoWriter(16);
  for (const s of spans) enc.writeRecorded(out, s, performance.timeOrigin);
  const body = frameRequest(enc.encodeResource(resource), enc.encodeScope('meshgate', '0.1.0'), out.buf, out.pos);
  return fromProtobuf(Buffer.from(body));
}

describe('trace context and span encoding (OTLP/protobuf)', () => {
  it('parses a W3C traceparent and refuses malformed ones', () => {
    const p = parseTraceparent(`00-${TRACE}-${PARENT}-01`, 'a=1, b=2');
    assert.deepEqual([p?.traceId, p?.spanId, p?.sampled, p?.traceState], [TRACE, PARENT, true, 'a=1, b=2']);
    // ids with the high bit set in every word survive the round trip through 32-bit words
    const high = 'f'.repeat(32);
    assert.equal(parseTraceparent(`00-${high}-${'8'.repeat(16)}-01`, undefined)?.traceId, high);
    assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-00`, undefined)?.sampled, false);
    assert.equal(parseTraceparent([`00-${TRACE}-${PARENT}-03`, 'x'], ['a=1', 'b=2'])?.traceState, 'a=1,b=2');
    // a future version may add fields; version 00 may not
    assert.equal(parseTraceparent(`01-${TRACE}-${PARENT}-01-extra`, undefined)?.traceId, TRACE);
    // optional whitespace around the value; none inside
    assert.equal(parseTraceparent(` \t00-${TRACE}-${PARENT}-01\t `, undefined)?.spanId, PARENT);
    for (const bad of [undefined, '', 'garbage', `00-${TRACE}-${PARENT}-01 x`, `01-${TRACE}-${PARENT}-01-a b`, `00-${TRACE}-${PARENT}-0g`, `00_${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01-extra`, `ff-${TRACE}-${PARENT}-01`, `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, `00-${TRACE}-${PARENT}-1`]) {
      assert.equal(parseTraceparent(bad, undefined), undefined, String(bad));
    }
  });

  it('continues the caller: same trace, the caller as parent, its decision with a parent-based sampler', () => {
    const { rec } = recorder(new ParentBasedSampler({ root: new AlwaysOffSampler() }), 'parent');
    const sampled = rec.root('ingress GET', SpanKind.SERVER, parseTraceparent(`00-${TRACE}-${PARENT}-01`, 'v=1'));
    assert.equal(sampled.traceId, TRACE);
    assert.equal(sampled.parentSpanId, PARENT);
    assert.equal(sampled.sampled, true);
    const child = sampled.child('tunnel send', SpanKind.CLIENT);
    const headers: Record<string, unknown> = { tracestate: 'stale' };
    child.inject(headers);
    assert.equal(headers.traceparent, `00-${TRACE}-${child.spanId}-01`);
    assert.equal(headers.tracestate, 'v=1');
    assert.equal(rec.root('x', SpanKind.SERVER, parseTraceparent(`00-${TRACE}-${PARENT}-00`, undefined)).sampled, false);
    // a new trace: the root sampler (always off) decides; the context still propagates
    const fresh = rec.root('x', SpanKind.SERVER, undefined);
    assert.equal(fresh.sampled, false);
    assert.match(fresh.traceparent(), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.notEqual(fresh.traceId, TRACE);
  });

  it('asks a ratio sampler with the trace id, so every process decides the same for a trace', () => {
    const { rec } = recorder(new TraceIdRatioBasedSampler(0.5), 'ask');
    const decisions = new Set<boolean>();
    for (let i = 0; i < 200; i++) decisions.add(rec.root('x', SpanKind.SERVER, undefined).sampled);
    assert.deepEqual([...decisions].sort(), [false, true]);
    const a = rec.root('x', SpanKind.SERVER, parseTraceparent(`00-${TRACE}-${PARENT}-01`, undefined)).sampled;
    for (let i = 0; i < 5; i++) assert.equal(rec.root('y', SpanKind.CLIENT, parseTraceparent(`00-${TRACE}-${PARENT}-00`, undefined)).sampled, a);
  });

  it('records only sampled spans, once', () => {
    const { rec, ended } = recorder(new AlwaysOffSampler(), 'off');
    const s = rec.root('x', SpanKind.SERVER, undefined);
    s.set('k', 'v');
    s.end();
    assert.deepEqual([ended.length, s.attrs.length], [0, 0]);
    const on = recorder(new AlwaysOnSampler(), 'on');
    const t = on.rec.root('x', SpanKind.SERVER, undefined);
    t.end();
    t.end();
    assert.equal(on.ended.length, 1);
  });

  it('encodes spans that decode to the same ids, names, kinds, attributes, status and times', () => {
    const { rec, ended } = recorder();
    const root = rec.root('ingress GET', SpanKind.SERVER, parseTraceparent(`00-${TRACE}-${PARENT}-01`, 'vendor=x'));
    root.set('http.request.method', 'GET');
    root.set('url.path', '/ünïcode/路径');
    root.set('http.response.status_code', 503);
    root.set('big', 2 ** 40);
    root.set('negative', -3);
    root.set('ratio', 0.25);
    root.set('flag', true);
    root.set('meshgate.policy.actions', ['add-headers', 'forward-internal']);
    root.error('upstream failed');
    const child = root.child('policy on_http_request', SpanKind.INTERNAL);
    child.set('http.request.method', 'GET'); // cached the second time
    child.end();
    root.end();
    const before = Date.now();
    const [c, r] = roundTrip(ended);
    assert.equal(r.traceId, TRACE);
    assert.equal(r.parentSpanId, PARENT);
    assert.equal(r.spanId, root.spanId);
    assert.equal(r.name, 'ingress GET');
    assert.equal(r.kind, 2);
    assert.equal(r.traceState, 'vendor=x');
    assert.equal(r.statusCode, 2);
    assert.deepEqual(r.attributes, {
      'http.request.method': 'GET',
      'url.path': '/ünïcode/路径',
      'http.response.status_code': 503,
      big: 2 ** 40,
      negative: -3,
      ratio: 0.25,
      flag: true,
      'meshgate.policy.actions': ['add-headers', 'forward-internal'],
    });
    assert.equal(r.resource['service.name'], 'meshgate-edge');
    assert.equal(c.parentSpanId, root.spanId);
    assert.equal(c.kind, 1);
    assert.deepEqual(c.attributes, { 'http.request.method': 'GET' });
    assert.equal(c.statusCode, 0);
    assert.ok(Math.abs(before - r.startMs) < 5_000, `start ${r.startMs} vs now ${before}`);
    assert.ok(r.endMs >= r.startMs);
  });

  it('encodes spans made through the OpenTelemetry API the same way (events and links included)', () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    const tracer = provider.getTracer('other', '1.2.3');
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: PARENT, traceFlags: 1, isRemote: true });
    const span = tracer.startSpan('custom', { kind: SpanKind.PRODUCER, links: [{ context: { traceId: TRACE, spanId: 'aaaaaaaaaaaaaaaa', traceFlags: 1 }, attributes: { why: 'batch' } }] }, parent);
    span.setAttribute('n', 7);
    span.addEvent('retry', { attempt: 2 });
    span.end();
    const [s] = memory.getFinishedSpans();
    const enc = new SpanEncoder();
    const msg = enc.encodeSpan(s);
    const out = new ProtoWriter(16);
    out.tag(2, 2);
    out.varint(msg.length);
    out.append(msg, 0, msg.length);
    const [d] = fromProtobuf(Buffer.from(frameRequest(enc.encodeResource({ 'service.name': 'x' }), enc.encodeScope('other', '1.2.3'), out.buf, out.pos)));
    assert.deepEqual([d.traceId, d.parentSpanId, d.spanId, d.name, d.kind], [TRACE, PARENT, s.spanContext().spanId, 'custom', 4]);
    assert.deepEqual(d.attributes, { n: 7 });
  });

  it('writes spans whose length takes one, two or three bytes (the length is filled in after the span)', () => {
    const { rec, ended } = recorder();
    const small = rec.root('s', SpanKind.INTERNAL, undefined);
    small.end();
    const big = rec.root('b', SpanKind.SERVER, undefined);
    big.set('url.path', `/${'p'.repeat(20_000)}`);
    big.set('n', 1);
    big.end();
    const medium = small.child('m', SpanKind.CLIENT);
    medium.set('k', 'v'.repeat(100));
    medium.error('bad');
    medium.end();
    const decoded = roundTrip(ended);
    assert.deepEqual(decoded.map((d) => [d.name, d.spanId, Object.keys(d.attributes).length]), [['s', small.spanId, 0], ['b', big.spanId, 2], ['m', medium.spanId, 1]]);
    assert.equal((decoded[1].attributes['url.path'] as string).length, 20_001);
    assert.equal(decoded[2].statusCode, 2);
    assert.equal(decoded[2].parentSpanId, small.spanId);
  });

  it('writes attributes with many distinct values (paths, client addresses) as exactly as the cached ones', () => {
    const { rec, ended } = recorder();
    for (let i = 0; i < 600; i++) {
      const s = rec.root('ingress GET', SpanKind.SERVER, undefined);
      s.set('url.path', `/items/${i}/ü${'x'.repeat(i % 300)}`);
      s.set('http.request.method', 'GET');
      s.set('n', i);
      s.end();
    }
    const decoded = roundTrip(ended);
    assert.equal(decoded.length, 600);
    decoded.forEach((d, i) => assert.deepEqual(d.attributes, { 'url.path': `/items/${i}/ü${'x'.repeat(i % 300)}`, 'http.request.method': 'GET', n: i }, `span ${i}`));
  });

  it('frames a batch in the free bytes before its spans (no copy), and copies when they are too few', () => {
    const { rec, ended } = recorder();
    for (let i = 0; i < 3; i++) rec.root(`s${i}`, SpanKind.SERVER, undefined).end();
    const enc = new SpanEncoder();
    const scope = enc.encodeScope('meshgate', '0.1.0');
    const frame = (headroom: number, resource: Record<string, string>) => {
      const out = new ProtoWriter(4096);
      out.pos = headroom;
      out.buf.fill(0xee, 0, headroom);
      for (const s of ended) enc.writeRecorded(out, s, performance.timeOrigin);
      const body = frameRequest(enc.encodeResource(resource), scope, out.buf, out.pos, headroom);
      return { body, shared: body.buffer === out.buf.buffer, offset: body.byteOffset, decoded: fromProtobuf(Buffer.from(body)) };
    };
    const small = { 'service.name': 'meshgate-edge' };
    const inPlace = frame(512, small);
    assert.equal(inPlace.shared, true);
    assert.deepEqual(inPlace.decoded.map((d) => [d.name, d.spanId, d.resource['service.name']]), ended.map((s) => [s.name, s.spanId, 'meshgate-edge']));
    // a resource bigger than the free bytes: the request is assembled in a new buffer, same contents
    const big = { 'service.name': 'meshgate-edge', note: 'r'.repeat(600) };
    const copied = frame(512, big);
    assert.equal(copied.shared, false);
    assert.deepEqual(copied.decoded.map((d) => [d.name, d.spanId, d.resource.note]), ended.map((s) => [s.name, s.spanId, big.note]));
    // room for exactly the head: written in place, starting at the buffer's first byte
    const headLength = 512 - inPlace.offset;
    const exact = frame(headLength, small);
    assert.deepEqual([exact.shared, exact.offset, exact.body.equals(inPlace.body)], [true, 0, true]);
    assert.equal(frame(headLength - 1, small).shared, false);
  });

  it('writes list attributes exactly, cached or not, whatever their items hold', () => {
    const lists = [['forward-internal'], ['add-headers', 'forward-internal'], ['\u0001add-headers\u0001forward-internal'], ['a\u0001', 'b'], ['a', '\u0001b'], [''], []];
    const { rec, ended } = recorder();
    // each list twice: the second time its bytes may come from the cache
    for (let round = 0; round < 2; round++) {
      for (const list of lists) {
        const s = rec.root('policy', SpanKind.INTERNAL, undefined);
        s.set('meshgate.policy.actions', list);
        s.set('label', list.join('|'));
        s.end();
      }
    }
    const decoded = roundTrip(ended);
    assert.deepEqual(decoded.map((d) => d.attributes['meshgate.policy.actions']), [...lists, ...lists]);
  });

  it('turns performance.now() times into epoch nanoseconds exactly', () => {
    const { rec } = recorder();
    const span = rec.root('t', SpanKind.INTERNAL, undefined);
    // a recorded span's times are performance.now() values: pick ones whose sum with the origin needs more than 53 bits
    Object.assign(span, { startMs: 0.000123, endMs: 4_294_967.296001 });
    const enc = new SpanEncoder();
    const out = new ProtoWriter(16);
    const origin = 1_795_441_331_856.25;
    enc.writeRecorded(out, span, origin);
    const [d] = fromProtobuf(Buffer.from(frameRequest(enc.encodeResource({}), enc.encodeScope('m', '1'), out.buf, out.pos)));
    assert.equal(d.startNs, 1_795_441_331_856_250_123n);
    assert.equal(d.endNs, 1_795_441_331_856_250_000n + 4_294_967_296_001n);
  });

  it('writes nanosecond timestamps exactly (past 2^53)', () => {
    for (const t of [[0, 0], [1, 1], [1_795_441_331, 856_000_001], [4_294_967_295, 999_999_999], [65_536, 5]] as const) {
      const w = new ProtoWriter(8);
      w.nanos([t[0], t[1]]);
      assert.equal(w.buf.readBigUInt64LE(0), BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]), `${t}`);
    }
  });
});
