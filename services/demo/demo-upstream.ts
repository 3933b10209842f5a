/**
 * `meshgate demo-upstream`: a small httpbin-like service for the demo and the tests. Every
 * answer names the replica (`replica` in JSON, `x-replica` header) so balancing is visible.
 *
 *   GET  /get, /headers, /anything/*   echo method, path, query, headers, client
 *   POST /post, /anything/*            echo as above plus the body (first 64 KiB) and its size
 *                                      and sha256 (streamed: any size, constant memory)
 *   GET  /status/N                     answer with status N
 *   GET  /delay/S                      answer after S seconds (max 60)
 *   GET  /bytes/N                      stream N bytes (max 10 GiB) of a fixed pattern
 *   GET  /ws                           WebSocket echo (text and binary)
 *
 * Any request may script its answer (for tests of response-phase policies): `x-demo-status: N`
 * sets the status, each `x-demo-header: name: value` adds a response header, `x-demo-body: text`
 * replaces the JSON body with that text (text/plain unless an x-demo-header sets content-type).
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

const ECHO_BODY_LIMIT = 64 * 1024;

export interface DemoUpstreamOptions {
  host: string;
  port: number;
  name: string;
}

export function createDemoUpstream(name: string): http.Server {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const scripted = Number(req.headers['x-demo-status']) || 0;
    const extra: Array<[string, string]> = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i].toLowerCase() !== 'x-demo-header') continue;
      const v = req.rawHeaders[i + 1];
      const c = v.indexOf(':');
      if (c > 0) extra.push([v.slice(0, c).trim(), v.slice(c + 1).trim()]);
    }
    const scriptedBody = req.headers['x-demo-body'];
    const send = (status: number, body: unknown) => {
      const text = typeof scriptedBody === 'string' ? scriptedBody : JSON.stringify(body, null, 2) + '\n';
      const type = typeof scriptedBody === 'string' ? 'text/plain' : 'application/json';
      const own = extra.some(([k]) => k.toLowerCase() === 'content-type');
      const headers: Array<[string, string]> = [...(own ? [] : [['content-type', type] as [string, string]]), ['content-length', String(Buffer.byteLength(text))], ['x-replica', name], ...extra];
      res.writeHead(scripted >= 100 && scripted <= 599 ? scripted : status, headers.flat());
      res.end(text);
    };
    const echo = () => ({
      replica: name,
      method: req.method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      client: req.socket.remoteAddress,
    });
    let m: RegExpExecArray | null;
    if ((m = /^\/status\/(\d{3})$/.exec(path))) {
      const status = Number(m[1]);
      req.resume();
      return send(status, { replica: name, status });
    }
    if ((m = /^\/delay\/(\d+(?:\.\d+)?)$/.exec(path))) {
      req.resume();
      const t = setTimeout(() => send(200, { ...echo(), delayed: Number(m![1]) }), Math.min(60, Number(m[1])) * 1000);
      res.on('close', () => clearTimeout(t));
      return;
    }
    if ((m = /^\/bytes\/(\d+)$/.exec(path))) {
      req.resume();
      return streamBytes(res, Math.min(Number(m[1]), 10 * 2 ** 30), name);
    }
    if (path === '/post' || path === '/put' || path === '/patch' || path.startsWith('/anything') || (req.method !== 'GET' && req.method !== 'HEAD')) {
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        if (size < ECHO_BODY_LIMIT) kept.push(c.subarray(0, ECHO_BODY_LIMIT - size));
        size += c.length;
      });
      req.on('end', () => {
        const data = Buffer.concat(kept).toString('utf8');
        send(200, { ...echo(), body: { size, sha256: hash.digest('hex'), data, truncated: size > ECHO_BODY_LIMIT } });
      });
      return;
    }
    req.resume();
    if (path === '/headers') return send(200, { replica: name, headers: req.headers });
    return send(200, echo());
  });
  server.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith('/ws') || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    acceptWebSocket(req, socket, head, name);
  });
  return server;
}

function streamBytes(res: http.ServerResponse, total: number, name: string): void {
  const chunk = Buffer.alloc(64 * 1024, 'meshgate-');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total, 'x-replica': name });
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('close', () => (left = 0));
  pump();
}

/** Minimal RFC 6455 echo: handshake, then every data frame is sent back unmasked. */
function acceptWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, name: string): void {
  const key = req.headers['sec-websocket-key'];
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  // the trace context it was called with, for whoever looks (as /headers shows it for HTTP)
  const seen = typeof req.headers.traceparent === 'string' ? `x-seen-traceparent: ${req.headers.traceparent}\r\n` : '';
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\nx-replica: ${name}\r\n${seen}\r\n`);
  let buf = head.length ? Buffer.from(head) : Buffer.alloc(0);
  const onData = (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskOff = off;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskOff + (i & 3)];
      buf = buf.subarray(off + len);
      if (op === 0x8) {
        socket.end(frame(0x8, payload));
        return;
      }
      if (op === 0x9) socket.write(frame(0xa, payload));
      else if (op === 0x1 || op === 0x2) socket.write(frame(op, payload));
    }
  };
  socket.on('data', onData);
  // a client gone without a close frame (its FIN came through the gateway): close our side too
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
  if (buf.length) onData(Buffer.alloc(0));
}

function frame(op: number, payload: Buffer): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? Buffer.from([0x80 | op, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    hdr[0] = 0x80 | op;
    hdr[1] = 126;
    hdr.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    hdr[0] = 0x80 | op;
    hdr[1] = 127;
    hdr.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([hdr, payload]);
}
