/**
 * The agent tunnel's wire format (see proto/tunnel.proto for the full picture).
 *
 * Why reverse HTTP/2 over the agent's dialed socket: the agent only makes an outbound connection
 * (works behind NAT and firewalls), and HTTP/2 then gives us, from node's core, everything a tunnel
 * needs: many concurrent streams on one connection, per-stream flow control (so a slow client
 * slows its own upstream and nobody else's), header compression, PING for liveness and GOAWAY
 * for draining. A hand-written multiplexer in JS would be more code and slower.
 */
import type { Duplex } from 'node:stream';
import { MeshgateError } from '../core/errors.js';

/** First bytes an agent writes on a new connection. */
export const TUNNEL_MAGIC = Buffer.from('MGTUN/1\n', 'latin1');
/** Largest length-prefixed frame accepted (a Traffic Policy travels in one). */
export const MAX_FRAME_BYTES = 1 << 20;
/** Path of the control stream the edge opens first on every session. */
export const CONTROL_PATH = '/meshgate.tunnel.v1/control';

/** Request header naming the endpoint a proxied stream is for (set by the edge, removed by the agent). */
export const ENDPOINT_ID_HEADER = 'meshgate-endpoint-id';
/** Request header carrying the client's `Upgrade` value (HTTP/2 forbids `upgrade` itself). */
export const UPGRADE_HEADER = 'meshgate-upgrade';
/** Response header with the upstream's real status for an upgrade (101 when it switched). */
export const UPGRADE_STATUS_HEADER = 'meshgate-upgrade-status';
/**
 * Request header marking a raw L4 stream (`tcp` or `tls`, the endpoint's scheme) for a tcp:// or
 * tls:// endpoint: the agent connects to its upstream, answers 200 once connected (or an error
 * response naming the code), then both directions carry the connection's bytes; END_STREAM is a
 * half-close, RST_STREAM an abort.
 */
export const L4_HEADER = 'meshgate-l4';

/**
 * HTTP/2 settings for both ends of a tunnel: large windows so a single stream can move bulk
 * data at full speed, while flow control still bounds what is buffered per stream.
 */
export const TUNNEL_H2_SETTINGS = {
  initialWindowSize: 4 << 20,
  maxConcurrentStreams: 10_000,
  maxHeaderListSize: 1 << 20,
  enablePush: false,
} as const;
/** Connection-level window (bytes) set on both ends with `session.setLocalWindowSize`. */
export const TUNNEL_CONNECTION_WINDOW = 32 << 20;

/** Length-prefixes one encoded message: 4-byte big-endian length, then the bytes. */
export function encodeFrame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + msg.length);
  out.writeUInt32BE(msg.length, 0);
  out.set(msg, 4);
  return out;
}

/** Splits a byte stream into length-prefixed frames. Throws MG_TUNNEL_PROTOCOL on oversize frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0) as Buffer;

  /** Adds bytes; returns every frame now complete (possibly none). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) {
        throw new MeshgateError('MG_TUNNEL_PROTOCOL', { detail: `frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}` });
      }
      if (this.buf.length < 4 + len) break;
      frames.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}

/**
 * Reads `prefix` (if given) and then exactly one length-prefixed frame from a socket that has
 * not been read yet, without consuming anything after it: surplus bytes are pushed back with
 * `unshift` so HTTP/2 can take over the socket. Rejects with MG_TUNNEL_PROTOCOL on a wrong
 * prefix, an oversize frame, early close or timeout.
 */
export function readPreamble(socket: Duplex, prefix: Buffer | null, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const fail = (detail: string) => {
      cleanup();
      reject(new MeshgateError('MG_TUNNEL_PROTOCOL', { detail }));
    };
    const timer = setTimeout(() => fail(`no handshake within ${timeoutMs} ms`), timeoutMs);
    const onEnd = () => fail('connection closed during handshake');
    const onError = (e: Error) => fail(`socket error during handshake: ${e.message}`);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    const need = (prefix?.length ?? 0) + 4;
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      }
      if (prefix && buf.length >= prefix.length && !buf.subarray(0, prefix.length).equals(prefix)) {
        return fail('not a meshgate tunnel connection (bad magic)');
      }
      if (buf.length < need) return;
      const len = buf.readUInt32BE(need - 4);
      if (len > MAX_FRAME_BYTES) return fail(`handshake frame of ${len} bytes is too large`);
      if (buf.length < need + len) return;
      const frame = buf.subarray(need, need + len);
      const rest = buf.subarray(need + len);
      cleanup();
      if (rest.length > 0) socket.unshift(rest);
      resolve(frame);
    };
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    onReadable();
  });
}
