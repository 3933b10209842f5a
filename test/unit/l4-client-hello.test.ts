import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { MeshgateError } from '../../services/core/errors.js';
import { MAX_CLIENT_HELLO, parseClientHello, readClientHello } from '../../services/edge/l4/client-hello.js';

/** The first bytes Node's TLS client sends (a real ClientHello), captured on a loopback socket. */
async function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        s.destroy();
        server.close();
        resolve(d);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
      c.on('error', () => {});
      setTimeout(() => reject(new Error('no ClientHello captured')), 5_000).unref();
    });
  });
}

/** A ClientHello record built by hand: body fields given, extensions as [type, data]. */
function helloRecord(extensions: Array<[number, Buffer]> | null, o: { recordType?: number; hsType?: number; sessionId?: number } = {}): Buffer {
  const ext = extensions === null ? Buffer.alloc(0) : Buffer.concat(extensions.map(([t, d]) => Buffer.concat([u16(t), u16(d.length), d])));
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([o.sessionId ?? 0]),
    Buffer.alloc(o.sessionId ?? 0, 1),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    extensions === null ? Buffer.alloc(0) : Buffer.concat([u16(ext.length), ext]),
  ]);
  const hs = Buffer.concat([Buffer.from([o.hsType ?? 1, 0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([o.recordType ?? 22, 3, 1]), u16(hs.length), hs]);
}

function sni(name: string, type = 0): Buffer {
  const n = Buffer.from(name, 'latin1');
  const entry = Buffer.concat([Buffer.from([type]), u16(n.length), n]);
  return Buffer.concat([u16(entry.length), entry]);
}

function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff]);
}

/** Re-frames the handshake of a one-record hello into records of at most `size` bytes. */
function fragment(record: Buffer, size: number): Buffer {
  const hs = record.subarray(5);
  const out: Buffer[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const part = hs.subarray(i, i + size);
    out.push(Buffer.concat([Buffer.from([22, 3, 3]), u16(part.length), part]));
  }
  return Buffer.concat(out);
}

