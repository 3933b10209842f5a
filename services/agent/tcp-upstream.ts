/**
 * The agent's side of tcp:// and tls:// endpoints: one raw TCP connection to the upstream per
 * client connection. The edge opens a tunnel stream marked L4_HEADER; the agent connects to the
 * upstream (10 s), answers 200, and splices stream ↔ socket (backpressure both ways, half-close
 * carried as END_STREAM / FIN, an abort on either side aborts the other). A refused or timed-out
 * connect is answered with an error response (MG_UPSTREAM_CONNECT_FAILED / MG_UPSTREAM_TIMEOUT),
 * which the edge turns into a closed client connection.
 *
 * For tls:// endpoints the bytes are whatever the edge sends: the client's TLS (pass-through, the
 * upstream terminates it) or plaintext (the edge ran terminate-tls).
 */
import type http2 from 'node:http2';
import net from 'node:net';
import { MeshgateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { splice } from '../tunnel/splice.js';
import type { UpstreamSpan } from '../telemetry/tracing.js';
import { respondError, type UpstreamTarget } from './upstream.js';

/** Upstream connect timeout. */
const CONNECT_TIMEOUT_MS = 10_000;

/** `5432` → localhost:5432, `host:port`, or `tcp://host:port`. */
export function parseTcpUpstream(raw: string, field = 'upstream'): UpstreamTarget {
  const s = raw.trim();
  const bad = (detail: string) => new MeshgateError('MG_FLAG_INVALID', { field, detail: `'${raw}' ${detail}` });
  let host = 'localhost';
  let portText: string;
  if (/^\d+$/.test(s)) portText = s;
  else {
    const m = /^(?:tcp:\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d+)$/i.exec(s);
    if (!m) throw bad('is not a port, host:port or tcp://host:port (the upstream of a tcp or tls endpoint is a TCP address)');
    host = m[1].replace(/^\[|\]$/g, '');
    portText = m[2];
  }
  const port = Number(portText);
  if (!(port >= 1 && port <= 65535)) throw bad('has a port out of range 1-65535');
  const shown = host.includes(':') ? `[${host}]` : host;
  return { origin: `tcp://${shown}:${port}`, protocol: 'tcp:', host, port, verifyTls: false };
}

/** Serves one L4 tunnel stream against `target`. Never throws. */
export function forwardTcp(stream: http2.ServerHttp2Stream, target: UpstreamTarget, log: Logger, span?: UpstreamSpan): void {
  if (span !== undefined) stream.once('close', () => span.closed(stream));
  const sock = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  const timer = setTimeout(() => sock.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
  const onConnectError = (e: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    log.debug('upstream connect failed', { upstream: target.origin, code: e.code, err: e });
    respondError(stream, e.code === 'ETIMEDOUT' ? 'MG_UPSTREAM_TIMEOUT' : 'MG_UPSTREAM_CONNECT_FAILED', `${target.origin}: ${e.code ?? e.message}`);
  };
  sock.once('error', onConnectError);
  // the client went away (or the tunnel died) while we were still connecting
  const onEarlyClose = () => sock.destroy();
  stream.once('close', onEarlyClose);
  sock.once('connect', () => {
    clearTimeout(timer);
    sock.off('error', onConnectError);
    stream.off('close', onEarlyClose);
    if (stream.destroyed) return void sock.destroy();
    try {
      stream.respond({ ':status': 200 });
    } catch {
      return void sock.destroy();
    }
    splice(
      stream,
      sock,
      (stats) => {
        if (log.enabled('debug')) log.debug('upstream connection closed', { upstream: target.origin, bytesToUpstream: stats.aToB, bytesFromUpstream: stats.bToA, aborted: stats.aborted });
      },
      ['tunnel', 'upstream'],
    );
  });
}
