/**
 * releaseWhenClosed (services/tunnel/release-stream.ts) on real HTTP/2 streams over loopback:
 * once a stream has closed, what its listeners captured (the request it carried) is no longer
 * reachable through it, though the stream object itself still is; a late write to it does not
 * become an uncaught error.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { releaseWhenClosed } from '../../services/tunnel/release-stream.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What a proxy's listeners close over: stands for the exchange, the client's response, spans. */
class RequestState {
  readonly payload = Buffer.alloc(64 * 1024);
}

function closed(s: http2.Http2Stream): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));
}

describe('releaseWhenClosed (HTTP/2 streams)', function () {
  this.timeout(10_000);
  let server: http2.Http2Server;
  let client: http2.ClientHttp2Session;
  let serverStreams: http2.ServerHttp2Stream[];
  let serverStates: WeakRef<RequestState>[];
  let release: boolean;

  beforeEach(async () => {
    serverStreams = [];
    serverStates = [];
    server = http2.createServer();
    server.on('stream', (stream) => {
      serverStreams.push(release ? releaseWhenClosed(stream) : stream);
      const state = new RequestState();
      serverStates.push(new WeakRef(state));
      stream.on('data', () => state.payload.length);
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  afterEach(async () => {
    client.destroy();
    await new Promise((r) => server.close(r));
  });

  /** One request whose listeners on both ends capture a RequestState; returns the streams (still referenced) and weak refs to both states. */
  async function exchange(): Promise<{ streams: http2.Http2Stream[]; states: WeakRef<RequestState>[] }> {
    const state = new RequestState();
    const req = client.request({ ':method': 'POST', ':path': '/' });
    if (release) releaseWhenClosed(req);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      state.payload[0] = 1;
    });
    req.on('close', () => state.payload.length);
    req.end('hello');
    await closed(req);
    const up = serverStreams.at(-1)!;
    await closed(up);
    assert.equal(body, 'ok');
    return { streams: [req, up], states: [new WeakRef(state), serverStates.at(-1)!] };
  }

  it('a closed stream keeps nothing its listeners captured, both ends', async () => {
    release = true;
    const { streams, states } = await exchange();
    await new Promise((r) => setImmediate(r));
    for (const s of streams) {
      assert.equal(s.listenerCount('data'), 0);
      assert.equal(s.listenerCount('close'), 0);
      assert.equal(s.listenerCount('error'), 1, 'one no-op error listener stays');
    }
    gc();
    assert.deepEqual(states.map((w) => w.deref()), [undefined, undefined], 'both request states were collected while their streams are still referenced');
    assert.ok(streams.every((s) => s.closed));
  });

  it('without it, the same closed stream keeps the request state alive (the control)', async () => {
    release = false;
    const { streams, states } = await exchange();
    await new Promise((r) => setImmediate(r));
    gc();
    assert.ok(states.every((w) => w.deref() instanceof RequestState));
    assert.ok(streams[0]!.listenerCount('data') > 0);
  });

  it('a late write to a released, closed stream fails through its callback, not as an uncaught error', async () => {
    release = true;
    const { streams } = await exchange();
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const late = new Promise<Error | null | undefined>((r) => streams[0]!.write('late', (e) => r(e)));
      const err = await late;
      assert.ok(err instanceof Error, 'the write callback names the failure');
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(uncaught, []);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
