/**
 * Reads a response body whole, for the few places that must (http-request side calls,
 * response-body-find-replace), giving up — and destroying the stream, so its upstream stops —
 * once it grows past `limit` bytes. A stream that closes before its end is an error.
 */
import type { Readable } from 'node:stream';

export function readAtMost(body: Readable, limit: number): Promise<Buffer | 'too-large' | Error> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: Buffer | 'too-large' | Error) => {
      if (done) return;
      done = true;
      body.off('data', onData);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        finish('too-large');
        body.destroy();
        return;
      }
      chunks.push(c);
    };
    body.on('data', onData);
    body.once('end', () => finish(Buffer.concat(chunks, size)));
    body.once('error', (e) => finish(e));
    body.once('close', () => finish(new Error('the response body ended early')));
  });
}
