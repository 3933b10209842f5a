/**
 * edge.yaml: parse → validate (every issue, with its path and line) → defaults → freeze.
 * Flags given on the command line override the file's keys before validation.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Checker, deepFreeze, parseHostPort, parseYamlSource, type Path } from '../core/config.js';
import { MeshgateError, type Issue } from '../core/errors.js';
import { checkUrlFields, readPolicyFields } from '../core/endpoint-fields.js';
import { isProfileName, type ProfileName } from '../presence/profiles.js';
import { readTcpListen, type TcpListenConfig } from './l4/l4-config.js';
import { readTelemetryBlock, resolveTracing, type TracingSettings } from '../telemetry/telemetry-config.js';
import { readAccountInspect, readInspectorConfig, type AccountInspectConfig, type InspectorConfig } from '../inspector/inspector-config.js';
import { readVaults } from './vaults.js';
import type { SecretVaults } from '../policy/index.js';

export interface ListenAddr {
  host: string;
  port: number;
}

export interface AccountConfig {
  name: string;
  authtokens: string[];
  apiKeys: string[];
  /** Reserved hosts (`api.example.com`, `*.apps.example.com`), lower-case. */
  domains: string[];
  /** `vaults:` resolved at load (env:/file: read): what `secrets.get(vault, name)` returns (vaults.ts). */
  vaults: SecretVaults;
  /** accounts[].inspect: the account's default Traffic Inspector capture; absent = metadata only. */
  inspect?: AccountInspectConfig;
}

export interface CloudEndpointConfig {
  account: string;
  url: string;
  poolingEnabled: boolean;
  /** Policy source text (inline, or read from traffic_policy_file). */
  trafficPolicy: string;
  description: string;
  metadata: string;
  /** Path of this entry in edge.yaml, e.g. `cloud_endpoints[0]`. */
  path: string;
}

export interface EdgeConfig {
  /** Region (PoP) label of this edge node, e.g. `eu`. Default `local`. */
  region: string;
  /** Unique id of this node. Default `<region>-<random>`. */
  nodeId: string;
  listen: {
    http?: ListenAddr;
    https?: ListenAddr;
    tunnel: ListenAddr;
    /** gRPC presence mesh listener; absent = this edge runs alone. */
    peer?: ListenAddr;
    /** Relay listener for requests from other edges; default: the peer host, any free port. */
    relay?: ListenAddr;
    /** gRPC admin API (proto/admin.proto); absent = no admin API on this edge. */
    admin?: ListenAddr;
    /** Console: /metrics, /healthz, /readyz and the Traffic Inspector page; absent = none. */
    console?: ListenAddr;
    /** Serves tls:// endpoints, routed by SNI (l4/); absent = no tls endpoints on this edge. */
    tls?: ListenAddr;
    /** Ports tcp:// endpoints may use, all bound at start (l4/l4-config.ts); absent = no tcp endpoints. */
    tcp?: TcpListenConfig;
  };
  /** Access events (one JSON line per request): stdout, stderr or a file; absent = off. */
  accessLog?: 'stdout' | 'stderr' | { file: string };
  /** Directory for durable state (the admin store); absent = in memory only (lost at restart unless replicated back). */
  dataDir?: string;
  /** Bootstrap admin API key: manages accounts, and any account's resources via `meshgate-account` metadata. */
  adminApiKey?: string;
  /** Addresses other edges should use to reach this one, when they differ from the listen addresses (NAT, proxies). */
  advertise: { peer?: string; relay?: string };
  /** Static seed addresses (`host:port` of other edges' listen.peer). */
  peers: string[];
  /** Redis URL for the second presence channel and discovery; absent = gRPC mesh only. */
  redis?: string;
  /** Shared secret authenticating edge-to-edge presence and relay traffic. */
  clusterSecret: string;
  /** Presence channels in use: `grpc` (the mesh) and/or `redis`. Default: grpc, plus redis when `redis` is set. */
  presenceChannels: Array<'grpc' | 'redis'>;
  /** Failure-detection timing: local | lan | wan (see services/presence/profiles.ts). Default lan. */
  presenceProfile: ProfileName;
  /** PEM cert/key for the https listener; absent → a self-signed dev certificate is generated at start. */
  tls?: { cert: string; key: string };
  accounts: AccountConfig[];
  cloudEndpoints: CloudEndpointConfig[];
  /** Where the http-request action may go besides the account's `.internal` endpoints. */
  httpRequest: HttpRequestConfig;
  /** Tracing (`telemetry:` merged with OTEL_* variables, which win); absent = off (services/telemetry/telemetry-config.ts). */
  tracing?: TracingSettings;
  /** The Traffic Inspector (services/inspector/inspector-config.ts). */
  inspector: InspectorConfig;
}

