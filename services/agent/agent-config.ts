/**
 * What an agent serves: its endpoints (from `agent http` flags or agent.yml), the edge address
 * and the authtoken. Validated up front so a typo fails before any connection is made.
 *
 * agent.yml:
 *   edge: 127.0.0.1:4443          # or --edge / MESHGATE_EDGE
 *   authtoken: tok_acme           # or --authtoken / MESHGATE_AUTHTOKEN
 *   endpoints:
 *     - name: foo                 # optional, defaults to the URL
 *       url: https://foo.internal
 *       upstream: { url: 8080 }   # or upstream: 8080 / http://localhost:8080
 *                                 # (tcp:// and tls:// endpoints: 5432, host:5432, tcp://host:5432)
 *       pooling_enabled: true
 *       traffic_policy: {...}     # inline YAML/JSON, or traffic_policy_file: path
 *       binding: internal         # optional, inferred from the host
 *       description: ...          # optional
 *       metadata: ...             # optional
 */
import { readFileSync } from 'node:fs';
import { checkUrlFields, readPolicyFields } from '../core/endpoint-fields.js';
import { dirname, resolve } from 'node:path';
import { Checker, parseHostPort, parseYamlSource, type Path } from '../core/config.js';
import { MeshgateError, isMeshgateError } from '../core/errors.js';
import { parseEndpointUrl } from '../core/endpoint-url.js';
import { parseUpstream, type UpstreamTarget } from './upstream.js';
import { parseTcpUpstream } from './tcp-upstream.js';
import { readTelemetryBlock, type TracesFileConfig } from '../telemetry/telemetry-config.js';

export interface AgentEndpointSpec {
  name: string;
  url: string;
  binding: string;
  poolingEnabled: boolean;
  trafficPolicy: string;
  description: string;
  metadata: string;
  upstream: UpstreamTarget;
}

export interface AgentFileConfig {
  edge?: string;
  authtoken?: string;
  endpoints: AgentEndpointSpec[];
  /** `telemetry.traces` (OTEL_* variables override it: services/telemetry/telemetry-config.ts). */
  telemetry?: TracesFileConfig;
}

/** Checks an endpoint URL early (same rules as the edge), naming `field`. */
export function checkEndpointUrl(url: string, field: string, binding?: string): void {
  // a tls:// port other than 443 may be the edge's listen.tls port: the edge decides
  parseEndpointUrl(url, field, binding || undefined, { tlsPort: 'any' });
}

/** tcp:// and tls:// endpoints forward raw TCP (tcp-upstream.ts); http(s) ones HTTP. */
export function isL4Url(url: string | undefined): boolean {
  return url !== undefined && /^\s*(tcp|tls):\/\//i.test(url);
}

/** Checks `host:port` of the edge, naming the flag. */
export function checkEdgeAddr(addr: string, field = '--edge'): { host: string; port: number } {
  const hp = parseHostPort(addr);
  if (!hp || hp.port === 0) throw new MeshgateError('MG_FLAG_INVALID', { field, detail: `'${addr}' is not host:port, e.g. 127.0.0.1:4443` });
  return hp;
}

export function loadAgentConfig(file: string): AgentFileConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MeshgateError('MG_CONFIG_INVALID', { field: '--config', detail: `cannot read ${file}: ${(e as Error).message}` });
  }
  const base = dirname(resolve(file));
  const src = parseYamlSource(text);
  if (src.issues.length) throw new MeshgateError('MG_CONFIG_INVALID', { detail: file, issues: src.issues });
  const c = new Checker(src.lineOf);
  const top = c.object(src.value ?? {}, [], ['edge', 'authtoken', 'endpoints', 'telemetry']) ?? {};
  const edge = c.string(top.edge, ['edge'], { nonEmpty: true });
  if (edge !== undefined && !parseHostPort(edge)) c.add(['edge'], `'${edge}' is not host:port`);
  const authtoken = c.string(top.authtoken, ['authtoken'], { nonEmpty: true });
  const endpoints: AgentEndpointSpec[] = [];
  const list = c.list(top.endpoints, ['endpoints'], true);
  if (Array.isArray(top.endpoints) && list.length === 0) c.add(['endpoints'], 'needs at least one endpoint');
  list.forEach((e, i) => {
    const p: Path = ['endpoints', i];
    const o = c.object(e, p, ['name', 'url', 'upstream', 'pooling_enabled', 'traffic_policy', 'traffic_policy_file', 'binding', 'description', 'metadata']);
    if (!o) return;
    const { url, binding = '' } = checkUrlFields(c, o, p, { tlsPort: 'any' });
    let upstreamRaw: unknown = o.upstream;
    let upPath: Path = [...p, 'upstream'];
    if (upstreamRaw && typeof upstreamRaw === 'object' && !Array.isArray(upstreamRaw)) {
      const uo = c.object(upstreamRaw, upPath, ['url']) ?? {};
      upstreamRaw = uo.url;
      upPath = [...upPath, 'url'];
    }
    let upstream: UpstreamTarget | undefined;
    if (upstreamRaw === undefined) c.add(upPath, 'is required: the local service to forward to, e.g. 8080 or http://localhost:8080');
    else if (typeof upstreamRaw !== 'string' && typeof upstreamRaw !== 'number') c.add(upPath, 'must be a port, host:port or URL');
    else {
      try {
        upstream = isL4Url(url) ? parseTcpUpstream(String(upstreamRaw), 'upstream') : parseUpstream(String(upstreamRaw), 'upstream');
      } catch (err) {
        if (!isMeshgateError(err)) throw err;
        c.add(upPath, err.detail ?? err.message);
      }
    }
    const trafficPolicy = readPolicyFields(c, o, p, base) ?? '';
    const spec: AgentEndpointSpec = {
      name: c.string(o.name, [...p, 'name'], { nonEmpty: true }) ?? url ?? `endpoint-${i}`,
      url: url ?? '',
      binding,
      poolingEnabled: c.bool(o.pooling_enabled, [...p, 'pooling_enabled'], false),
      trafficPolicy,
      description: c.string(o.description, [...p, 'description']) ?? '',
      metadata: c.string(o.metadata, [...p, 'metadata']) ?? '',
      upstream: upstream!,
    };
    endpoints.push(spec);
  });
  const telemetry = readTelemetryBlock(c, top.telemetry);
  if (!c.ok) throw new MeshgateError('MG_CONFIG_INVALID', { detail: `${file} has ${c.issues.length} problem${c.issues.length > 1 ? 's' : ''}`, issues: c.issues });
  return { edge, authtoken, endpoints, telemetry };
}
