/**
 * tcp:// and tls:// endpoints with real edge and agent processes and real TCP/TLS upstreams:
 * bytes spliced both ways (large transfer, sha256, half-close), pools balancing per connection,
 * on_tcp_connect closing connections, tls pass-through routed by SNI, terminate-tls with mutual
 * TLS, connections cut when their agent dies, refused registrations naming the field, and a
 * client entering one edge for an agent on another (relay).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { CLUSTER_SECRET, eventually } from '../helpers/gateway.js';
import { exchange, freePorts, patternBytes, sha256, startEchoServer, startL4Agent, tcpConnect, tlsConnect, tryExchange, type TestServer } from '../helpers/l4.js';
import { meshgate, meshgateRun, stopAll, tempFiles, type Proc } from '../helpers/procs.js';

const MiB = 1024 * 1024;

interface Pems {
  cert: string;
  key: string;
}

async function cert(cn: string, o: { ca?: Pems; isCa?: boolean; client?: boolean } = {}): Promise<Pems> {
  const extensions = o.isCa
    ? [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true }]
    : [{ name: 'subjectAltName', altNames: [{ type: 2, value: cn }] }, ...(o.client ? [{ name: 'extKeyUsage', clientAuth: true }] : [])];
  const p = await selfsigned.generate([{ name: 'commonName', value: cn }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions, ...(o.ca ? { ca: { key: o.ca.key, cert: o.ca.cert } } : {}) } as never);
  return { cert: p.cert, key: p.private };
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

interface Edge {
  proc: Proc;
  tunnel: string;
  tls: string;
  tlsPort: number;
  peer?: string;
  dir: string;
}

async function startL4Edge(name: string, yaml: string, files: Record<string, string> = {}): Promise<Edge> {
  const dir = tempFiles({ 'edge.yaml': yaml, ...files });
  const proc = meshgate(name, ['edge', '--config', join(dir, 'edge.yaml')], { logLevel: 'debug' });
  const r = (await proc.ready(20_000)).listeners;
  return { proc, tunnel: r.tunnel, tls: r.tls, tlsPort: Number(String(r.tls).split(':').pop()), peer: r.peer, dir };
}

/** The edge logged that it refused/failed a connection with `code`. */
function refusedWith(edge: Edge, code: string, timeoutMs = 5_000): Promise<string> {
  return edge.proc.waitLine((l) => (l.includes('"connection refused"') || l.includes('"connection failed"')) && l.includes(`"code":"${code}"`), timeoutMs, `a connection closed with ${code}`);
}