/** edge.yaml `http_request`. */
export interface HttpRequestConfig {
  /** Allow http(s) URLs outside `.internal` (default false: only the account's internal endpoints). */
  allowExternal: boolean;
  /** With allowExternal: the hosts allowed, exact (`api.example.com`, `127.0.0.1`) or `*.example.com`; empty = any host. */
  allowedHosts: string[];
}

/** Flag overrides accepted by `meshgate edge`. */
export interface EdgeFlagOverrides {
  region?: string;
  nodeId?: string;
  listenHttp?: string;
  listenHttps?: string;
  listenTunnel?: string;
  listenPeer?: string;
  peers?: string[];
  redis?: string;
  clusterSecret?: string;
  tlsCert?: string;
  tlsKey?: string;
  listenAdmin?: string;
  listenConsole?: string;
  dataDir?: string;
  listenTls?: string;
  tcpPorts?: string;
}

const TOP_KEYS = ['region', 'node_id', 'listen', 'tls', 'accounts', 'cloud_endpoints', 'peers', 'redis', 'cluster_secret', 'presence_profile', 'presence_channels', 'advertise', 'data_dir', 'admin_api_key', 'http_request', 'access_log', 'inspector', 'telemetry'] as const;
const LABEL_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Loads and validates an edge config file; throws MG_CONFIG_INVALID listing every issue. */
export function loadEdgeConfig(file: string, flags: EdgeFlagOverrides = {}): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MeshgateError('MG_CONFIG_INVALID', { field: '--config', detail: `cannot read ${file}: ${(e as Error).message}` });
  }
  return parseEdgeConfig(text, dirname(resolve(file)), flags, file);
}

