import assert from 'node:assert/strict';
import { Checker } from '../../services/core/config.js';
import { MeshgateError } from '../../services/core/errors.js';
import { parseEdgeConfig } from '../../services/edge/config.js';
import { readTelemetryBlock, resolveTracing, tracesUrl, type Env, type TracingSettings } from '../../services/telemetry/telemetry-config.js';

/** Resolves a `telemetry:` value (as parsed YAML) against `env`; returns the settings and the issues. */
function resolve(block: unknown, env: Env = {}): { s: TracingSettings | undefined; issues: string[] } {
  const c = new Checker();
  const file = readTelemetryBlock(c, block);
  const s = resolveTracing(file, env, 'meshgate-edge', c);
  return { s, issues: c.issues.map((i) => `${i.path}: ${i.message}`) };
}

const EDGE = 'region: eu\nlisten: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0"}\n';

describe('tracing settings (telemetry: block and OTEL_* variables)', () => {
  it('is off when nothing names an exporter or an endpoint', () => {
    assert.deepEqual(resolve(undefined), { s: undefined, issues: [] });
    assert.deepEqual(resolve({ traces: { protocol: 'grpc', sample_ratio: 0.5 } }), { s: undefined, issues: [] });
    assert.deepEqual(resolve(undefined, { OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }), { s: undefined, issues: [] });
  });

  it('turns on from the file: endpoint + /v1/traces, protocol, parent-based ratio sampler', () => {
    const { s, issues } = resolve({ traces: { endpoint: 'http://collector:4318/', protocol: 'http/json', sample_ratio: 0.25, service_name: 'edge-eu' } });
    assert.deepEqual(issues, []);
    assert.equal(s?.url, 'http://collector:4318/v1/traces');
    assert.equal(s?.protocol, 'http/json');
    assert.equal(s?.sampler, 'parentbased_traceidratio');
    assert.equal(s?.samplerArg, 0.25);
    assert.equal(s?.serviceName, 'edge-eu');
    assert.ok(Object.isFrozen(s));
    assert.equal(resolve({ traces: { endpoint: 'http://c:4317' } }).s?.sampler, 'parentbased_always_on');
    assert.equal(resolve({ traces: { endpoint: 'http://c:4317' } }).s?.protocol, 'http/protobuf');
  });

  it('turns on from the environment alone', () => {
    const { s } = resolve(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' });
    assert.equal(s?.exporter, 'otlp');
    assert.equal(s?.url, undefined, 'the exporter reads the variable itself');
    assert.equal(s?.endpointShown, 'http://c:4318/v1/traces');
    assert.equal(resolve(undefined, { OTEL_TRACES_EXPORTER: 'console' }).s?.exporter, 'console');
    assert.equal(resolve(undefined, { OTEL_TRACES_EXPORTER: 'otlp' }).s?.url, undefined);
  });

  it('lets each OTEL_* variable win over the matching file key', () => {
    const file = { traces: { endpoint: 'http://file:4318', protocol: 'http/json', sample_ratio: 0.5, service_name: 'from-file' } };
    const { s, issues } = resolve(file, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
      OTEL_SERVICE_NAME: 'from-env',
    });
    assert.deepEqual(issues, []);
    assert.equal(s?.url, undefined);
    assert.equal(s?.endpointShown, 'http://env:4317');
    assert.equal(s?.protocol, 'grpc');
    assert.equal(s?.sampler, 'traceidratio');
    assert.equal(s?.samplerArg, 0.1);
    assert.equal(s?.serviceName, 'from-env');
    assert.equal(s?.serviceNameFromEnv, true);
    // the traces-specific protocol wins over the general one; the sampler argument alone overrides the ratio
    assert.equal(resolve(file, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).s?.protocol, 'http/protobuf');
    assert.equal(resolve(file, { OTEL_TRACES_SAMPLER_ARG: '0.9' }).s?.samplerArg, 0.9);
    assert.equal(resolve(file, { OTEL_RESOURCE_ATTRIBUTES: 'team=x,service.name=attr-name' }).s?.serviceName, 'attr-name');
  });

  it('is off when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, whatever the file says', () => {
    const file = { traces: { endpoint: 'http://c:4318' } };
    assert.equal(resolve(file, { OTEL_SDK_DISABLED: 'true' }).s, undefined);
    assert.equal(resolve(file, { OTEL_SDK_DISABLED: 'TRUE' }).s, undefined);
    assert.equal(resolve(file, { OTEL_TRACES_EXPORTER: 'none' }).s, undefined);
    assert.notEqual(resolve(file, { OTEL_SDK_DISABLED: 'false' }).s, undefined);
  });

  it('reports every bad key of the file and every bad variable, each with its path', () => {
    const { issues } = resolve(
      { traces: { endpoint: 'collector:4318', protocol: 'thrift', sample_ratio: 2, service_name: '', exporter: 'otlp' } },
      { OTEL_TRACES_SAMPLER: 'jaeger_remote', OTEL_TRACES_SAMPLER_ARG: 'half', OTEL_EXPORTER_OTLP_PROTOCOL: 'udp', OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' },
    );
    assert.deepEqual(issues.sort(), [
      "$OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' is not a URL; expected e.g. http://127.0.0.1:4318",
      "$OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' is not one of http/protobuf, http/json, grpc",
      "$OTEL_TRACES_EXPORTER: 'zipkin' is not supported; use otlp, console or none",
      "$OTEL_TRACES_SAMPLER: 'jaeger_remote' is not supported; use one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio",
      "telemetry.traces.endpoint: 'collector:4318' must be an http:// or https:// URL",
      'telemetry.traces.exporter: unknown field; expected one of endpoint, protocol, sample_ratio, service_name',
      "telemetry.traces.protocol: 'thrift' is not one of http/protobuf, http/json, grpc",
      'telemetry.traces.sample_ratio: must be a number from 0 to 1 (share of new traces recorded), got 2',
      'telemetry.traces.service_name: must not be empty',
    ]);
    assert.deepEqual(resolve({ traces: { endpoint: 'http://c:1' } }, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }).issues, ["$OTEL_TRACES_SAMPLER_ARG: '1.5' is not a ratio from 0 to 1"]);
  });

  it('keeps a gRPC endpoint as given and adds /v1/traces to an OTLP/HTTP one once', () => {
    assert.equal(tracesUrl('http://c:4317', 'grpc'), 'http://c:4317');
    assert.equal(tracesUrl('http://c:4318', 'http/protobuf'), 'http://c:4318/v1/traces');
    assert.equal(tracesUrl('http://c:4318/v1/traces', 'http/json'), 'http://c:4318/v1/traces');
    assert.equal(tracesUrl('https://otel.example.com/prefix/', 'http/json'), 'https://otel.example.com/prefix/v1/traces');
  });

  it('is part of edge.yaml validation: problems come with the path and line, with the others', () => {
    try {
      parseEdgeConfig(`${EDGE}telemetry:\n  traces:\n    endpoint: http://c:4318\n    protocol: thrift\n  metrics: {}\n`, '/');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof MeshgateError && e.code === 'MG_CONFIG_INVALID', String(e));
      assert.deepEqual(e.issues.map((i) => `${i.path}@${i.line}: ${i.message}`), [
        'telemetry.metrics@7: unknown field; expected one of traces',
        "telemetry.traces.protocol@6: 'thrift' is not one of http/protobuf, http/json, grpc",
      ]);
    }
    const c = parseEdgeConfig(`${EDGE}telemetry:\n  traces: {endpoint: "http://c:4318", sample_ratio: 0.5}\n`, '/');
    assert.equal(c.tracing?.url, 'http://c:4318/v1/traces');
    assert.equal(c.tracing?.samplerArg, 0.5);
    assert.equal(parseEdgeConfig(EDGE, '/').tracing, undefined);
  });
});
