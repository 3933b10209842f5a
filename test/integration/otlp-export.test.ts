/**
 * The tracing SDK against real collectors on loopback: OTLP over gRPC (a grpc-js server
 * answering TraceService/Export, bytes decoded with the test receiver's protobuf reader) and the
 * default OTLP/HTTP protobuf path. Each records spans through the hot-path recorder and checks
 * what the collector got after shutdown (which flushes).
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { Checker } from '../../services/core/config.js';
import { rootLogger, setLogSink } from '../../services/core/log.js';
import { startSdk } from '../../services/telemetry/otel-sdk.js';
import { resolveTracing, type TracesFileConfig } from '../../services/telemetry/telemetry-config.js';
import { fromProtobuf, OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const raw = (b: Buffer) => b;

/** A gRPC OTLP trace collector keeping every span it is sent. */
async function grpcCollector(): Promise<{ port: number; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = new grpc.Server();
  const service: grpc.ServiceDefinition = {
    Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  };
  server.addService(service, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      spans.push(...fromProtobuf(call.request));
      done(null, Buffer.alloc(0));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, spans, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

async function recordTwoSpans(file: TracesFileConfig): Promise<void> {
  const settings = resolveTracing(file, {}, 'meshgate-edge', new Checker());
  assert.ok(settings !== undefined);
  const sdk = await startSdk(settings, { 'service.instance.id': 'node-t1', 'meshgate.region': 'eu' }, '0.0.0-test', rootLogger);
  const root = sdk.recorder.root('ingress GET', SpanKind.SERVER, undefined);
  root.set('url.path', '/grpc');
  const child = root.child('tunnel send', SpanKind.CLIENT);
  child.end();
  root.end();
  await sdk.shutdown();
}

function checkTrace(spans: ReceivedSpan[]): void {
  const byName = new Map(spans.map((s) => [s.name, s]));
  const root = byName.get('ingress GET');
  const child = byName.get('tunnel send');
  assert.ok(root && child, `spans received: ${spans.map((s) => s.name).join(', ')}`);
  assert.equal(child.traceId, root.traceId);
  assert.equal(child.parentSpanId, root.spanId);
  assert.deepEqual(root.attributes, { 'url.path': '/grpc' });
  assert.equal(root.resource['service.name'], 'meshgate-edge');
  assert.equal(root.resource['service.instance.id'], 'node-t1');
  assert.equal(root.resource['meshgate.region'], 'eu');
}

describe('OTLP export to a real collector', function () {
  this.timeout(15_000);
  const logs: string[] = [];
  before(() => setLogSink((line) => logs.push(line)));
  after(() => setLogSink((line) => process.stderr.write(line + '\n')));

  it('exports over gRPC (protocol: grpc)', async () => {
    const collector = await grpcCollector();
    try {
      await recordTwoSpans({ endpoint: `http://127.0.0.1:${collector.port}`, protocol: 'grpc' });
      checkTrace(collector.spans);
      const on = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'tracing on');
      assert.deepEqual([on?.level, on?.protocol, on?.endpoint], ['info', 'grpc', `http://127.0.0.1:${collector.port}`]);
    } finally {
      await collector.close();
    }
  });

  it('exports over OTLP/HTTP protobuf (the default protocol)', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      await recordTwoSpans({ endpoint: receiver.url });
      checkTrace(receiver.spans);
      // the first SDK's shutdown released the global API, so this one registered without complaint
      assert.deepEqual(logs.filter((l) => l.includes('duplicate registration')), []);
    } finally {
      await receiver.close();
    }
  });
});