/** Validates edge config text. `baseDir` resolves relative file paths (tls, traffic_policy_file). */
export function parseEdgeConfig(text: string, baseDir: string, flags: EdgeFlagOverrides = {}, name = 'edge.yaml'): EdgeConfig {
  const src = parseYamlSource(text);
  if (src.issues.length) throw configError(name, src.issues);
  const c = new Checker(src.lineOf);
  const raw = (src.value ?? {}) as unknown;
  const top = c.object(raw, [], TOP_KEYS) ?? {};

  const region = flags.region ?? c.string(top.region, ['region'], { nonEmpty: true }) ?? 'local';
  if (!LABEL_RE.test(region)) c.add(['region'], `'${region}' must be a short lower-case label such as eu, us or jp`);
  const nodeId = flags.nodeId ?? c.string(top.node_id, ['node_id'], { nonEmpty: true }) ?? `${region}-${randomBytes(3).toString('hex')}`;

  const listenRaw = c.object(top.listen, ['listen'], ['http', 'https', 'tunnel', 'peer', 'relay', 'admin', 'tls', 'tcp_ports', 'tcp_host', 'console']) ?? {};
  const addr = (key: 'http' | 'https' | 'tunnel' | 'peer' | 'relay' | 'admin' | 'tls' | 'console', flag: string | undefined): ListenAddr | undefined => {
    const v = flag ?? c.string(listenRaw[key], ['listen', key], { nonEmpty: true });
    if (v === undefined) return undefined;
    const hp = parseHostPort(v);
    if (!hp) c.add(['listen', key], `'${v}' is not host:port (e.g. 127.0.0.1:8080, [::1]:8080 or :8080)`);
    return hp;
  };
  const http = addr('http', flags.listenHttp);
  const https = addr('https', flags.listenHttps);
  const tunnel = addr('tunnel', flags.listenTunnel);
  const peer = addr('peer', flags.listenPeer);
  const relay = addr('relay', undefined);
  const admin = addr('admin', flags.listenAdmin);
  const consoleAddr = addr('console', flags.listenConsole);
  const accessLogRaw = c.string(top.access_log, ['access_log'], { nonEmpty: true }) ?? 'off';
  const accessLog: EdgeConfig['accessLog'] = accessLogRaw === 'off' ? undefined : accessLogRaw === 'stdout' || accessLogRaw === 'stderr' ? accessLogRaw : { file: resolve(baseDir, accessLogRaw) };
  const tlsListen = addr('tls', flags.listenTls);
  const tcp = readTcpListen(c, listenRaw, flags.tcpPorts, (http ?? https)?.host);
  const dataDirRaw = flags.dataDir ?? c.string(top.data_dir, ['data_dir'], { nonEmpty: true });
  const dataDir = dataDirRaw === undefined ? undefined : resolve(baseDir, dataDirRaw);
  const adminApiKey = c.string(top.admin_api_key, ['admin_api_key'], { nonEmpty: true }) ?? (process.env.MESHGATE_ADMIN_API_KEY || undefined);
  if (adminApiKey !== undefined && adminApiKey.length < 16) c.add(['admin_api_key'], 'must be at least 16 characters');
  const peers = flags.peers ?? c.stringList(top.peers, ['peers']);
  peers.forEach((a, i) => {
    if (!parseHostPort(a)) c.add(['peers', i], `'${a}' is not host:port of another edge's listen.peer`);
  });
  const advRaw = c.object(top.advertise, ['advertise'], ['peer', 'relay'], false) ?? {};
  const advertise: { peer?: string; relay?: string } = {};
  for (const k of ['peer', 'relay'] as const) {
    const v = c.string(advRaw[k], ['advertise', k], { nonEmpty: true });
    if (v !== undefined && !parseHostPort(v)) c.add(['advertise', k], `'${v}' is not host:port`);
    else if (v !== undefined) advertise[k] = v;
  }
  const redis = flags.redis ?? c.string(top.redis, ['redis'], { nonEmpty: true });
  if (redis !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redis)) c.add(['redis'], `'${redis}' is not a redis:// URL (e.g. redis://127.0.0.1:6379)`);
  const clusterSecret = flags.clusterSecret ?? c.string(top.cluster_secret, ['cluster_secret'], { nonEmpty: true }) ?? process.env.MESHGATE_CLUSTER_SECRET ?? '';
  if (peer && clusterSecret.length < 16) c.add(['cluster_secret'], 'is required with listen.peer: at least 16 characters shared by every edge (or MESHGATE_CLUSTER_SECRET)');
  if (!peer && (peers.length || redis) ) c.add(['listen', 'peer'], 'is required when peers or redis are set: the gRPC address other edges reach this one on');
  const channelsRaw = top.presence_channels === undefined ? (redis ? ['grpc', 'redis'] : ['grpc']) : c.stringList(top.presence_channels, ['presence_channels']);
  const presenceChannels = channelsRaw.filter((ch): ch is 'grpc' | 'redis' => ch === 'grpc' || ch === 'redis');
  channelsRaw.forEach((ch, i) => {
    if (ch !== 'grpc' && ch !== 'redis') c.add(['presence_channels', i], `'${ch}' is not a channel; use grpc and/or redis`);
  });
  if (presenceChannels.length === 0 && top.presence_channels !== undefined) c.add(['presence_channels'], 'needs at least one of grpc, redis');
  if (presenceChannels.includes('redis') && !redis) c.add(['presence_channels'], "lists redis but no redis: URL is set");
  const profileRaw = c.string(top.presence_profile, ['presence_profile'], { nonEmpty: true }) ?? 'lan';
  if (!isProfileName(profileRaw)) c.add(['presence_profile'], `'${profileRaw}' is not one of local, lan, wan`);
  if (!tunnel && listenRaw.tunnel === undefined && !flags.listenTunnel) c.add(['listen', 'tunnel'], 'is required: agents connect to this address');
  if (!http && !https && !tlsListen && !tcp && listenRaw.http === undefined && listenRaw.https === undefined && listenRaw.tls === undefined && listenRaw.tcp_ports === undefined) {
    c.add(['listen'], 'needs at least one public listener: http, https, tls or tcp_ports');
  }

  let tls: EdgeConfig['tls'];
  const tlsRaw = c.object(top.tls, ['tls'], ['cert', 'key'], false);
  const certFile = flags.tlsCert ?? c.string(tlsRaw?.cert, ['tls', 'cert'], { nonEmpty: true });
  const keyFile = flags.tlsKey ?? c.string(tlsRaw?.key, ['tls', 'key'], { nonEmpty: true });
  if (certFile || keyFile) {
    if (!certFile || !keyFile) c.add(['tls'], 'cert and key must be given together');
    else {
      const cert = readRelative(c, baseDir, certFile, ['tls', 'cert']);
      const key = readRelative(c, baseDir, keyFile, ['tls', 'key']);
      if (cert !== undefined && key !== undefined) tls = { cert, key };
    }
  }

  const accounts: AccountConfig[] = [];
  const seenTokens = new Map<string, string>();
  c.list(top.accounts, ['accounts']).forEach((a, i) => {
    const p: Path = ['accounts', i];
    const o = c.object(a, p, ['name', 'authtokens', 'api_keys', 'domains', 'vaults', 'inspect']);
    if (!o) return;
    const name = c.string(o.name, [...p, 'name'], { required: true, nonEmpty: true });
    if (name !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) c.add([...p, 'name'], 'may only contain letters, digits, _ . -');
    if (name !== undefined && accounts.some((x) => x.name === name)) c.add([...p, 'name'], `account '${name}' is declared twice`);
    const authtokens = c.stringList(o.authtokens, [...p, 'authtokens']);
    authtokens.forEach((t, j) => {
      const other = seenTokens.get(t);
      if (other !== undefined) c.add([...p, 'authtokens', j], `the same authtoken is already used by account '${other}'`);
      seenTokens.set(t, name ?? '?');
    });
    const apiKeys = c.stringList(o.api_keys, [...p, 'api_keys']);
    apiKeys.forEach((k, j) => {
      if (k.length < 16) c.add([...p, 'api_keys', j], 'must be at least 16 characters');
    });
    const domains = c.stringList(o.domains, [...p, 'domains']).map((d) => d.toLowerCase());
    domains.forEach((d, j) => {
      const problem = domainProblem(d);
      if (problem) c.add([...p, 'domains', j], problem);
      const owner = accounts.find((x) => x.domains.includes(d));
      if (owner) c.add([...p, 'domains', j], `'${d}' is already reserved by account '${owner.name}'`);
    });
    const vaults = readVaults(c, o.vaults, [...p, 'vaults'], baseDir);
    const inspect = readAccountInspect(c, o.inspect, p);
    if (name !== undefined) accounts.push(inspect ? { name, authtokens, apiKeys, domains, vaults, inspect } : { name, authtokens, apiKeys, domains, vaults });
  });

  const cloudEndpoints: CloudEndpointConfig[] = [];
  c.list(top.cloud_endpoints, ['cloud_endpoints']).forEach((e, i) => {
    const p: Path = ['cloud_endpoints', i];
    const o = c.object(e, p, ['account', 'url', 'pooling_enabled', 'traffic_policy', 'traffic_policy_file', 'description', 'metadata', 'binding']);
    if (!o) return;
    const account = c.string(o.account, [...p, 'account'], { required: true, nonEmpty: true });
    if (account !== undefined && !accounts.some((a) => a.name === account)) {
      c.add([...p, 'account'], `unknown account '${account}'; declare it under accounts:`);
    }
    const { url } = checkUrlFields(c, o, p);
    const poolingEnabled = c.bool(o.pooling_enabled, [...p, 'pooling_enabled'], false);
    const trafficPolicy = readPolicyFields(c, o, p, baseDir, 'a cloud endpoint has no upstream, its policy must end in a terminating action');
    const description = c.string(o.description, [...p, 'description']) ?? '';
    const metadata = c.string(o.metadata, [...p, 'metadata']) ?? '';
    if (account !== undefined && url !== undefined && trafficPolicy !== undefined) {
      cloudEndpoints.push({ account, url, poolingEnabled, trafficPolicy, description, metadata, path: `cloud_endpoints[${i}]` });
    }
  });

  const httpRequest = readHttpRequest(c, top.http_request);
  const inspector = readInspectorConfig(c, top.inspector, admin !== undefined || consoleAddr !== undefined);

  const tracing = resolveTracing(readTelemetryBlock(c, top.telemetry), process.env, 'meshgate-edge', c);

  if (!c.ok) throw configError(name, c.issues);
  return deepFreeze({
    tracing,
    httpRequest,
    inspector,
    region,
    nodeId,
    accessLog,
    listen: { http, https, tunnel: tunnel!, peer, relay, admin, console: consoleAddr, tls: tlsListen, tcp },
    dataDir,
    adminApiKey,
    peers,
    advertise,
    redis,
    clusterSecret,
    presenceChannels,
    presenceProfile: (isProfileName(profileRaw) ? profileRaw : 'lan') as ProfileName,
    tls,
    accounts,
    cloudEndpoints,
  });
}

