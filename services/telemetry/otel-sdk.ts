/**
 * OpenTelemetry bootstrap (loaded with `import()` only when tracing is on): one tracer provider
 * per process (`@opentelemetry/sdk-trace-node`, the trace SDK that NodeSDK itself runs on),
 * whose pipeline also takes the hot-path spans of span-recorder.ts, with
 *   - for http/protobuf (the default), otlp-batch-processor.ts: spans encoded as they end,
 *     batched, sent by the OpenTelemetry OTLP/HTTP transport; for http/json and grpc, the SDK's
 *     BatchSpanProcessor with the official OTLP exporter (or the console exporter with
 *     OTEL_TRACES_EXPORTER=console), fed through sdk-export-bridge.ts. All read
 *     OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression) and OTEL_BSP_*; no export
 *     runs on the request path. An exporter package is imported only when its protocol is used;
 *   - the sampler of the settings (env OTEL_TRACES_SAMPLER[_ARG], else the file's ratio,
 *     parent-based so a trace is recorded whole or not at all across edges and agents);
 *   - the resource: service.name, service.instance.id, meshgate.region, plus what
 *     OTEL_RESOURCE_ATTRIBUTES and the host detector add. The process detector is left out: it
 *     would export the command line, which may carry an authtoken;
 *   - no context manager: spans are parented explicitly (see tracing.ts), so no
 *     AsyncLocalStorage hook runs on every promise; no metrics or logs pipelines;
 *   - the provider is registered globally with the W3C propagator, so spans made through the
 *     OpenTelemetry API (none today) share the pipeline.
 * OpenTelemetry's own diagnostics (export failures, dropped spans) go to the JSON log at warn,
 * each distinct message at most once per 10 s.
 *
 * Why not `@opentelemetry/sdk-node`'s NodeSDK (the first version used it): importing it loads
 * the metrics and logs SDKs and every exporter of every protocol, 16.7 MB of live heap in each
 * edge and agent (the whole edge without tracing is 14.6 MB). Every major GC marks that heap
 * again; on the proxy bench the agent with NodeSDK loaded and no span recorded was ~4 µs per
 * request slower than the agent without it. The pieces used here weigh 2.4 MB.
 */
import { diag, DiagLogLevel, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler, TraceIdRatioBasedSampler, type Sampler, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { defaultResource, detectResources, envDetector, hostDetector, resourceFromAttributes, type DetectedResourceAttributes, type Resource } from '@opentelemetry/resources';
import type { Logger } from '../core/log.js';
import type { TracingSettings } from './telemetry-config.js';
import { OtlpProtoBatchProcessor } from './otlp-batch-processor.js';
import { SdkExportBridge } from './sdk-export-bridge.js';
import { SpanRecorder, type SamplerShortcut, type SpanSink } from './span-recorder.js';

/** Longest a shutdown waits for the last batch to export. */
const SHUTDOWN_TIMEOUT_MS = 3_000;
/** A repeated diagnostic is logged at most once per this many ms. */
const DIAG_REPEAT_MS = 10_000;

export interface TracingSdk {
  /** Starts the spans of the request path. */
  readonly recorder: SpanRecorder;
  shutdown(): Promise<void>;
}

export async function startSdk(settings: TracingSettings, attributes: DetectedResourceAttributes, version: string, log: Logger): Promise<TracingSdk> {
  // service.name: the settings' unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name it (the env detector applies those)
  const resource = defaultResource()
    .merge(resourceFromAttributes(settings.serviceNameFromEnv ? attributes : { ...attributes, 'service.name': settings.serviceName }))
    .merge(detectResources({ detectors: [envDetector, hostDetector] }));
  const scope = { name: 'meshgate', version };
  const sampler = makeSampler(settings);
  const processor = await makeProcessor(settings, resource, scope);
  const provider = new NodeTracerProvider({ resource, sampler, spanProcessors: [processor] });
  // null = register no context manager: context is passed explicitly
  provider.register({ contextManager: null, propagator: new W3CTraceContextPropagator() });
  diag.setLogger(diagLogger(log), { logLevel: diagLevel(), suppressOverrideMessage: true });
  log.info('tracing on', { exporter: settings.exporter, protocol: settings.exporter === 'otlp' ? settings.protocol : undefined, endpoint: settings.endpointShown, sampler: settings.sampler, ratio: settings.sampler.endsWith('traceidratio') ? settings.samplerArg : undefined, service: settings.serviceName });
  let stopped: Promise<void> | undefined;
  return {
    recorder: new SpanRecorder(sampler, processor, samplerShortcut(settings)),
    shutdown: () =>
      (stopped ??= Promise.race([
        provider.shutdown().then(
          () => {
            // the provider is gone: the API falls back to no-ops (and a later SDK may register)
            trace.disable();
            propagation.disable();
          },
          (e: unknown) => log.warn('tracing: shutdown failed', { err: e as Error }),
        ),
        new Promise<void>((r) => setTimeout(r, SHUTDOWN_TIMEOUT_MS).unref()),
      ])),
  };
}

async function makeProcessor(s: TracingSettings, resource: Resource, scope: { name: string; version: string }): Promise<SpanProcessor & SpanSink> {
  if (s.exporter === 'otlp' && s.protocol === 'http/protobuf') return new OtlpProtoBatchProcessor(s.url, resource, scope, performance.timeOrigin);
  const config = s.url === undefined ? {} : { url: s.url };
  let exporter: SpanExporter;
  if (s.exporter === 'console') exporter = new ConsoleSpanExporter();
  else if (s.protocol === 'grpc') exporter = new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter(config);
  else exporter = new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(config);
  return new SdkExportBridge(new BatchSpanProcessor(exporter), resource, scope, performance.timeOrigin);
}

/** What the built-in samplers would decide without being asked (span-recorder.ts). */
function samplerShortcut(s: TracingSettings): SamplerShortcut {
  if (s.sampler === 'always_on') return 'on';
  if (s.sampler === 'always_off') return 'off';
  if (s.sampler.startsWith('parentbased_')) return 'parent';
  return 'ask';
}

function makeSampler(s: TracingSettings): Sampler {
  switch (s.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(s.samplerArg);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.samplerArg) });
  }
}

/** OTEL_LOG_LEVEL when set (none, error, warn, info, debug, verbose, all), else warn. */
function diagLevel(): DiagLogLevel {
  const v = process.env.OTEL_LOG_LEVEL?.trim().toUpperCase();
  const level = v ? (DiagLogLevel as unknown as Record<string, DiagLogLevel | undefined>)[v] : undefined;
  return level ?? DiagLogLevel.WARN;
}

function diagLogger(log: Logger): DiagLogger {
  const otel = log.child({ component: 'opentelemetry' });
  const last = new Map<string, number>();
  const emit = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, ...args: unknown[]) => {
    const now = Date.now();
    const key = message.slice(0, 120);
    if ((last.get(key) ?? -Infinity) > now - DIAG_REPEAT_MS) return;
    if (last.size > 100) last.clear();
    last.set(key, now);
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : safeJson(a))).join(' ');
    otel[level](message, detail ? { detail } : undefined);
  };
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug'), verbose: emit('debug') };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
