/**
 * The console listener of an edge (`listen.console`): `/metrics` (Prometheus text), `/healthz`
 * (the process answers), `/readyz` (503 while starting or draining, so a load balancer stops
 * sending traffic before the edge stops), and whatever else registers a route (the Traffic
 * Inspector's page and JSON API). Plain node:http; every answer is small or streamed.
 */
import http from 'node:http';
import { listenOn, formatAddr } from '../core/listen.js';
import type { Logger } from '../core/log.js';

export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

interface Route {
  method: string;
  path: string | RegExp;
  handler: RouteHandler;
}

export type Readiness = 'starting' | 'ready' | 'draining';

export class ConsoleServer {
  private readonly routes: Route[] = [];
  private readonly server: http.Server;
  readiness: Readiness = 'starting';

  constructor(
    metrics: () => string,
    private readonly log: Logger,
  ) {
    this.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.dispatch(req, res));
    this.route('GET', '/healthz', (_req, res) => json(res, 200, { status: 'ok' }));
    this.route('GET', '/readyz', (_req, res) => json(res, this.readiness === 'ready' ? 200 : 503, { status: this.readiness }));
    this.route('GET', '/metrics', (_req, res) => {
      const body = metrics();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    });
  }

  /** Adds a route; `path` is exact, or a RegExp over the pathname. First match wins. */
  route(method: string, path: string | RegExp, handler: RouteHandler): void {
    this.routes.push({ method, path, handler });
  }

  async listen(host: string, port: number): Promise<string> {
    return formatAddr(await listenOn(this.server, host, port));
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  private dispatch(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://console');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    let pathMatched = false;
    for (const r of this.routes) {
      const hit = typeof r.path === 'string' ? r.path === url.pathname : r.path.test(url.pathname);
      if (!hit) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      Promise.resolve()
        .then(() => r.handler(req, res, url))
        .catch((e) => {
          this.log.error('console request failed', { path: url.pathname, err: e as Error });
          if (!res.headersSent) json(res, 500, { error: { code: 'MG_INTERNAL', message: (e as Error).message } });
          else res.destroy();
        });
      return;
    }
    if (pathMatched) json(res, 405, { error: { code: 'MG_REQUEST_INVALID', message: `${req.method} is not allowed on ${url.pathname}` } });
    else json(res, 404, { error: { code: 'MG_RESOURCE_NOT_FOUND', message: `no console page ${url.pathname}` } });
  }
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