/** Why `d` cannot be reserved (a host name, or `*.` + a host name), or undefined. */
export function domainProblem(d: string): string | undefined {
  const host = d.startsWith('*.') ? d.slice(2) : d;
  if (host.includes('*')) return `'${d}' may only have '*' as its whole first label (e.g. *.apps.example.com)`;
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/.test(host)) return `'${d}' is not a host name (e.g. api.example.com or *.apps.example.com)`;
  if (host.endsWith('.internal')) return `'${d}' is an internal host; internal endpoints need no reservation`;
  return undefined;
}

function readHttpRequest(c: Checker, raw: unknown): HttpRequestConfig {
  const o = c.object(raw, ['http_request'], ['allow_external', 'allowed_hosts'], false) ?? {};
  const allowExternal = c.bool(o.allow_external, ['http_request', 'allow_external'], false);
  const allowedHosts = c.stringList(o.allowed_hosts, ['http_request', 'allowed_hosts']).map((h) => h.toLowerCase());
  allowedHosts.forEach((h, i) => {
    if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(h) && !/^\[?[0-9a-f:.]+\]?$/.test(h)) {
      c.add(['http_request', 'allowed_hosts', i], `'${h}' is not a host name, IP address or *.domain`);
    }
  });
  if (allowedHosts.length > 0 && !allowExternal) c.add(['http_request', 'allowed_hosts'], 'has no effect unless allow_external is true');
  return { allowExternal, allowedHosts };
}

function readRelative(c: Checker, baseDir: string, file: string, path: Path): string | undefined {
  try {
    return readFileSync(resolve(baseDir, file), 'utf8');
  } catch (e) {
    c.add(path, `cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return undefined;
  }
}

function configError(name: string, issues: Issue[]): MeshgateError {
  return new MeshgateError('MG_CONFIG_INVALID', { detail: `${name} has ${issues.length} problem${issues.length > 1 ? 's' : ''}`, issues });
}
