/**
 * An upstream for tests that records what reaches it: an HTTP server in the test process (a
 * real socket on loopback) that counts and hashes every request body and keeps the head of
 * each request, and answers
 *   /big/N        N bytes of a fixed pattern (`patternBytes`), streamed
 *   anything else JSON {method, url, bytes, sha256, replayOf} with the status of `x-status`
 *                 (default 200)
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  /** The first 4 KiB of the body as UTF-8. */
  head: string;
}

export interface RecordingUpstream {
  port: number;
  seen: Seen[];
  /** Waits (bounded) for a request matching `test`. */
  waitFor(test: (s: Seen) => boolean, timeoutMs?: number): Promise<Seen>;
  close(): Promise<void>;
}

const PATTERN = Buffer.from(Array.from({ length: 65_536 }, (_, i) => i % 251));

/** The body `/big/N` sends, produced in 64 KiB chunks. */
export function* patternBytes(n: number): Generator<Buffer> {
  for (let sent = 0; sent < n; sent += PATTERN.length) yield n - sent >= PATTERN.length ? PATTERN : PATTERN.subarray(0, n - sent);
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const seen: Seen[] = [];
  const waiters: Array<{ test: (s: Seen) => boolean; resolve: (s: Seen) => void }> = [];
  const server = http.createServer((req, res) => {
    const h = createHash('sha256');
    let bytes = 0;
    const head: Buffer[] = [];
    let headBytes = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      bytes += c.length;
      if (headBytes < 4096) {
        head.push(c.subarray(0, 4096 - headBytes));
        headBytes += Math.min(c.length, 4096 - headBytes);
      }
    });
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes, sha256: h.digest('hex'), head: Buffer.concat(head).toString('utf8') };
      seen.push(s);
      for (const w of [...waiters]) if (w.test(s)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(s));
      const big = /^\/big\/(\d+)/.exec(s.url);
      if (big) {
        const n = Number(big[1]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
        const it = patternBytes(n);
        const pump = () => {
          for (;;) {
            const next = it.next();
            if (next.done) return void res.end();
            if (!res.write(next.value)) return void res.once('drain', pump);
          }
        };
        pump();
        return;
      }
      const body = JSON.stringify({ method: s.method, url: s.url, bytes, sha256: s.sha256, replayOf: req.headers['meshgate-replay-of'] ?? null });
      res.writeHead(Number(req.headers['x-status'] ?? 200) || 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    waitFor(test, timeoutMs = 10_000) {
      const hit = seen.find(test);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { test, resolve: (s: Seen) => (clearTimeout(t), resolve(s)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`the upstream got no matching request within ${timeoutMs} ms (saw ${seen.map((x) => `${x.method} ${x.url}`).join(', ')})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
