/**
 * Running on_tcp_connect against a described connection without a gateway (golden policy tests,
 * `meshgate policy test --connect`). A fake host answers forward-internal (success, or failure
 * for targets listed as offline) and terminate-tls (a TLS 1.3 handshake that presents the
 * client certificate described, and fails like the edge would when one is required but absent).
 */
import { PolicyImpl } from './compiled-policy.js';
import type { CompiledAction, CompiledRule, PhaseTrace } from './run-phase.js';
import type {
  CompiledPolicy,
  ConnectionExchange,
  ConnectOutcome,
  ConnectPhaseHost,
  Exchange,
  PolicyCertificate,
  PolicyEndpoint,
  TerminateTlsOptions,
  TerminateTlsResult,
} from './types.js';
import type { VaultsData } from './secret-vaults.js';
import { endpointFromUrl, simulatedForward, withSecrets } from './simulate-request.js';

export interface ConnectSimulationOptions {
  /** The endpoint whose policy runs; default: an agent endpoint at the connection's URL. */
  endpoint?: PolicyEndpoint;
  /** forward-internal targets that fail (URL or host). */
  offline?: readonly string[];
  clientIp?: string;
  region?: string;
  /** The client certificate a terminate-tls handshake sees; absent = the client sends none. */
  clientCert?: { common_name?: string; organization?: string; dns_names?: string[]; issuer?: string };
  /** The account's vaults for `secrets.get`; replaces the endpoint's. */
  secrets?: VaultsData;
}

/** A connect-phase outcome as plain JSON. */
export type ConnectOutcomeJson = { kind: 'pass' } | { kind: 'forwarded'; url: string } | { kind: 'close'; code: string; message: string };

export interface ConnectSimulationResult {
  on_tcp_connect: { matched: string[]; actions: string[]; outcome: ConnectOutcomeJson };
  /** What terminate-tls asked for, when it ran. */
  terminate_tls?: { min_version: string; max_version: string; client_auth: string; certificate: 'policy' | 'edge'; client_cas: number };
  logs?: Exchange['logs'];
  /** What happens to the connection. */
  final: { connect: 'upstream' } | { connect: 'forwarded'; url: string } | { close: true; error: string };
}

/** Runs on_tcp_connect for a connection to `url` (`tcp://host:port` or `tls://host`). */
export async function simulateConnect(policy: CompiledPolicy, url: string, opts: ConnectSimulationOptions = {}): Promise<ConnectSimulationResult> {
  const endpoint = withSecrets(opts.endpoint ?? endpointFromUrl(url, 'agent'), opts.secrets);
  const u = new URL(url);
  const scheme = u.protocol.slice(0, -1);
  const port = u.port ? Number(u.port) : 443;
  const x: ConnectionExchange = {
    id: 'sim',
    conn: {
      clientIp: opts.clientIp ?? '203.0.113.7',
      clientPort: 54321,
      serverIp: '198.51.100.1',
      serverPort: port,
      serverRegion: opts.region ?? 'eu',
      startedAt: new Date(),
      tls: scheme === 'tls' ? { version: '', cipherSuite: '', sni: u.hostname.toLowerCase() } : undefined,
    },
    depth: 0,
  };
  const offline = new Set((opts.offline ?? []).map((s) => s.toLowerCase()));
  let asked: ConnectSimulationResult['terminate_tls'];
  const host: ConnectPhaseHost<{ url: string }> = {
    forwardInternal: (_x, o) => simulatedForward(offline, o.url),
    terminateTls(_x, o: TerminateTlsOptions): Promise<TerminateTlsResult> {
      asked = { min_version: o.minVersion, max_version: o.maxVersion, client_auth: o.clientAuth, certificate: o.cert ? 'policy' : 'edge', client_cas: o.clientCas.length };
      const client = opts.clientCert ? fakeCert(opts.clientCert) : undefined;
      if (!client && (o.clientAuth === 'require-any' || o.clientAuth === 'require-and-verify')) {
        return Promise.resolve({ ok: false, code: 'MG_TLS_HANDSHAKE_FAILED', message: 'the client sent no certificate (mutual TLS required)' });
      }
      const tls = { version: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', sni: x.conn.tls?.sni ?? '', client: o.clientAuth === 'none' ? undefined : client };
      x.conn.tls = tls;
      return Promise.resolve({ ok: true, tls });
    },
  };
  const trace = new Recorder();
  const out = await (policy instanceof PolicyImpl ? policy.traceConnect(x, endpoint, host, trace) : policy.runConnect(x, endpoint, host));
  const outcome = outcomeJson(out);
  const result: ConnectSimulationResult = {
    on_tcp_connect: { matched: trace.matched, actions: trace.actions, outcome },
    final: outcome.kind === 'pass' ? { connect: 'upstream' } : outcome.kind === 'forwarded' ? { connect: 'forwarded', url: outcome.url } : { close: true, error: outcome.code },
  };
  if (asked) result.terminate_tls = asked;
  if (x.logs?.length) result.logs = x.logs;
  return result;
}

function fakeCert(c: NonNullable<ConnectSimulationOptions['clientCert']>): PolicyCertificate {
  const name = (cn: string, o = '') => ({ commonName: cn, organization: o, organizationalUnit: '', country: '', province: '', locality: '' });
  return {
    pem: '-----BEGIN CERTIFICATE-----\n(simulated)\n-----END CERTIFICATE-----\n',
    subject: name(c.common_name ?? '', c.organization),
    issuer: name(c.issuer ?? 'Simulated CA'),
    san: { dnsNames: c.dns_names ?? [], emailAddresses: [], ipAddresses: [], uris: [] },
    serialNumber: '01',
    notBefore: '2025-01-01T00:00:00.000Z',
    notAfter: '2035-01-01T00:00:00.000Z',
  };
}

function outcomeJson(o: ConnectOutcome<{ url: string }>): ConnectOutcomeJson {
  if (o.kind === 'forwarded') return { kind: 'forwarded', url: o.response.url };
  if (o.kind === 'close') return { kind: 'close', code: o.code, message: o.message };
  return { kind: 'pass' };
}

class Recorder implements PhaseTrace {
  readonly matched: string[] = [];
  readonly actions: string[] = [];
  rule(rule: CompiledRule, matched: boolean): void {
    if (matched) this.matched.push(rule.name === undefined ? rule.path : `${rule.path} (${rule.name})`);
  }
  action(a: CompiledAction): void {
    this.actions.push(`${a.path} ${a.type}`);
  }
}