describe('tcp and tls endpoints', function () {
  this.timeout(120_000);
  let ports: number[];
  let edge: Edge;
  let echo: TestServer;
  let named: TestServer[];
  let ca: Pems;
  let policyCert: Pems;
  let upstreamTls: Pems;

  before(async () => {
    ports = await freePorts(7);
    [ca, policyCert, upstreamTls] = await Promise.all([cert('Test Client CA', { isCa: true }), cert('secure.example.com'), cert('db.example.com')]);
    edge = await startL4Edge(
      'edge-l4',
      `
region: eu
listen: {http: "127.0.0.1:0", tunnel: "127.0.0.1:0", tls: "127.0.0.1:0", tcp_ports: "${ports.join(',')}"}
accounts: [{name: acme, authtokens: [tok_acme]}]
cloud_endpoints:
  - account: acme
    url: tcp://gateway.example.com:${ports[6]}
    traffic_policy: |
      on_tcp_connect:
        - actions:
            - type: forward-internal
              config: {url: "tcp://primary.internal:5432", on_error: continue}
            - type: forward-internal
              config: {url: "tcp://replica.internal:5432"}
`,
    );
    echo = await startEchoServer();
    named = await Promise.all([startEchoServer({ greeting: 'A' }), startEchoServer({ greeting: 'B' })]);
  });
  after(async () => {
    await stopAll();
    await Promise.all([echo, ...named].map((s) => s?.close()));
  });

  describe('tcp', () => {
    before(async () => {
      await startL4Agent('agent-echo', 'tcp', echo.port, `tcp://db.example.com:${ports[0]}`, edge.tunnel);
    });

    it('splices a 32 MiB transfer both ways intact, with half-close, and closes both sides at the end', async () => {
      const payload = patternBytes(32 * MiB);
      const sock = await tcpConnect(ports[0]);
      const r = await exchange(sock, payload, 60_000);
      assert.equal(r.error, undefined);
      assert.equal(r.ended, true, 'the echo ended its direction after ours (half-close carried both ways)');
      assert.equal(r.data.length, payload.length);
      assert.equal(sha256(r.data), sha256(payload));
      await eventually('upstream connection closed', async () => echo.open.size === 0, 5_000);
    });

    it('keeps reading after the client half-closed, and carries the upstream FIN back', async () => {
      const sock = await tcpConnect(ports[0]);
      const r = await exchange(sock, 'ping, then FIN');
      assert.equal(r.data.toString(), 'ping, then FIN');
      assert.equal(r.ended, true);
    });

    it('balances connections over a pool of two agents on one tcp URL', async () => {
      const url = `tcp://pool.example.com:${ports[1]}`;
      await startL4Agent('agent-pool-a', 'tcp', named[0].port, url, edge.tunnel, ['--pooling-enabled']);
      await startL4Agent('agent-pool-b', 'tcp', named[1].port, url, edge.tunnel, ['--pooling-enabled']);
      const seen = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const r = await exchange(await tcpConnect(ports[1]), 'x');
        const who = r.data.toString()[0];
        assert.equal(r.data.toString().slice(1), 'x');
        seen.set(who, (seen.get(who) ?? 0) + 1);
      }
      assert.deepEqual([...seen.keys()].sort(), ['A', 'B'], JSON.stringify([...seen]));
    });

    it('closes connections that restrict-ips refuses, logs MG_IP_RESTRICTED, and keeps serving others', async () => {
      const policy = join(edge.dir, 'office-only.yml');
      writeFileSync(policy, 'on_tcp_connect:\n  - actions:\n      - type: restrict-ips\n        config: {allow: [10.0.0.0/8]}\n');
      await startL4Agent('agent-restricted', 'tcp', echo.port, `tcp://office.example.com:${ports[2]}`, edge.tunnel, ['--traffic-policy-file', policy]);
      const before = echo.connections;
      const r = await tryExchange(ports[2], 'let me in');
      assert.equal(r.data.length, 0, 'no byte crossed');
      await refusedWith(edge, 'MG_IP_RESTRICTED');
      assert.equal(echo.connections, before, 'the upstream never saw the connection');
      assert.equal((await exchange(await tcpConnect(ports[0]), 'still here')).data.toString(), 'still here');
    });

    it('runs set-vars and log in on_tcp_connect and deny closes matching connections', async () => {
      const policy = join(edge.dir, 'deny-loopback.yml');
      writeFileSync(
        policy,
        [
          'on_tcp_connect:',
          '  - actions:',
          '      - type: set-vars',
          '        config: {vars: [{src: "${conn.client_ip}"}]}',
          '      - type: log',
          '        config: {metadata: {from: "${vars.src}", port: "${conn.server_port}"}}',
          '  - expressions: ["vars.src == \'127.0.0.1\'"]',
          '    actions: [{type: deny}]',
          '',
        ].join('\n'),
      );
      await startL4Agent('agent-denied', 'tcp', echo.port, `tcp://denied.example.com:${ports[3]}`, edge.tunnel, ['--traffic-policy-file', policy]);
      const r = await tryExchange(ports[3], 'hello?');
      assert.equal(r.data.length, 0);
      const line = JSON.parse(await refusedWith(edge, 'MG_CONNECTION_CLOSED_BY_POLICY'));
      assert.deepEqual(line.logs[0].metadata, { from: '127.0.0.1', port: ports[3] });
    });

    it('hands connections of a tcp cloud endpoint to internal tcp pools, failing over with on_error: continue', async () => {
      const replica = await startEchoServer({ greeting: 'R' });
      const primaryUp = await startEchoServer({ greeting: 'P' });
      await startL4Agent('agent-replica', 'tcp', replica.port, 'tcp://replica.internal:5432', edge.tunnel);
      assert.equal((await exchange(await tcpConnect(ports[6]), 'q')).data.toString(), 'Rq', 'primary offline: the replica serves');
      const primary = await startL4Agent('agent-primary', 'tcp', primaryUp.port, 'tcp://primary.internal:5432', edge.tunnel);
      assert.equal((await exchange(await tcpConnect(ports[6]), 'q')).data.toString(), 'Pq');
      await primary.stop();
      await primaryUp.close();
      assert.equal((await exchange(await tcpConnect(ports[6]), 'q')).data.toString(), 'Rq');
      await replica.close();
    });

    it('cuts open connections when their agent dies', async () => {
      const up = await startEchoServer();
      const agent = await startL4Agent('agent-doomed', 'tcp', up.port, `tcp://doomed.example.com:${ports[4]}`, edge.tunnel);
      const sock = await tcpConnect(ports[4]);
      sock.write('one');
      await eventually('echo came back', async () => up.received.some((b) => b.toString() === 'one'), 5_000);
      const closed = new Promise<number>((resolve) => {
        const t0 = performance.now();
        sock.on('error', () => {});
        sock.on('close', () => resolve(performance.now() - t0));
        sock.resume();
      });
      agent.kill('SIGKILL');
      const ms = await Promise.race([closed, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('client connection still open 10 s after its agent died')), 10_000))]);
      assert.ok(ms < 10_000);
      await up.close();
      // the endpoint went offline with its agent: new connections are closed at once
      const r = await tryExchange(ports[4], 'anyone?');
      assert.equal(r.data.length, 0);
      await refusedWith(edge, 'MG_ENDPOINT_NOT_FOUND');
    });
  });

  describe('registration checks', () => {
    /** Runs an agent that must exit: 1 when the edge refuses it, 2 for bad flags. */
    const refused = async (args: string[], exit = 1) => {
      const r = await meshgateRun(['agent', ...args, '--edge', edge.tunnel, '--authtoken', 'tok_acme']);
      assert.equal(r.code, exit, `expected exit ${exit}, got ${r.code}\n${r.stderr}`);
      return r.stderr;
    };

    it('refuses a tcp port outside listen.tcp_ports, naming --url and the allowed ports', async () => {
      const out = await refused(['tcp', String(echo.port), '--url', 'tcp://db.example.com:1']);
      assert.match(out, /MG_TCP_PORT_UNAVAILABLE/);
      assert.match(out, /--url/);
      assert.match(out, new RegExp(`not one of this edge's listen.tcp_ports \\(${Math.min(...ports)}`));
    });

    it('refuses tcp URLs without a port and URLs of the wrong scheme, before connecting', async () => {
      let out = await refused(['tcp', String(echo.port), '--url', 'tcp://db.example.com']);
      assert.match(out, /MG_ENDPOINT_URL_INVALID/);
      assert.match(out, /--url.*tcp endpoints need a port/);
      out = await refused(['tcp', String(echo.port), '--url', 'https://db.example.com'], 2);
      assert.match(out, /MG_FLAG_INVALID/);
      assert.match(out, /--url.*needs a tcp:\/\/ URL/);
      out = await refused(['http', String(echo.port), '--url', `tcp://db.example.com:${ports[0]}`], 2);
      assert.match(out, /use 'meshgate agent tcp'/);
    });

    it("refuses a tls port that is neither 443 nor the edge's listen.tls port, and accepts the latter", async () => {
      const out = await refused(['tls', String(echo.port), '--url', 'tls://odd.example.com:1']);
      assert.match(out, /MG_ENDPOINT_URL_INVALID/);
      assert.match(out, new RegExp(`port 443 or this edge's listen.tls port ${edge.tlsPort}`));
      const agent = await startL4Agent('agent-tls-port', 'tls', echo.port, `tls://port.example.com:${edge.tlsPort}`, edge.tunnel);
      await agent.waitLine((l) => /^online {2}tls:\/\/port\.example\.com -> tcp:\/\/localhost:/.test(l), 5_000, 'the online line');
      await agent.stop();
    });

    it('refuses a second host on a tcp port already in use, and a pool without --pooling-enabled', async () => {
      let out = await refused(['tcp', String(echo.port), '--url', `tcp://other.example.com:${ports[0]}`]);
      assert.match(out, /MG_POOL_CONFLICT/);
      assert.match(out, /routed by port alone/);
      out = await refused(['tcp', String(echo.port), '--url', `tcp://db.example.com:${ports[0]}`]);
      assert.match(out, /MG_POOL_CONFLICT/);
      assert.match(out, /--pooling-enabled/);
      assert.equal((await exchange(await tcpConnect(ports[0]), 'after refusals')).data.toString(), 'after refusals');
    });

    it('refuses a terminate-tls policy on a tcp endpoint with the field path', async () => {
      const policy = join(edge.dir, 'bad-terminate.yml');
      writeFileSync(policy, 'on_tcp_connect:\n  - actions:\n      - type: terminate-tls\n        config: {min_version: 1.1}\n');
      const out = await refused(['tcp', String(echo.port), '--url', `tcp://bad.example.com:${ports[5]}`, '--traffic-policy-file', policy]);
      assert.match(out, /MG_POLICY_INVALID/);
      assert.match(out, /on_tcp_connect\[0\]\.actions\[0\]\.config \(line 4\): terminate-tls is only available on tls:\/\/ endpoints/);
      assert.match(out, /on_tcp_connect\[0\]\.actions\[0\]\.config\.min_version \(line 4\): must be 1\.2 or 1\.3/);
    });
  });

  describe('tls', () => {
    let tlsUpstream: TestServer;
    let plainUpstream: TestServer;
    let client: Pems;
    let intruder: Pems;
    let rogue: Pems;

    before(async () => {
      [client, intruder, rogue] = await Promise.all([cert('svc-a', { ca, client: true }), cert('intruder', { ca, client: true }), cert('svc-a', { client: true })]);
      tlsUpstream = await startEchoServer({ tlsOptions: { cert: upstreamTls.cert, key: upstreamTls.key } });
      plainUpstream = await startEchoServer();
      await startL4Agent('agent-passthrough', 'tls', tlsUpstream.port, 'tls://db.example.com', edge.tunnel);
      const indent = (pem: string, n = 12) => pem.trim().split('\n').map((l) => ' '.repeat(n) + l).join('\n');
      const policy = join(edge.dir, 'terminate.yml');
      writeFileSync(
        policy,
        [
          'on_tcp_connect:',
          '  - actions:',
          '      - type: terminate-tls',
          '        config:',
          '          min_version: "1.2"',
          '          server_certificate: |',
          indent(policyCert.cert),
          '          server_private_key: |',
          indent(policyCert.key),
          '          mutual_tls_certificate_authorities:',
          '            - |',
          indent(ca.cert, 14),
          '  - expressions: ["conn.tls.client.subject.common_name != \'svc-a\'"]',
          '    actions: [{type: close-connection}]',
          '  - actions:',
          '      - type: log',
          '        config: {metadata: {cn: "${conn.tls.client.subject.common_name}", version: "${actions.ngrok.terminate_tls.version}", sni: "${conn.tls.sni}"}}',
          '',
        ].join('\n'),
      );
      await startL4Agent('agent-terminated', 'tls', plainUpstream.port, 'tls://secure.example.com', edge.tunnel, ['--traffic-policy-file', policy]);
    });
    after(async () => {
      await Promise.all([tlsUpstream?.close(), plainUpstream?.close()]);
    });

    it("passes TLS through by SNI: the client verifies the upstream's own certificate", async () => {
      const s = await tlsConnect(edge.tlsPort, { servername: 'db.example.com', ca: [upstreamTls.cert] });
      assert.equal(s.authorized, true);
      assert.equal(s.getPeerX509Certificate()?.fingerprint256, fingerprint(upstreamTls.cert));
      const r = await exchange(s, 'through TLS end to end');
      assert.equal(r.data.toString(), 'through TLS end to end');
    });

    it('answers an unknown SNI with a TLS alert, and a non-TLS client by closing', async () => {
      await assert.rejects(tlsConnect(edge.tlsPort, { servername: 'nobody.example.com', rejectUnauthorized: false }), /unrecognized name|ERR_SSL|closed/i);
      await refusedWith(edge, 'MG_ENDPOINT_NOT_FOUND');
      const r = await tryExchange(edge.tlsPort, 'GET / HTTP/1.1\r\nhost: db.example.com\r\n\r\n');
      assert.equal(r.data.length, 0);
      await refusedWith(edge, 'MG_TLS_CLIENT_HELLO_INVALID');
    });

    it("terminates TLS with the policy's certificate, checks the client certificate, and sends plaintext upstream", async () => {
      const s = await tlsConnect(edge.tlsPort, { servername: 'secure.example.com', ca: [policyCert.cert], cert: client.cert, key: client.key });
      assert.equal(s.getPeerX509Certificate()?.fingerprint256, fingerprint(policyCert.cert));
      const before = plainUpstream.received.length;
      const r = await exchange(s, 'plaintext upstream');
      assert.equal(r.data.toString(), 'plaintext upstream');
      assert.equal(plainUpstream.received.length, before + 1);
      assert.equal(plainUpstream.received.at(-1)!.toString(), 'plaintext upstream', 'the upstream got plaintext');
      const line = await edge.proc.waitLine((l) => l.includes('"connection closed"') && l.includes('"cn":"svc-a"'), 5_000);
      assert.deepEqual(JSON.parse(line).logs[0].metadata, { cn: 'svc-a', version: 'TLS 1.3', sni: 'secure.example.com' });
    });

    it('refuses clients without a certificate, with one from another CA, and with a CN the policy rejects', async () => {
      const attempt = async (opts: Record<string, unknown>) => {
        try {
          const s = await tlsConnect(edge.tlsPort, { servername: 'secure.example.com', ca: [policyCert.cert], ...opts });
          return await exchange(s, 'should not pass', 5_000);
        } catch (e) {
          return { data: Buffer.alloc(0), ended: false, error: (e as Error).message };
        }
      };
      const before = plainUpstream.connections;
      for (const opts of [{}, { cert: rogue.cert, key: rogue.key }, { cert: intruder.cert, key: intruder.key }]) {
        const r = await attempt(opts);
        assert.equal(r.data.length, 0, JSON.stringify(r));
      }
      await refusedWith(edge, 'MG_TLS_HANDSHAKE_FAILED');
      await refusedWith(edge, 'MG_CONNECTION_CLOSED_BY_POLICY');
      assert.equal(plainUpstream.connections, before, 'no refused client reached the upstream');
    });

    it('keeps TLS 1.2 clients working when min_version allows it', async () => {
      const s = await tlsConnect(edge.tlsPort, { servername: 'secure.example.com', ca: [policyCert.cert], cert: client.cert, key: client.key, maxVersion: 'TLSv1.2' });
      assert.equal(s.getProtocol(), 'TLSv1.2');
      assert.equal((await exchange(s, 'old client')).data.toString(), 'old client');
    });
  });
});

