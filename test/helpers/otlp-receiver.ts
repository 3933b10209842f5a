/**
 * A real OTLP/HTTP trace receiver for tests: `POST /v1/traces` on 127.0.0.1 (port 0) accepting
 * `application/json` (http/json) and `application/x-protobuf` (http/protobuf), answering as a
 * collector does (200 with an empty ExportTraceServiceResponse). Every span received is kept,
 * flattened with its resource, and can be waited for (bounded).
 *
 * The protobuf side is a small wire-format reader over the OTLP trace messages
 * (opentelemetry/proto/trace/v1/trace.proto field numbers), so the test depends on no decoder.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** OTLP SpanKind values (API SpanKind + 1). */
export const KIND = { internal: 1, server: 2, client: 3 } as const;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  /** Start and end, epoch milliseconds. */
  startMs: number;
  endMs: number;
  /** Exact start time in ns since the epoch (protobuf only). */
  startNs?: bigint;
  endNs?: bigint;
  resource: Record<string, unknown>;
  /** Content type of the export request that carried it. */
  via: string;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Export requests received, by content type. */
  readonly requests = new Map<string, number>();
  readonly errors: string[] = [];
  private waiters: Array<() => void> = [];

  private constructor(private readonly server: http.Server) {}

  /** Base URL (`OTEL_EXPORTER_OTLP_ENDPOINT` / `telemetry.traces.endpoint`). */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<OtlpReceiver> {
    const server = http.createServer();
    const r = new OtlpReceiver(server);
    server.on('request', (req, res) => r.onRequest(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = String(req.headers['content-type'] ?? '').split(';')[0].trim();
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      try {
        const spans = type === 'application/json' ? fromJson(JSON.parse(body.toString('utf8')), type) : type === 'application/x-protobuf' ? fromProtobuf(body, type) : null;
        if (spans === null) {
          res.writeHead(415).end();
          return;
        }
        this.requests.set(type, (this.requests.get(type) ?? 0) + 1);
        this.spans.push(...spans);
      } catch (e) {
        this.errors.push(`${type}: ${(e as Error).message}`);
        res.writeHead(400).end();
        return;
      }
      if (type === 'application/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  /** Spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  /** Waits until `done(spans)` holds for everything received so far; bounded. */
  async waitFor(what: string, done: (spans: ReceivedSpan[]) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.spans)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`OTLP receiver: no ${what} within ${timeoutMs} ms; got ${this.spans.length} spans (${[...new Set(this.spans.map((s) => `${s.resource['service.instance.id']}:${s.name}`))].join(', ')}); errors: ${this.errors.join('; ') || 'none'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

// ---- OTLP/JSON -------------------------------------------------------------------------------

interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}
interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}

function jsonValue(v: JsonAnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(jsonValue);
  return undefined;
}

function jsonAttrs(list: JsonKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = jsonValue(kv.value);
  return out;
}

function fromJson(doc: any, via: string): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    const resource = jsonAttrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          traceState: s.traceState ?? '',
          name: s.name,
          kind: Number(s.kind ?? 0),
          attributes: jsonAttrs(s.attributes),
          statusCode: Number(s.status?.code ?? 0),
          startMs: jsonNanosToMs(s.startTimeUnixNano),
          endMs: jsonNanosToMs(s.endTimeUnixNano),
          resource,
          via,
        });
      }
    }
  }
  return out;
}

/** OTLP/JSON times: a decimal string, a number, or {low, high} 32-bit halves. */
function jsonNanosToMs(v: unknown): number {
  if (typeof v === 'string' || typeof v === 'number') return Number(BigInt(v) / 1000n) / 1000;
  if (v && typeof v === 'object' && 'low' in v) {
    const o = v as { low: number; high: number };
    return Number(((BigInt(o.high >>> 0) << 32n) | BigInt(o.low >>> 0)) / 1000n) / 1000;
  }
  return 0;
}

// ---- OTLP/protobuf ---------------------------------------------------------------------------

interface Field {
  no: number;
  /** Varint value, or the bytes of a length-delimited / fixed field. */
  int: bigint;
  bytes: Buffer;
}

/** All fields of one message, in order (repeated fields appear several times). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, int: varint(), bytes: Buffer.alloc(0) });
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      out.push({ no, int: 0n, bytes: buf.subarray(i, i + n) });
      i += n;
    } else if (wire === 2) {
      const n = Number(varint());
      if (i + n > buf.length) throw new Error('truncated field');
      out.push({ no, int: 0n, bytes: buf.subarray(i, i + n) });
      i += n;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

function pbValue(buf: Buffer): unknown {
  for (const f of fields(buf)) {
    switch (f.no) {
      case 1:
        return f.bytes.toString('utf8');
      case 2:
        return f.int !== 0n;
      case 3:
        return Number(BigInt.asIntN(64, f.int));
      case 4:
        return f.bytes.readDoubleLE(0);
      case 5:
        return fields(f.bytes).filter((x) => x.no === 1).map((x) => pbValue(x.bytes));
    }
  }
  return undefined;
}

function pbAttrs(list: Field[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    const f = fields(kv.bytes);
    const key = f.find((x) => x.no === 1)?.bytes.toString('utf8') ?? '';
    const value = f.find((x) => x.no === 2);
    out[key] = value === undefined ? undefined : pbValue(value.bytes);
  }
  return out;
}

/** Decodes an OTLP/protobuf ExportTraceServiceRequest into flat spans (also for unit tests). */
export function fromProtobuf(body: Buffer, via = 'application/x-protobuf'): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rsField of fields(body).filter((f) => f.no === 1)) {
    const rs = fields(rsField.bytes);
    const res = rs.find((f) => f.no === 1);
    const resource = res ? pbAttrs(fields(res.bytes).filter((f) => f.no === 1)) : {};
    for (const ssField of rs.filter((f) => f.no === 2)) {
      for (const spanField of fields(ssField.bytes).filter((f) => f.no === 2)) {
        const s = fields(spanField.bytes);
        const one = (no: number) => s.find((f) => f.no === no);
        const status = one(15);
        out.push({
          traceId: one(1)?.bytes.toString('hex') ?? '',
          spanId: one(2)?.bytes.toString('hex') ?? '',
          traceState: one(3)?.bytes.toString('utf8') ?? '',
          parentSpanId: one(4)?.bytes.toString('hex') ?? '',
          name: one(5)?.bytes.toString('utf8') ?? '',
          kind: Number(one(6)?.int ?? 0n),
          attributes: pbAttrs(s.filter((f) => f.no === 9)),
          statusCode: status ? Number(fields(status.bytes).find((f) => f.no === 3)?.int ?? 0n) : 0,
          startMs: Number((one(7)?.bytes.readBigUInt64LE(0) ?? 0n) / 1000n) / 1000,
          startNs: one(7)?.bytes.readBigUInt64LE(0),
          endNs: one(8)?.bytes.readBigUInt64LE(0),
          endMs: Number((one(8)?.bytes.readBigUInt64LE(0) ?? 0n) / 1000n) / 1000,
          resource,
          via,
        });
      }
    }
  }
  return out;
}
