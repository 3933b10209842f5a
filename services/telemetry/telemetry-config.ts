/**
 * Tracing settings: the `telemetry:` block of edge.yaml / agent.yml and the standard OTEL_*
 * environment variables, validated once and merged into one frozen {@link TracingSettings}
 * (or `undefined`: tracing off).
 *
 * Precedence — the environment wins, key by key: an OTEL_* variable that is set overrides the
 * matching file key. That is how every OpenTelemetry SDK is configured, and it lets one edge.yaml
 * serve every host while each host points at its own collector. `OTEL_SDK_DISABLED=true` (or
 * `OTEL_TRACES_EXPORTER=none`) turns tracing off whatever the file says.
 *
 * Tracing is ON only when something asks for it: `telemetry.traces.endpoint` in the file,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`, or `OTEL_TRACES_EXPORTER`
 * naming an exporter. Otherwise it is off and costs nothing: no OpenTelemetry module is loaded.
 *
 * This file is pure (no OpenTelemetry import): config loading never pulls in the SDK.
 */
import { Checker, type Path } from '../core/config.js';

/** OTLP transports (OTEL_EXPORTER_OTLP_PROTOCOL values). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** OTEL_TRACES_SAMPLER values supported here (the spec's built-in samplers). */
export const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** `telemetry.traces` as written in the file, validated, before the environment is applied. */
export interface TracesFileConfig {
  /** OTLP endpoint, like OTEL_EXPORTER_OTLP_ENDPOINT: `http://collector:4318` (http: `/v1/traces` is appended) or `http://collector:4317` (grpc). */
  endpoint?: string;
  /** OTLP transport; default `http/protobuf`. */
  protocol?: OtlpProtocol;
  /** Share of new traces recorded, 0..1 (parent-based: a request whose caller sampled it is always recorded). Default 1. */
  sampleRatio?: number;
  /** service.name of this process; default `meshgate-edge` / `meshgate-agent`. */
  serviceName?: string;
}

/** What the tracing bootstrap needs, merged from file and environment. Frozen. */
export interface TracingSettings {
  exporter: 'otlp' | 'console';
  protocol: OtlpProtocol;
  /**
   * Exporter URL taken from the file; undefined when the environment names the endpoint (the
   * OTLP exporter then reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT itself, with the spec's rules)
   * or when neither does (the exporter's default, localhost).
   */
  url?: string;
  /** The endpoint for the start-up log line. */
  endpointShown: string;
  sampler: SamplerName;
  /** Ratio of the *traceidratio samplers (0..1); 1 otherwise. */
  samplerArg: number;
  serviceName: string;
  /**
   * False when OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names service.name: the
   * environment's value is used as is.
   */
  serviceNameFromEnv: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads the `telemetry:` block (edge.yaml, agent.yml). Issues go to `c` with their paths. */
export function readTelemetryBlock(c: Checker, raw: unknown, path: Path = ['telemetry']): TracesFileConfig | undefined {
  const top = c.object(raw, path, ['traces'], false);
  if (!top) return undefined;
  const tp: Path = [...path, 'traces'];
  const o = c.object(top.traces, tp, ['endpoint', 'protocol', 'sample_ratio', 'service_name'], false);
  if (!o) return undefined;
  const out: TracesFileConfig = {};
  const endpoint = c.string(o.endpoint, [...tp, 'endpoint'], { nonEmpty: true });
  if (endpoint !== undefined) {
    const problem = endpointProblem(endpoint);
    if (problem) c.add([...tp, 'endpoint'], problem);
    else out.endpoint = endpoint.trim();
  }
  const protocol = c.string(o.protocol, [...tp, 'protocol'], { nonEmpty: true });
  if (protocol !== undefined) {
    if (isProtocol(protocol)) out.protocol = protocol;
    else c.add([...tp, 'protocol'], `'${protocol}' is not one of ${OTLP_PROTOCOLS.join(', ')}`);
  }
  if (o.sample_ratio !== undefined && o.sample_ratio !== null) {
    const r = o.sample_ratio;
    if (typeof r !== 'number' || !(r >= 0 && r <= 1)) c.add([...tp, 'sample_ratio'], `must be a number from 0 to 1 (share of new traces recorded), got ${JSON.stringify(r)}`);
    else out.sampleRatio = r;
  }
  const serviceName = c.string(o.service_name, [...tp, 'service_name'], { nonEmpty: true });
  if (serviceName !== undefined) out.serviceName = serviceName;
  return out;
}

/**
 * Merges the file's `telemetry.traces` with the environment. Returns undefined when tracing is
 * off. Problems with OTEL_* variables are added to `c` with the variable as path (`$OTEL_...`).
 */
export function resolveTracing(file: TracesFileConfig | undefined, env: Env, defaultServiceName: string, c: Checker): TracingSettings | undefined {
  const issues = new Checker(); // no line numbers: these are not in the file
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const disabled = get('OTEL_SDK_DISABLED');
  if (disabled !== undefined && disabled.toLowerCase() === 'true') return undefined;

  let exporter: 'otlp' | 'console' | undefined;
  const exporters = get('OTEL_TRACES_EXPORTER')?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) ?? [];
  for (const e of exporters) {
    if (e === 'otlp' || e === 'console') exporter = exporter === 'otlp' ? 'otlp' : e;
    else if (e !== 'none') issues.add(['$OTEL_TRACES_EXPORTER'], `'${e}' is not supported; use otlp, console or none`);
  }
  if (exporters.length > 0 && exporters.every((e) => e === 'none')) return merge(c, issues, undefined);