describe('tcp endpoints across edges', function () {
  this.timeout(120_000);
  let echo: TestServer;
  after(async () => {
    await stopAll();
    await echo?.close();
  });

  it('relays a connection entering one edge to the agent held by another', async () => {
    const [port] = await freePorts(1, ['127.0.0.1', '127.0.0.2']);
    const yaml = (region: string, host: string, peers: string[]) => `
region: ${region}
node_id: ${region}-1
listen: {http: "${host}:0", tunnel: "${host}:0", peer: "${host}:0", tcp_ports: "${port}"}
peers: [${peers.map((p) => `"${p}"`).join(', ')}]
cluster_secret: ${CLUSTER_SECRET}
presence_profile: local
accounts: [{name: acme, authtokens: [tok_acme]}]
`;
    const eu = await startL4Edge('edge-l4-eu', yaml('eu', '127.0.0.1', []));
    const us = await startL4Edge('edge-l4-us', yaml('us', '127.0.0.2', [eu.peer!]));
    echo = await startEchoServer();
    await startL4Agent('agent-l4-eu', 'tcp', echo.port, `tcp://db.example.com:${port}`, eu.tunnel);
    const payload = patternBytes(4 * MiB);
    await eventually(
      'the us edge serves the eu agent',
      async () => {
        const r = await exchange(await tcpConnect(port, '127.0.0.2'), 'probe', 3_000);
        return r.data.toString() === 'probe';
      },
      15_000,
      100,
    );
    const r = await exchange(await tcpConnect(port, '127.0.0.2'), payload, 60_000);
    assert.equal(r.ended, true);
    assert.equal(sha256(r.data), sha256(payload));
    const open = JSON.parse(await us.proc.waitLine((l) => l.includes('"connection open"'), 5_000));
    assert.equal(open.url, `tcp://db.example.com:${port}`);
  });
});
