/**
 * on_tcp_connect in the engine (runConnect) and terminate-tls config validation; edge.yaml's L4
 * keys and tcp/tls endpoint URLs.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../services/agent/agent-config.js';
import selfsigned from 'selfsigned';
import { Checker } from '../../services/core/config.js';
import { MeshgateError } from '../../services/core/errors.js';
import { parseEndpointUrl, poolKey } from '../../services/core/endpoint-url.js';
import { parseEdgeConfig } from '../../services/edge/config.js';
import { describePorts } from '../../services/edge/l4/l4-ingress.js';
import { parsePortSpec } from '../../services/edge/l4/l4-config.js';
import {
  compilePolicy,
  type CompileOptions,
  type ConnectionExchange,
  type ConnectPhaseHost,
  type PolicyEndpoint,
  type TerminateTlsOptions,
} from '../../services/policy/index.js';

const TLS_AGENT: CompileOptions = { endpointType: 'agent', protocol: 'tls', binding: 'public' };
const TCP_AGENT: CompileOptions = { endpointType: 'agent', protocol: 'tcp', binding: 'public' };

function endpoint(protocol: 'tcp' | 'tls', type: 'agent' | 'cloud' = 'agent'): PolicyEndpoint {
  return { id: 'ep_1', url: protocol === 'tcp' ? 'tcp://db.example.com:20001' : 'tls://db.example.com', host: 'db.example.com', port: protocol === 'tcp' ? 20001 : 443, protocol, binding: 'public', type, poolingEnabled: false };
}

function conn(clientIp = '203.0.113.9', sni = ''): ConnectionExchange {
  return { id: 'conn_1', conn: { clientIp, clientPort: 5000, serverIp: '198.51.100.1', serverPort: 20001, serverRegion: 'eu', startedAt: new Date(), tls: sni ? { version: '', cipherSuite: '', sni } : undefined }, depth: 0 };
}

class Host implements ConnectPhaseHost<string> {
  asked: TerminateTlsOptions[] = [];
  constructor(private readonly fail = false) {}
  forwardInternal(_x: unknown, o: { url: string }) {
    return Promise.resolve({ ok: true as const, response: `forwarded to ${o.url}` });
  }
  terminateTls(x: { conn: ConnectionExchange['conn'] }, o: TerminateTlsOptions) {
    this.asked.push(o);
    if (this.fail) return Promise.resolve({ ok: false as const, code: 'MG_TLS_HANDSHAKE_FAILED' as const, message: 'bad client' });
    const tls = { version: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', sni: x.conn.tls?.sni ?? '' };
    x.conn.tls = tls;
    return Promise.resolve({ ok: true as const, tls });
  }
}

function compile(yaml: string, opts = TLS_AGENT) {
  const r = compilePolicy(yaml, opts);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues, null, 2));
  return r.policy;
}

function issues(yaml: string, opts = TLS_AGENT): string[] {
  const r = compilePolicy(yaml, opts);
  assert.equal(r.ok, false, 'the policy compiled');
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('on_tcp_connect (runConnect)', () => {
  it('passes with no terminating action, and refuses for a cloud endpoint with nothing to forward to', async () => {
    const p = compile('on_tcp_connect:\n  - actions: [{type: set-vars, config: {vars: [{a: 1}]}}]\n', TCP_AGENT);
    assert.deepEqual(await p.runConnect(conn(), endpoint('tcp'), new Host()), { kind: 'pass' });
    const empty = compile('on_tcp_connect: []\n', TCP_AGENT);
    assert.deepEqual(await empty.runConnect(conn(), endpoint('tcp', 'cloud'), new Host()), {
      kind: 'close',
      code: 'MG_NO_TERMINATING_ACTION',
      message: 'no terminating action ran in on_tcp_connect of cloud endpoint tcp://db.example.com:20001 (nothing to forward to)',
    });
  });

  it('turns deny, close-connection and restrict-ips into a close with their code', async () => {
    const p = compile(
      [
        'on_tcp_connect:',
        '  - actions: [{type: restrict-ips, config: {deny: [203.0.113.0/24]}}]',
        "  - expressions: [\"conn.client_ip == '10.0.0.1'\"]",
        '    actions: [{type: deny}]',
        "  - expressions: [\"conn.client_ip == '10.0.0.2'\"]",
        '    actions: [{type: close-connection}]',
      ].join('\n'),
      TCP_AGENT,
    );
    const h = new Host();
    assert.deepEqual(await p.runConnect(conn('203.0.113.9'), endpoint('tcp'), h), { kind: 'close', code: 'MG_IP_RESTRICTED', message: 'client IP 203.0.113.9 is not allowed to reach this endpoint' });
    assert.equal((await p.runConnect(conn('10.0.0.1'), endpoint('tcp'), h)).kind, 'close');
    assert.deepEqual(await p.runConnect(conn('10.0.0.2'), endpoint('tcp'), h), { kind: 'close', code: 'MG_CONNECTION_CLOSED_BY_POLICY', message: 'close-connection in on_tcp_connect' });
    assert.deepEqual(await p.runConnect(conn('10.0.0.1'), endpoint('tcp'), h), { kind: 'close', code: 'MG_CONNECTION_CLOSED_BY_POLICY', message: 'deny in on_tcp_connect' });
    assert.deepEqual(await p.runConnect(conn('10.9.9.9'), endpoint('tcp'), h), { kind: 'pass' });
  });

  it('hands forward-internal to the host and reports its response as forwarded', async () => {
    const p = compile('on_tcp_connect:\n  - actions: [{type: forward-internal, config: {url: "tcp://db.internal:5432"}}]\n', { ...TCP_AGENT, endpointType: 'cloud' });
    assert.deepEqual(await p.runConnect(conn(), endpoint('tcp', 'cloud'), new Host()), { kind: 'forwarded', response: 'forwarded to tcp://db.internal:5432' });
  });

  it('lets later rules read conn.tls.* and the terminate_tls result after the handshake', async () => {
    const p = compile(
      [
        'on_tcp_connect:',
        '  - actions: [{type: terminate-tls}]',
        "  - expressions: [\"conn.tls.version == 'TLS 1.3' && actions.ngrok.terminate_tls.sni == 'db.example.com'\"]",
        '    actions: [{type: close-connection}]',
      ].join('\n'),
    );
    const h = new Host();
    assert.equal((await p.runConnect(conn('1.2.3.4', 'db.example.com'), endpoint('tls'), h)).kind, 'close');
    assert.deepEqual(h.asked[0], { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', cert: '', key: '', clientCas: [], clientAuth: 'none' });
    assert.deepEqual(await p.runConnect(conn('1.2.3.4', 'other.example.com'), endpoint('tls'), h), { kind: 'pass' });
  });

  it('closes with MG_TLS_HANDSHAKE_FAILED when the handshake fails, and refuses a second termination', async () => {
    const p = compile('on_tcp_connect:\n  - actions: [{type: terminate-tls}]\n  - actions: [{type: log, config: {metadata: {never: "ran"}}}]\n');
    const x = conn('1.2.3.4', 'db.example.com');
    assert.deepEqual(await p.runConnect(x, endpoint('tls'), new Host(true)), { kind: 'close', code: 'MG_TLS_HANDSHAKE_FAILED', message: 'bad client' });
    assert.equal(x.logs, undefined);
    const twice = compile('on_tcp_connect:\n  - actions: [{type: terminate-tls}]\n  - expressions: ["true"]\n    actions: [{type: terminate-tls}]\n');
    const out = await twice.runConnect(conn('1.2.3.4', 'db.example.com'), endpoint('tls'), new Host());
    assert.equal(out.kind === 'close' && out.code, 'MG_TLS_HANDSHAKE_FAILED');
    assert.match(out.kind === 'close' ? out.message : '', /already terminated/);
  });

  it('makes an interpolated certificate that is not PEM a runtime error', async () => {
    const p = compile('on_tcp_connect:\n  - actions: [{type: terminate-tls, config: {server_certificate: "${conn.client_ip}", server_private_key: "${conn.client_ip}"}}]\n');
    const out = await p.runConnect(conn('1.2.3.4', 'db.example.com'), endpoint('tls'), new Host());
    assert.equal(out.kind === 'close' && out.code, 'MG_POLICY_RUNTIME_ERROR');
    assert.match(out.kind === 'close' ? out.message : '', /server_certificate: the interpolated value is not PEM text/);
  });
});

describe('terminate-tls config', () => {
  let ca: string;
  let pair: { cert: string; key: string };
  let otherKey: string;
  before(async () => {
    const opts = { keyType: 'ec', algorithm: 'sha256' } as never;
    const [a, b, c] = await Promise.all([selfsigned.generate([{ name: 'commonName', value: 'ca' }], opts), selfsigned.generate([{ name: 'commonName', value: 'db.example.com' }], opts), selfsigned.generate([{ name: 'commonName', value: 'x' }], opts)]);
    ca = a.cert;
    pair = { cert: b.cert, key: b.private };
    otherKey = c.private;
  });
  const policy = (config: Record<string, unknown>) => JSON.stringify({ on_tcp_connect: [{ actions: [{ type: 'terminate-tls', config }] }] });
  const asked = async (config: Record<string, unknown>) => {
    const h = new Host();
    await compile(policy(config)).runConnect(conn('1.2.3.4', 'db.example.com'), endpoint('tls'), h);
    return h.asked[0];
  };

  it('derives the client-certificate rule from the CAs and the strategy', async () => {
    assert.equal((await asked({})).clientAuth, 'none');
    assert.equal((await asked({ mutual_tls_certificate_authorities: [ca] })).clientAuth, 'require-and-verify');
    assert.equal((await asked({ mutual_tls_certificate_authorities: [ca], mutual_tls_verification_strategy: 'request' })).clientAuth, 'request');
    assert.equal((await asked({ mutual_tls_verification_strategy: 'require-any' })).clientAuth, 'require-any');
    const o = await asked({ min_version: '1.3', max_version: 1.3, server_certificate: pair.cert, server_private_key: pair.key });
    assert.deepEqual([o.minVersion, o.maxVersion, o.cert, o.key], ['TLSv1.3', 'TLSv1.3', pair.cert, pair.key]);
  });

  it('checks static PEMs at load, naming the field', () => {
    assert.deepEqual(issues(policy({ server_certificate: pair.cert, server_private_key: otherKey })), [
      'on_tcp_connect[0].actions[0].config.server_private_key: does not match the public key of server_certificate (the first certificate of the chain)',
    ]);
    assert.deepEqual(issues(policy({ server_certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', server_private_key: 'nope' })), [
      'on_tcp_connect[0].actions[0].config.server_certificate: certificate 1 of the PEM cannot be read: ' + certError(),
      'on_tcp_connect[0].actions[0].config.server_private_key: is not a PEM private key (-----BEGIN PRIVATE KEY----- ...)',
    ]);
    assert.deepEqual(issues(policy({ server_private_key: pair.key })), ['on_tcp_connect[0].actions[0].config.server_certificate: is required with server_private_key: give the certificate and its key together']);
    assert.deepEqual(issues(policy({ mutual_tls_certificate_authorities: ['x'] })), [
      'on_tcp_connect[0].actions[0].config.mutual_tls_certificate_authorities[0]: is not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)',
    ]);
    // an interpolated value is checked per connection instead
    compile(policy({ server_certificate: '${vars.cert}', server_private_key: pair.key }));
  });

  it('refuses versions other than 1.2/1.3, and terminate-tls outside tls endpoints', () => {
    assert.deepEqual(issues(policy({ max_version: '1.0' })), ['on_tcp_connect[0].actions[0].config.max_version: must be 1.2 or 1.3, got the string "1.0"']);
    assert.deepEqual(issues(policy({}), { endpointType: 'agent', protocol: 'https', binding: 'public' }), [
      'on_tcp_connect[0].actions[0].config: terminate-tls is only supported on tls:// endpoints; the https listener already terminates TLS with the edge certificate',
    ]);
    assert.match(issues(JSON.stringify({ on_http_request: [{ actions: [{ type: 'terminate-tls' }] }] }), { endpointType: 'agent', protocol: 'https', binding: 'public' })[0], /terminate-tls cannot be used in on_http_request; it is allowed in on_tcp_connect/);
  });
});

/** Node's message for an unreadable certificate body (OpenSSL wording differs by version). */
function certError(): string {
  try {
    new X509Certificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----');
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

describe('tcp and tls endpoint URLs', () => {
  it('needs a port for tcp, keeps it in the canonical URL, and has no wildcard tcp hosts', () => {
    const u = parseEndpointUrl('tcp://DB.example.com:20001');
    assert.deepEqual([u.scheme, u.host, u.port, u.binding, u.url], ['tcp', 'db.example.com', 20001, 'public', 'tcp://db.example.com:20001']);
    assert.equal(parseEndpointUrl('tcp://db.internal:5432').binding, 'internal');
    assert.throws(() => parseEndpointUrl('tcp://db.example.com', '--url'), (e: unknown) => e instanceof MeshgateError && e.field === '--url' && /tcp endpoints need a port/.test(e.message));
    assert.throws(() => parseEndpointUrl('tcp://*.example.com:20001'), /cannot be a wildcard/);
  });

  it("routes tls on 443, accepts the edge's listen.tls port as 443, and pools apart from tcp", () => {
    assert.equal(parseEndpointUrl('tls://db.example.com').url, 'tls://db.example.com');
    assert.equal(parseEndpointUrl('tls://db.example.com:9443', 'url', undefined, { tlsPort: 9443 }).url, 'tls://db.example.com');
    assert.equal(parseEndpointUrl('tls://db.example.com:9443', 'url', undefined, { tlsPort: 'any' }).port, 9443);
    assert.throws(() => parseEndpointUrl('tls://db.example.com:9443', 'url', undefined, { tlsPort: 8443 }), /port 443 or this edge's listen.tls port 8443/);
    assert.equal(parseEndpointUrl('tls://*.example.com').wildcard, true);
    assert.equal(parseEndpointUrl('tls://db.internal:8443').url, 'tls://db.internal:8443');
    assert.notEqual(poolKey(parseEndpointUrl('tcp://db.internal:443')), poolKey(parseEndpointUrl('tcp://db.internal:444')));
    assert.throws(() => parseEndpointUrl('udp://db.example.com:53'), /unknown scheme 'udp'; use http:\/\/, https:\/\/, tcp:\/\/ or tls:\/\//);
  });
});

describe('edge.yaml L4 keys', () => {
  const ports = (spec: unknown) => {
    const c = new Checker();
    const r = parsePortSpec(spec, c, ['listen', 'tcp_ports']);
    return r ?? c.issues.map((i) => i.message);
  };

  it('reads ranges, lists and single ports, sorted without duplicates', () => {
    assert.deepEqual(ports('20000-20003, 20002,30000'), [20000, 20001, 20002, 20003, 30000]);
    assert.deepEqual(ports([20005, '20001-20002']), [20001, 20002, 20005]);
    assert.deepEqual(ports(20001), [20001]);
    assert.equal(describePorts([20000, 20001, 20002, 20005, 20007, 20008]), '20000-20002,20005,20007-20008');
  });

  it('refuses malformed, reversed, out-of-range and oversized specs', () => {
    assert.match(String(ports('20000-')), /is not a port or a range/);
    assert.match(String(ports('20010-20000')), /not a valid port range/);
    assert.match(String(ports('0-10')), /not a valid port range/);
    assert.match(String(ports('1-60000')), /more than 4096 ports/);
  });

  it('takes listen.tls and listen.tcp_ports as public listeners, tcp_host defaulting to the http host', () => {
    const c = parseEdgeConfig('listen: {tunnel: "127.0.0.1:4443", tls: "127.0.0.2:9443", tcp_ports: "20000-20001"}\n', '/');
    assert.deepEqual(c.listen.tls, { host: '127.0.0.2', port: 9443 });
    assert.deepEqual(c.listen.tcp, { host: '0.0.0.0', ports: [20000, 20001] });
    const d = parseEdgeConfig('listen: {http: "127.0.0.5:80", tunnel: ":4443", tcp_ports: 20000}\n', '/', { tcpPorts: '21000-21001' });
    assert.deepEqual(d.listen.tcp, { host: '127.0.0.5', ports: [21000, 21001] });
    assert.throws(
      () => parseEdgeConfig('listen: {tunnel: ":4443", tcp_host: "127.0.0.1"}\n', '/'),
      (e: unknown) => e instanceof MeshgateError && e.issues.some((i) => i.path === 'listen.tcp_host' && /only used with listen.tcp_ports/.test(i.message)) && e.issues.some((i) => i.path === 'listen' && /http, https, tls or tcp_ports/.test(i.message)),
    );
  });
});

describe('agent.yml tcp and tls endpoints', () => {
  const load = (yaml: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshgate-l4-'));
    writeFileSync(join(dir, 'agent.yml'), yaml);
    return loadAgentConfig(join(dir, 'agent.yml'));
  };

  it('gives tcp/tls endpoints a raw TCP upstream (port, host:port or tcp://)', () => {
    const c = load(
      'endpoints:\n  - {url: "tcp://db.example.com:20001", upstream: 5432}\n  - {url: "tls://db.example.com:9443", upstream: {url: "tcp://10.0.0.5:8443"}}\n  - {url: "https://api.example.com", upstream: 8080}\n',
    );
    assert.deepEqual(
      c.endpoints.map((e) => [e.url, e.upstream.protocol, e.upstream.origin]),
      [
        ['tcp://db.example.com:20001', 'tcp:', 'tcp://localhost:5432'],
        ['tls://db.example.com:9443', 'tcp:', 'tcp://10.0.0.5:8443'],
        ['https://api.example.com', 'http:', 'http://localhost:8080'],
      ],
    );
  });

  it('names the field of a bad tcp upstream or a tcp URL without a port', () => {
    assert.throws(
      () => load('endpoints:\n  - {url: "tcp://db.example.com", upstream: "http://localhost:80"}\n'),
      (e: unknown) =>
        e instanceof MeshgateError &&
        e.issues.some((i) => i.path === 'endpoints[0].url' && /tcp endpoints need a port/.test(i.message)) &&
        e.issues.some((i) => i.path === 'endpoints[0].upstream' && /is not a port, host:port or tcp:\/\/host:port/.test(i.message)),
    );
  });
});