  const envEndpoint = get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? get('OTEL_EXPORTER_OTLP_ENDPOINT');
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
    const v = get(name);
    const problem = v === undefined ? undefined : endpointProblem(v);
    if (problem) issues.add([`$${name}`], problem);
  }
  if (exporter === undefined && envEndpoint === undefined && file?.endpoint === undefined) return merge(c, issues, undefined);

  let protocol: OtlpProtocol = file?.protocol ?? 'http/protobuf';
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    const v = get(name);
    if (v === undefined) continue;
    if (isProtocol(v)) protocol = v;
    else issues.add([`$${name}`], `'${v}' is not one of ${OTLP_PROTOCOLS.join(', ')}`);
  }

  let sampler: SamplerName = file?.sampleRatio === undefined ? 'parentbased_always_on' : 'parentbased_traceidratio';
  let samplerArg = file?.sampleRatio ?? 1;
  const envSampler = get('OTEL_TRACES_SAMPLER')?.toLowerCase();
  if (envSampler !== undefined) {
    if ((SAMPLERS as readonly string[]).includes(envSampler)) {
      sampler = envSampler as SamplerName;
      samplerArg = 1;
    } else issues.add(['$OTEL_TRACES_SAMPLER'], `'${envSampler}' is not supported; use one of ${SAMPLERS.join(', ')}`);
  }
  const arg = get('OTEL_TRACES_SAMPLER_ARG');
  if (arg !== undefined && sampler.endsWith('traceidratio')) {
    const n = Number(arg);
    if (!(n >= 0 && n <= 1)) issues.add(['$OTEL_TRACES_SAMPLER_ARG'], `'${arg}' is not a ratio from 0 to 1`);
    else samplerArg = n;
  }
  if (!sampler.endsWith('traceidratio')) samplerArg = 1;

  const envService = get('OTEL_SERVICE_NAME') ?? /(?:^|,)\s*service\.name\s*=\s*([^,]+)/.exec(get('OTEL_RESOURCE_ATTRIBUTES') ?? '')?.[1]?.trim();
  const url = envEndpoint === undefined && file?.endpoint !== undefined ? tracesUrl(file.endpoint, protocol) : undefined;
  return merge(c, issues, {
    exporter: exporter ?? 'otlp',
    protocol,
    url,
    endpointShown: exporter === 'console' ? 'console' : (envEndpoint ?? url ?? 'the exporter default (localhost)'),
    sampler,
    samplerArg,
    serviceName: envService ?? file?.serviceName ?? defaultServiceName,
    serviceNameFromEnv: envService !== undefined,
  });
}

function merge(c: Checker, env: Checker, s: TracingSettings | undefined): TracingSettings | undefined {
  c.issues.push(...env.issues);
  return s === undefined ? undefined : Object.freeze(s);
}

function isProtocol(s: string): s is OtlpProtocol {
  return (OTLP_PROTOCOLS as readonly string[]).includes(s);
}

function endpointProblem(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    return `'${v}' is not a URL; expected e.g. http://127.0.0.1:4318`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `'${v}' must be an http:// or https:// URL`;
  return undefined;
}

/**
 * The exporter URL for a base endpoint given in the file: OTLP/HTTP sends traces to
 * `<endpoint>/v1/traces` (as with OTEL_EXPORTER_OTLP_ENDPOINT); gRPC uses the endpoint as is.
 */
export function tracesUrl(endpoint: string, protocol: OtlpProtocol): string {
  if (protocol === 'grpc') return endpoint;
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}
