/**
 * Writes a GatewayResponse to the client: to a ServerResponse (HTTP/1.1 or HTTP/2), or to the raw
 * socket of an upgrade request. Bodies stream with backpressure; a client that goes away
 * cancels the upstream stream, and an upstream that fails mid-body aborts the client response.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Duplex, Readable, Writable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { GatewayResponse } from '../forward/gateway-response.js';

export function writeResponse(res: ServerResponse | Http2ServerResponse, g: GatewayResponse): void {
  if (g.close) {
    destroyClient(res);
    return;
  }
  if (g.upgraded) {
    // An upgrade accepted upstream but the client did not ask for one (cannot happen via ingress); refuse.
    g.upgraded.destroy();
    destroyClient(res);
    return;
  }
  const body = g.body;
  try {
    res.writeHead(g.status, g.headers as never);
  } catch {
    // Invalid header from upstream (e.g. a bad character): answer 502 rather than crash.
    if (body && typeof body !== 'string') body.destroy();
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' } as never);
      res.end('invalid response headers from upstream\n');
    }
    return;
  }
  if (body === null) {
    res.end();
  } else if (typeof body === 'string') {
    res.end(body);
  } else {
    forwardBody(body, res);
  }
}

/**
 * Streams an upstream body into the client response with backpressure — what `pipe` does, with
 * fewer listeners (this runs once per proxied request). The producer (to-agent.ts) already
 * listens for 'error'. A body that closes before its end (upstream reset, agent gone) must not
 * look complete to the client; a client that goes away cancels the body and so the upstream.
 */
function forwardBody(body: Readable, res: ServerResponse | Http2ServerResponse): void {
  const out = res as unknown as Writable;
  body.on('data', (chunk: Buffer) => {
    if (!out.write(chunk)) {
      body.pause();
      out.once('drain', () => body.resume());
    }
  });
  body.once('end', () => out.end());
  body.once('close', () => {
    if (!body.readableEnded) destroyClient(res);
  });
  out.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
}

function destroyClient(res: ServerResponse | Http2ServerResponse): void {
  const h2 = (res as Http2ServerResponse).stream;
  if (h2) h2.close(2 /* INTERNAL_ERROR */);
  else res.socket?.destroy();
}

/** Answers an upgrade request on its raw socket: a 101 splice, or a plain HTTP/1.1 response. */
export function writeUpgradeResponse(socket: Duplex, g: GatewayResponse): void {
  if (g.close) {
    socket.destroy();
    return;
  }
  const lines = [`HTTP/1.1 ${g.status} ${STATUS_CODES[g.status] ?? ''}`];
  if (g.upgraded) {
    lines.push('connection: upgrade');
  } else {
    lines.push('connection: close');
  }
  for (const [k, v] of Object.entries(g.headers)) {
    if (v === undefined || k === 'connection' || (g.upgraded === undefined && k === 'transfer-encoding')) continue;
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  }
  if (g.upgraded) {
    const up = g.upgraded;
    if (g.headers.upgrade === undefined) lines.push('upgrade: websocket');
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    // client → tunnel is already flowing (the socket is the request body); add tunnel → client.
    up.pipe(socket);
    const end = () => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', end);
    up.on('close', end);
    socket.on('error', end);
    socket.on('close', end);
    return;
  }
  const body = g.body;
  if (typeof body === 'string' || body === null) {
    if (typeof body === 'string' && g.headers['content-length'] === undefined) lines.push(`content-length: ${Buffer.byteLength(body)}`);
    socket.end(lines.join('\r\n') + '\r\n\r\n' + (body ?? ''));
  } else {
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    body.pipe(socket);
    body.on('error', () => socket.destroy());
  }
}
