/**
 * Copying the first bytes of a body that streams past: the Traffic Inspector's full capture.
 *
 * `teeBody(src, copy)` returns a stream that yields exactly what `src` yields, chunk for chunk,
 * with backpressure (it is piped), and hands each chunk to `copy`, which keeps at most `limit`
 * bytes (copied out of the chunk, so a large chunk is never pinned) and counts the rest. Nothing
 * else is buffered: memory per body is `limit` plus the pipe's high-water marks.
 *
 * Ends and aborts cross in both directions, as the gateway's body consumers expect (to-agent.ts,
 * respond.ts): `src` closing before its end destroys the tee (so the consumer sees a body that
 * did not end), and the tee destroyed by its consumer (client gone) destroys `src` (so the
 * upstream is cancelled). Neither is destroyed with an error: an aborted body is a `close`
 * without `end`, never an unhandled 'error'.
 */
import { Transform, type Readable } from 'node:stream';

/** The kept head of a body and how much went by. */
export class BodyCopy {
  private readonly chunks: Buffer[] = [];
  /** Bytes kept (≤ limit). */
  kept = 0;
  /** Bytes seen in total. */
  size = 0;
  /** True once the body ended normally. */
  ended = false;

  constructor(readonly limit: number) {}

  /** A body known whole in advance (a string or buffered body). */
  static of(data: Buffer | string, limit: number): BodyCopy {
    const c = new BodyCopy(limit);
    c.add(typeof data === 'string' ? Buffer.from(data) : data);
    c.ended = true;
    return c;
  }

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    // Buffer.from(Buffer) copies: the kept bytes never hold on to the (larger) chunk.
    const part = Buffer.from(chunk.length <= room ? chunk : chunk.subarray(0, room));
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  /** The kept bytes as one buffer (joined once, on first use after the body ended). */
  bytes(): Buffer {
    if (this.chunks.length > 1 && this.ended) {
      const one = Buffer.concat(this.chunks, this.kept);
      this.chunks.length = 0;
      this.chunks.push(one);
      return one;
    }
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.kept);
  }
}

/** A stream yielding `src`'s chunks, copying their head into `copy` (see the top of this file). */
export function teeBody(src: Readable, copy: BodyCopy): Transform {
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      copy.add(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      copy.ended = true;
      cb();
    },
  });
  tee.on('error', () => {});
  src.on('error', () => tee.destroy());
  src.once('close', () => {
    if (!src.readableEnded) tee.destroy();
  });
  tee.once('close', () => {
    if (!src.readableEnded && !src.destroyed) src.destroy();
  });
  src.pipe(tee);
  return tee;
}
