/**
 * The public listeners of an edge node: `listen.http` (HTTP/1.1) and `listen.https` (TLS with
 * HTTP/2 and HTTP/1.1 by ALPN). Both route by Host (port ignored) to a public pool; WebSocket
 * and other upgrades on HTTP/1.1 go through the same pipeline and are spliced end to end.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { errorBody, ERROR_HEADER } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { listenOn, type Listenable } from '../../core/listen.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import { exchangeFromRequest, type IngressInfo } from '../forward/exchange.js';
import { gatewayError, type GatewayResponse } from '../forward/gateway-response.js';
import type { Pipeline } from '../forward/pipeline.js';
import { writeResponse, writeUpgradeResponse } from './respond.js';
import { observeRequest } from '../observe/observe-request.js';
import type { RequestObservers } from '../observe/request-observers.js';
import type { EdgeTracer } from '../../telemetry/tracing.js';

/** Idle keep-alive timeout for client connections (ngrok: 5 min idle). */
const KEEP_ALIVE_TIMEOUT_MS = 300_000;
/** Largest request head accepted (ngrok: 1 MB). */
const MAX_HEADER_SIZE = 1 << 20;

export interface PublicListenerDeps {
  registry: EndpointRegistry;
  pipeline: Pipeline;
  region: string;
  log: Logger;
  /** Metrics, access events, inspector; absent = nothing observes requests (the fast path). */
  observers?: RequestObservers;
  /** Tracing; absent = off (requests carry no trace). */
  tracer?: EdgeTracer;
}

type AnyReq = http.IncomingMessage | http2.Http2ServerRequest;
type AnyRes = http.ServerResponse | http2.Http2ServerResponse;

function makeHandler(deps: PublicListenerDeps, info: IngressInfo) {
  const obs = deps.observers;
  const tracer = deps.tracer;
  /** The observed variant: same routing, but every answer goes through the observers. */
  const onObservedRequest = (req: AnyReq, res: AnyRes): void => {
    const x = exchangeFromRequest(req, info);
    if (x === null) return writeResponse(res, gatewayError('MG_REQUEST_INVALID', 'the request has no Host header'));
    if (tracer !== undefined) x.trace = tracer.ingress(x, req, res);
    const o = observeRequest(obs!, x, deps.region);
    o.watch(res);
    const pool = deps.registry.lookupPublic(info.scheme, x.req.host);
    if (!pool) return writeResponse(res, o.respond(gatewayError('MG_ENDPOINT_NOT_FOUND', `${info.scheme}://${x.req.host}`)));
    o.routed(pool);
    deps.pipeline.serve(pool, x).then(
      (g) => writeResponse(res, o.respond(g)),
      (e) => {
        deps.log.error('request failed', { reqId: x.id, traceId: x.trace?.traceId, err: e as Error });
        if (!res.headersSent) writeResponse(res, o.respond(gatewayError('MG_INTERNAL')));
        else destroy(res);
      },
    );
  };
  const onRequest = (req: AnyReq, res: AnyRes): void => {
    const x = exchangeFromRequest(req, info);
    if (x === null) return writeResponse(res, gatewayError('MG_REQUEST_INVALID', 'the request has no Host header'));
    if (tracer !== undefined) x.trace = tracer.ingress(x, req, res);
    const pool = deps.registry.lookupPublic(info.scheme, x.req.host);
    if (!pool) return writeResponse(res, gatewayError('MG_ENDPOINT_NOT_FOUND', `${info.scheme}://${x.req.host}`));
    deps.pipeline.serve(pool, x).then(
      (g) => writeResponse(res, g),
      (e) => {
        deps.log.error('request failed', { reqId: x.id, traceId: x.trace?.traceId, err: e as Error });
        if (!res.headersSent) writeResponse(res, gatewayError('MG_INTERNAL'));
        else destroy(res);
      },
    );
  };
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    const x = exchangeFromRequest(req, info, { socket, head });
    if (x !== null && tracer !== undefined) x.trace = tracer.ingress(x, req, undefined);
    const o = x !== null && obs !== undefined ? observeRequest(obs, x, deps.region) : undefined;
    o?.watch(socket);
    const answer = (g: GatewayResponse) => {
      const final = o ? o.respond(g) : g;
      x?.trace?.answered(final.status, final.errorCode);
      writeUpgradeResponse(socket, final);
    };
    if (x === null) return answer(gatewayError('MG_REQUEST_INVALID', 'the request has no Host header'));
    const pool = deps.registry.lookupPublic(info.scheme, x.req.host);
    if (!pool) return answer(gatewayError('MG_ENDPOINT_NOT_FOUND', `${info.scheme}://${x.req.host}`));
    deps.pipeline.serve(pool, x).then(answer, (e) => {
      deps.log.error('upgrade failed', { reqId: x.id, traceId: x.trace?.traceId, err: e as Error });
      socket.destroy();
    });
  };
  return { onRequest: obs === undefined ? onRequest : onObservedRequest, onUpgrade };
}

function destroy(res: AnyRes): void {
  const s = (res as http2.Http2ServerResponse).stream;
  if (s) s.close();
  else res.socket?.destroy();
}

/** Answer for unparseable requests, so clients see the gateway's error format. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (err.code === 'ECONNRESET')) return void socket.destroy();
  const body = errorBody('MG_REQUEST_INVALID', err.code ?? err.message);
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\n${ERROR_HEADER}: MG_REQUEST_INVALID\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

export function createHttpListener(deps: PublicListenerDeps): http.Server {
  const h = makeHandler(deps, { scheme: 'http', region: deps.region });
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_SIZE, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: 0, noDelay: true }, h.onRequest);
  server.on('upgrade', h.onUpgrade);
  server.on('clientError', onClientError);
  return server;
}

export function createHttpsListener(deps: PublicListenerDeps, tls: { cert: string; key: string }): http2.Http2SecureServer {
  const h = makeHandler(deps, { scheme: 'https', region: deps.region });
  const server = http2.createSecureServer(
    { cert: tls.cert, key: tls.key, allowHTTP1: true, maxSessionMemory: 64, settings: { maxHeaderListSize: MAX_HEADER_SIZE } },
    h.onRequest,
  );
  server.on('upgrade', h.onUpgrade);
  server.setTimeout(KEEP_ALIVE_TIMEOUT_MS);
  return server;
}

export function listen(server: net.Server | http2.Http2SecureServer, host: string, port: number): Promise<net.AddressInfo> {
  return listenOn(server as unknown as Listenable, host, port);
}