describe('TLS ClientHello SNI parser', () => {
  let real: Buffer;
  let realNoSni: Buffer;
  before(async () => {
    real = await captureClientHello({ servername: 'Db.Example.com' });
    realNoSni = await captureClientHello({});
  });

  it("reads the server name of a real ClientHello, lower-cased", () => {
    const r = parseClientHello(real);
    assert.deepEqual(r, { status: 'ok', sni: 'db.example.com', bytes: real.length });
  });

  it('reports a ClientHello without server_name as ok with no SNI', () => {
    const r = parseClientHello(realNoSni);
    assert.equal(r.status, 'ok');
    assert.equal(r.status === 'ok' && r.sni, undefined);
    assert.deepEqual(parseClientHello(helloRecord(null)), { status: 'ok', sni: undefined, bytes: helloRecord(null).length });
  });

  it('says incomplete for every truncated prefix, never ok or invalid', () => {
    for (let i = 0; i < real.length; i++) assert.equal(parseClientHello(real.subarray(0, i)).status, 'incomplete', `prefix of ${i} bytes`);
  });

  it('reassembles a ClientHello fragmented over several records, and waits for every fragment', () => {
    for (const size of [1, 7, 64, 300]) {
      const f = fragment(real, size);
      assert.deepEqual(parseClientHello(f), { status: 'ok', sni: 'db.example.com', bytes: f.length }, `fragments of ${size}`);
      assert.equal(parseClientHello(f.subarray(0, f.length - 1)).status, 'incomplete');
    }
  });

  it('refuses what is not a ClientHello', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'), /not a TLS handshake record/],
      ['an application data record', helloRecord([[0, sni('a.example.com')]], { recordType: 23 }), /not a TLS handshake record/],
      ['another handshake message', helloRecord([[0, sni('a.example.com')]], { hsType: 2 }), /not a ClientHello/],
      ['an SSLv2-style first byte', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), /not a TLS handshake record/],
      ['a zero-length record', Buffer.from([22, 3, 1, 0, 0]), /bad TLS record length 0/],
      ['an oversize record', Buffer.from([22, 3, 1, 0x48, 0x01]), /bad TLS record length/],
      ['a record version that is not 3.x', Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0]), /unknown TLS record version/],
      ['a huge ClientHello', Buffer.from([22, 3, 1, 0, 4, 1, 0x7f, 0xff, 0xff]), /larger than/],
      ['a server name with a NUL', helloRecord([[0, sni('a\0.example.com')]]), /not a host name/],
      ['an empty server name', helloRecord([[0, sni('')]]), /server name of 0 bytes/],
      ['a server_name list length that lies', helloRecord([[0, Buffer.from([0, 9, 0, 0, 1, 0x61])]]), /malformed server_name/],
    ];
    for (const [what, buf, re] of cases) {
      const r = parseClientHello(buf);
      assert.equal(r.status, 'invalid', `${what}: ${JSON.stringify(r)}`);
      assert.match(r.status === 'invalid' ? r.reason : '', re, what);
    }
    // lengths inside the body that run past its end
    const body = helloRecord([[0, sni('a.example.com')]]);
    body[5 + 4 + 2 + 32] = 40; // session id longer than the rest
    assert.equal(parseClientHello(body).status, 'invalid');
  });

  it('skips other extensions and name types to find the host_name', () => {
    const r = parseClientHello(helloRecord([[16, Buffer.from([0, 3, 2, 0x68, 0x32])], [0, Buffer.concat([u16(13), Buffer.from([1, 0, 2, 0x61, 0x62]), Buffer.from([0, 0, 5]), Buffer.from('x.com')])]]));
    assert.deepEqual(r.status === 'ok' && r.sni, 'x.com');
  });

  it('never throws on garbage or on a real ClientHello with bytes flipped', () => {
    let x = 42;
    const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x);
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(real);
      for (let k = 0; k < 1 + (rnd() % 4); k++) b[rnd() % b.length] = rnd() & 0xff;
      const r = parseClientHello(b.subarray(0, rnd() % (b.length + 1)));
      assert.ok(['ok', 'invalid', 'incomplete'].includes(r.status));
      const g = Buffer.alloc(rnd() % 600);
      for (let k = 0; k < g.length; k++) g[k] = rnd() & 0xff;
      if (g.length > 0 && rnd() % 2) g[0] = 22;
      assert.ok(['ok', 'invalid', 'incomplete'].includes(parseClientHello(g).status));
    }
    assert.ok(MAX_CLIENT_HELLO >= 16 * 1024);
  });

  describe('reading from a socket', () => {
    const pair = (): Promise<{ server: net.Socket; client: net.Socket; close(): void }> =>
      new Promise((resolve) => {
        const srv = net.createServer({ pauseOnConnect: true }, (server) => {
          server.on('error', () => {});
          resolve({ server, client, close: () => (server.destroy(), client.destroy(), srv.close()) });
        });
        let client: net.Socket;
        srv.listen(0, '127.0.0.1', () => {
          client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
          client.on('error', () => {});
        });
      });

    it('resolves with the SNI and every byte read, in pieces', async () => {
      const p = await pair();
      const read = readClientHello(p.server, 2_000);
      p.client.write(real.subarray(0, 10));
      setTimeout(() => p.client.write(real.subarray(10)), 20);
      const r = await read;
      assert.equal(r.sni, 'db.example.com');
      assert.ok(r.bytes.equals(real));
      assert.equal(p.server.isPaused(), true);
      p.close();
    });

    const refusal = async (send: (c: net.Socket) => void, re: RegExp) => {
      const p = await pair();
      const read = readClientHello(p.server, 150);
      send(p.client);
      await assert.rejects(read, (e: unknown) => e instanceof MeshgateError && e.code === 'MG_TLS_CLIENT_HELLO_INVALID' && re.test(e.message));
      p.close();
    };

    it('refuses a silent client after the timeout, garbage, a hello without SNI and an early close', async () => {
      await refusal(() => {}, /no ClientHello within 150 ms/);
      await refusal((c) => c.write('SSH-2.0-OpenSSH_9.6\r\n'), /not a TLS handshake record/);
      await refusal((c) => c.write(realNoSni), /names no server \(SNI\)/);
      await refusal((c) => c.end(real.subarray(0, 20)), /closed the connection before its ClientHello/);
    });
  });
});
