/**
 * Reference target for the proxy bench: the bare proxy the perf baseline calls its ceiling — a
 * `node:http` server forwarding every request through an undici `Pool.dispatch` with a raw
 * handler (streaming both ways, hop-by-hop headers stripped, unlimited pooled keep-alive
 * upstream connections, no logging). No routing, policy or tunnel: what any Node proxy pays.
 *
 * Usage: node dist/test/bench/undici-proxy.js <upstream-port>
 * Listens on 127.0.0.1:0 and prints one JSON line with "msg":"ready" and its listener on stderr.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

const upstreamPort = Number(process.argv[2]);
if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  process.stderr.write('usage: undici-proxy <upstream-port>\n');
  process.exit(2);
}
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { keepAliveTimeout: 300_000 });

/** Request headers for the upstream: flat [name, value, ...] without hop-by-hop ones. */
function requestHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** Legacy (raw) undici handler: undici 7 still calls these natively; the new API is wrapped. */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private resume: (() => void) | null = null;
  private abort: ((err?: Error) => void) | null = null;

  constructor(private readonly res: ServerResponse) {
    res.on('drain', () => this.resume?.());
    res.once('close', () => { if (!res.writableFinished) this.abort?.(); });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: wait for the final response
    this.resume = resume;
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, raw[i + 1]!.toString('latin1'));
    }
    this.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.res.end();
  }

  onError(err: Error): void {
    if (this.res.headersSent) {
      this.res.destroy(err);
    } else {
      this.res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway\n');
    }
  }
}

function proxy(req: IncomingMessage, res: ServerResponse): void {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch(
    {
      method: req.method as Dispatcher.HttpMethod,
      path: req.url ?? '/',
      headers: requestHeaders(req.rawHeaders),
      body: hasBody ? req : null,
    },
    new ProxyHandler(res),
  );
}

const server = createServer({ keepAliveTimeout: 300_000 }, proxy);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'ready', listeners: { http: `127.0.0.1:${port}` } })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close().finally(() => process.exit(0));
});
