/*
 * Splicing two byte streams (a client connection and a tunnel stream, or a tunnel stream and an
 * upstream socket): bytes flow both ways with backpressure (pipe: a slow reader pauses the
 * writer on the other side, and HTTP/2 flow control carries that to the far end).
 *
 * Half-close: when one side ends its direction (FIN, END_STREAM), the other side's write
 * direction is ended too, and the opposite direction keeps flowing until it ends as well — both
 * sockets must be created with `allowHalfOpen: true`. Abort: an error, or one side closing before
 * both of its directions ended (RST, RST_STREAM, a dead agent session), aborts the other side at
 * once, so a cut connection never looks like a clean end to either peer.
 *
 * Used by the edge (client ↔ tunnel stream, edge/l4/) and the agent (tunnel stream ↔ upstream).
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface SpliceStats {
  /** Bytes read from `a` (and written to `b`). */
  aToB: number;
  bToA: number;
  /** Why it was aborted, when it was. */
  aborted?: string;
}

/**
 * Pipes `a` ↔ `b` until both directions ended (or one side aborted); then `done` is called once.
 * Both must be fresh (nothing piped yet); paused sockets are resumed by pipe.
 */
export function splice(a: Duplex, b: Duplex, done: (stats: SpliceStats) => void, names: readonly [string, string] = ['client', 'tunnel']): void {
  const stats: SpliceStats = { aToB: 0, bToA: 0 };
  let finished = false;
  let closedA = false;
  let closedB = false;
  const finish = () => {
    if (!finished && closedA && closedB) {
      finished = true;
      done(stats);
    }
  };
  const abort = (why: string) => {
    if (stats.aborted === undefined) stats.aborted = why;
    abortSide(a);
    abortSide(b);
  };
  a.on('data', (c: Buffer) => (stats.aToB += c.length));
  b.on('data', (c: Buffer) => (stats.bToA += c.length));
  a.on('error', (e: Error) => abort(`${names[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  b.on('error', (e: Error) => abort(`${names[1]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  a.on('close', () => {
    closedA = true;
    if (!cleanlyClosed(a)) abort(`${names[0]} closed early`);
    finish();
  });
  b.on('close', () => {
    closedB = true;
    if (!cleanlyClosed(b)) abort(`${names[1]} closed early`);
    finish();
  });
  // Ends are carried by hand: a stream destroyed with its session (a dead agent) also emits
  // 'end', and that must abort the other side, not look like a clean end of the data.
  a.on('end', () => (aborted(a) ? abort(`${names[0]} aborted`) : b.end()));
  b.on('end', () => (aborted(b) ? abort(`${names[1]} aborted`) : a.end()));
  a.pipe(b, { end: false });
  b.pipe(a, { end: false });
}

/** An HTTP/2 stream that ended because it was reset or destroyed, not by END_STREAM. */
function aborted(s: Duplex): boolean {
  return isHttp2Stream(s) && (s.destroyed || s.aborted || (s.rstCode !== undefined && s.rstCode !== http2.constants.NGHTTP2_NO_ERROR));
}

function isHttp2Stream(s: Duplex): s is http2.Http2Stream {
  return 'session' in s && 'rstCode' in s;
}

/** Both directions ended normally (and, for an HTTP/2 stream, no RST_STREAM with an error). */
function cleanlyClosed(s: Duplex): boolean {
  if (isHttp2Stream(s) && s.rstCode !== undefined && s.rstCode !== http2.constants.NGHTTP2_NO_ERROR) return false;
  return s.readableEnded && s.writableFinished;
}

/** Aborts one side the way its peer notices: RST_STREAM for a stream, TCP RST for a socket. */
export function abortSide(s: Duplex): void {
  if (s.destroyed) return;
  if (isHttp2Stream(s)) {
    s.close(http2.constants.NGHTTP2_CANCEL);
    return;
  }
  // a TCP RST, unless our FIN is already on its way (libuv refuses to reset a shut-down socket)
  if (s instanceof net.Socket && !('encrypted' in s) && !s.writableEnded) {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // not connected any more: a plain destroy does
    }
  }
  s.destroy();
}
