import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { FrameDecoder, MAX_FRAME_BYTES, TUNNEL_MAGIC, encodeFrame, readPreamble } from '../../services/tunnel/wire.js';
import { MeshgateError } from '../../services/core/errors.js';
import { Hello } from '../../services/gen/tunnel.js';

describe('tunnel wire framing', () => {
  it('splits length-prefixed frames however the bytes are chunked', () => {
    const frames = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7)];
    const wire = Buffer.concat(frames.map(encodeFrame));
    for (const step of [1, 3, 4096, wire.length]) {
      const d = new FrameDecoder();
      const out: Buffer[] = [];
      for (let i = 0; i < wire.length; i += step) out.push(...d.push(wire.subarray(i, i + step)));
      assert.deepEqual(out.map((b) => b.length), [1, 0, 70_000], `step ${step}`);
    }
  });

  it('refuses frames larger than the limit', () => {
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(MAX_FRAME_BYTES + 1);
    assert.throws(() => new FrameDecoder().push(hdr), (e: unknown) => e instanceof MeshgateError && e.code === 'MG_TUNNEL_PROTOCOL');
  });

  it('reads the magic and one Hello, leaving the following bytes in the stream', async () => {
    const s = new PassThrough();
    const hello = Hello.encode({ authtoken: 'tok', agentVersion: '1', hostname: 'h', previousSessionId: '' }).finish();
    s.write(Buffer.concat([TUNNEL_MAGIC, encodeFrame(hello), Buffer.from('PRI * HTTP/2.0')]));
    const frame = await readPreamble(s, TUNNEL_MAGIC, 1000);
    assert.equal(Hello.decode(frame).authtoken, 'tok');
    assert.equal((s.read() as Buffer).toString(), 'PRI * HTTP/2.0');
  });

  it('rejects a connection that does not start with the magic', async () => {
    const s = new PassThrough();
    s.write('GET / HTTP/1.1\r\n\r\n');
    await assert.rejects(readPreamble(s, TUNNEL_MAGIC, 1000), /bad magic/);
  });

  it('times out a silent connection', async () => {
    await assert.rejects(readPreamble(new PassThrough(), TUNNEL_MAGIC, 50), /no handshake within 50 ms/);
  });
});
