/**
 * Helpers for tcp:// and tls:// endpoint tests: free ports for listen.tcp_ports, in-process TCP
 * and TLS upstreams (echo, or naming themselves), agents for tcp/tls endpoints, and clients that
 * send bytes, half-close and read everything back. Every wait is bounded.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { meshgate, type Proc } from './procs.js';

/** `n` ports free on every host given right now (bound once, then released). */
export async function freePorts(n: number, hosts = ['127.0.0.1']): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, hosts[0], () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    let ok = !out.includes(port);
    for (const h of hosts.slice(1)) {
      if (!ok) break;
      ok = await new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, h, () => s.close(() => resolve(true)));
      });
    }
    if (ok) out.push(port);
  }
  return out;
}

export interface TestServer {
  port: number;
  /** Plaintext each connection received, in order (closed connections too). */
  received: Buffer[];
  /** Number of connections accepted. */
  connections: number;
  /** Sockets currently open. */
  open: Set<net.Socket>;
  close(): Promise<void>;
}

/**
 * A TCP upstream: optionally writes `greeting` first, then echoes every byte and half-closes
 * when the client does (allowHalfOpen). With `tlsOptions` it is a TLS server doing the same.
 */
export function startEchoServer(opts: { greeting?: string; tlsOptions?: tls.TlsOptions } = {}): Promise<TestServer> {
  const state: TestServer = { port: 0, received: [], connections: 0, open: new Set(), close: async () => {} };
  const onConn = (c: net.Socket) => {
    state.connections++;
    state.open.add(c);
    const i = state.received.push(Buffer.alloc(0)) - 1;
    c.on('error', () => {});
    c.on('close', () => state.open.delete(c));
    c.on('data', (d: Buffer) => {
      if (state.received[i].length < 1 << 20) state.received[i] = Buffer.concat([state.received[i], d]);
    });
    if (opts.greeting) c.write(opts.greeting);
    c.pipe(c);
  };
  const server = opts.tlsOptions ? tls.createServer({ ...opts.tlsOptions, allowHalfOpen: true }, onConn) : net.createServer({ allowHalfOpen: true }, onConn);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      state.port = (server.address() as net.AddressInfo).port;
      state.close = () =>
        new Promise<void>((r) => {
          for (const s of state.open) s.destroy();
          server.close(() => r());
        });
      resolve(state);
    });
  });
}

/** Starts `meshgate agent tcp|tls <upstreamPort> --url URL ...`; resolves on its ready line. */
export async function startL4Agent(name: string, kind: 'tcp' | 'tls', upstreamPort: number, url: string, edgeTunnel: string, extra: string[] = []): Promise<Proc> {
  const proc = meshgate(name, ['agent', kind, String(upstreamPort), '--url', url, '--edge', edgeTunnel, '--authtoken', 'tok_acme', ...extra]);
  await proc.ready();
  return proc;
}

export interface Exchanged {
  /** Everything read until the server ended (or the connection closed). */
  data: Buffer;
  /** The server ended its direction cleanly (FIN) rather than a reset/error. */
  ended: boolean;
  error?: string;
}

/**
 * Writes `payload` on `sock` (already connected), half-closes, and reads until the other side
 * ends or the connection closes; bounded by `timeoutMs`.
 */
export function exchange(sock: net.Socket, payload: Buffer | string, timeoutMs = 20_000): Promise<Exchanged> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    const t = setTimeout(() => {
      error = 'timeout';
      sock.destroy();
    }, timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => (ended = true));
    sock.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    sock.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(chunks), ended, error });
    });
    sock.end(payload);
  });
}

/** Connects a plain TCP client (allowHalfOpen, so it can read after its own FIN). */
export function tcpConnect(port: number, host = '127.0.0.1', timeoutMs = 5_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, allowHalfOpen: true });
    const t = setTimeout(() => (s.destroy(), reject(new Error(`connect ${host}:${port} timed out`))), timeoutMs);
    s.once('connect', () => (clearTimeout(t), resolve(s)));
    s.once('error', (e) => (clearTimeout(t), reject(e)));
  });
}

/**
 * Connects and exchanges; a connection the edge resets before the client saw it connected (a
 * refused connection can be that quick) counts as an exchange with no data.
 */
export async function tryExchange(port: number, payload: Buffer | string, host = '127.0.0.1'): Promise<Exchanged> {
  let sock: net.Socket;
  try {
    sock = await tcpConnect(port, host);
  } catch (e) {
    return { data: Buffer.alloc(0), ended: false, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
  return exchange(sock, payload);
}

/** Connects a TLS client; rejects with the handshake error (e.g. an alert from the edge). */
export function tlsConnect(port: number, opts: tls.ConnectionOptions, timeoutMs = 5_000): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', allowHalfOpen: true, ...opts } as tls.ConnectionOptions);
    const t = setTimeout(() => (s.destroy(), reject(new Error('TLS handshake timed out'))), timeoutMs);
    s.once('secureConnect', () => (clearTimeout(t), resolve(s)));
    s.once('error', (e) => (clearTimeout(t), reject(e)));
    s.once('close', () => (clearTimeout(t), reject(new Error('closed during the handshake'))));
  });
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Deterministic pseudo-random bytes (so a corrupted or reordered chunk changes the hash). */
export function patternBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
