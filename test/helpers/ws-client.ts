/**
 * A tiny WebSocket client for tests that need a custom Host header (browsers' and undici's
 * clients refuse to set it): raw handshake over TCP, masked text frames out, frames in.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface WsConn {
  status: number;
  headers: string;
  send(text: string): void;
  /** Resolves with the next text message. */
  next(timeoutMs?: number): Promise<string>;
  close(): void;
}

export function wsConnect(addr: string, host: string, path: string, timeoutMs = 10_000): Promise<WsConn> {
  const [h, p] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: h, port: p });
    const timer = setTimeout(() => (sock.destroy(), reject(new Error('websocket handshake timeout'))), timeoutMs);
    let buf = Buffer.alloc(0);
    let open = false;
    const messages: string[] = [];
    const waiters: Array<(s: string) => void> = [];
    sock.on('error', (e) => reject(e));
    sock.on('connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${randomBytes(16).toString('base64')}\r\nsec-websocket-version: 13\r\n\r\n`);
    });
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        open = true;
        clearTimeout(timer);
        const status = Number(head.split(' ')[1]);
        resolve({
          status,
          headers: head,
          send(text) {
            const payload = Buffer.from(text);
            const mask = randomBytes(4);
            const len = payload.length;
            const hdr = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]) : (() => {
              const b = Buffer.alloc(10);
              b[0] = 0x81;
              b[1] = 0x80 | 127;
              b.writeBigUInt64BE(BigInt(len), 2);
              return b;
            })();
            for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
            sock.write(Buffer.concat([hdr, mask, payload]));
          },
          next(ms = 10_000) {
            if (messages.length) return Promise.resolve(messages.shift()!);
            return new Promise((res, rej) => {
              const t = setTimeout(() => rej(new Error('no websocket message')), ms);
              waiters.push((s) => (clearTimeout(t), res(s)));
            });
          },
          close() {
            sock.destroy();
          },
        });
      }
      for (;;) {
        if (buf.length < 2) return;
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
        if (buf.length < off + len) return;
        const text = buf.subarray(off, off + len).toString();
        buf = buf.subarray(off + len);
        const w = waiters.shift();
        if (w) w(text);
        else messages.push(text);
      }
    });
  });
}
