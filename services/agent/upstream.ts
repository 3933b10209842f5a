/**
 * The agent's upstream side: one tunnel stream in, one request to the upstream service out,
 * over keep-alive connections (an undici Pool per upstream origin). Bodies stream both ways
 * with backpressure: a slow tunnel pauses the upstream response, a slow upstream pauses the
 * tunnel stream (HTTP/2 flow control carries it back to the client).
 *
 * Upgrades (WebSocket) use a raw connection to the upstream and are spliced byte for byte.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { ERROR_HEADER, errorBody, ERRORS, MeshgateError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { ENDPOINT_ID_HEADER, UPGRADE_HEADER, UPGRADE_STATUS_HEADER } from '../tunnel/wire.js';
import type { AgentTracer } from '../telemetry/tracing.js';

export interface UpstreamTarget {
  /** `http://localhost:8080` style origin (`tcp://localhost:5432` for tcp/tls endpoints, tcp-upstream.ts). */
  origin: string;
  protocol: 'http:' | 'https:' | 'tcp:';
  host: string;
  port: number;
  /** Verify the upstream's TLS certificate (off by default, like ngrok). */
  verifyTls: boolean;
}

/** `8080` → http://localhost:8080, `host:port` → http://host:port, full http(s) URLs as given. */
export function parseUpstream(raw: string, field = 'upstream', verifyTls = false): UpstreamTarget {
  const s = raw.trim();
  let url: URL;
  try {
    if (/^\d+$/.test(s)) url = new URL(`http://localhost:${s}`);
    else if (/^https?:\/\//i.test(s)) url = new URL(s);
    else url = new URL(`http://${s}`);
  } catch {
    throw new MeshgateError('MG_FLAG_INVALID', { field, detail: `'${raw}' is not a port, host:port or http(s) URL` });
  }
  if (url.pathname !== '/' || url.search) throw new MeshgateError('MG_FLAG_INVALID', { field, detail: `'${raw}': the upstream URL must not have a path` });
  const protocol = url.protocol as 'http:' | 'https:';
  const port = Number(url.port) || (protocol === 'https:' ? 443 : 80);
  if (!(port >= 1 && port <= 65535)) throw new MeshgateError('MG_FLAG_INVALID', { field, detail: `'${raw}': port out of range` });
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { origin: `${protocol}//${url.host}`, protocol, host, port, verifyTls };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', ERROR_HEADER]);

export class UpstreamForwarder {
  private readonly pools = new Map<string, Pool>();

  constructor(
    private readonly log: Logger,
    /** Tracing; undefined = off (the edge's traceparent then reaches the upstream as it came). */
    private readonly tracer?: AgentTracer,
  ) {}

  /** Serves one tunnel stream against `target`. Never throws; errors become gateway responses. */
  forward(stream: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, target: UpstreamTarget): void {
    if (h[UPGRADE_HEADER] !== undefined) return this.upgrade(stream, h, target);
    const headers: Record<string, string | string[]> = {};
    for (const k in h) {
      if (k.charCodeAt(0) === 58 || k === ENDPOINT_ID_HEADER || HOP_BY_HOP.has(k)) continue;
      headers[k] = h[k] as string | string[];
    }
    headers.host = h[':authority'] as string;
    const span = this.tracer === undefined ? undefined : this.tracer.upstream(h, headers, target);
    // undici destroys a body stream when it is done with it; the tunnel stream is a Duplex whose
    // other half still carries the response, so undici gets its own readable view of it.
    let body: PassThrough | null = null;
    if (!stream.endAfterHeaders) {
      body = new PassThrough({ highWaterMark: 64 * 1024 });
      stream.pipe(body);
    }
    let controller: Dispatcher.DispatchController | null = null;
    let responded = false;
    stream.on('close', () => {
      if (span !== undefined) span.closed(stream);
      // A reset stream (the edge cancelled: client gone, http-request timeout) reads as writableFinished, hence `aborted`.
      if (controller && !controller.aborted && (stream.aborted || !stream.writableFinished)) controller.abort(new Error('tunnel stream closed'));
    });
    stream.on('error', () => {});
    this.pool(target).dispatch(
      {
        path: h[':path'] as string,
        method: h[':method'] as Dispatcher.HttpMethod,
        headers,
        body,
      },
      {
        onRequestStart(c) {
          controller = c;
        },
        onResponseStart(_c, statusCode, resHeaders) {
          if (statusCode < 200 || stream.destroyed) return;
          const out: http2.OutgoingHttpHeaders = { ':status': statusCode };
          for (const k in resHeaders) if (!HOP_BY_HOP.has(k)) out[k] = resHeaders[k];
          responded = true;
          try {
            stream.respond(out);
          } catch {
            stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          }
        },
        onResponseData(c, chunk) {
          if (stream.destroyed) return;
          if (!stream.write(chunk)) {
            c.pause();
            stream.once('drain', () => c.resume());
          }
        },
        onResponseEnd() {
          if (!stream.destroyed) stream.end();
        },
        onResponseError: (_c, err) => {
          if (stream.destroyed) return;
          if (responded) return stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          const code = classify(err);
          this.log.debug('upstream request failed', { upstream: target.origin, code, err });
          respondError(stream, code, `${target.origin}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        },
      },
    );
  }

  /** Closes idle upstream connections. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }

  private pool(t: UpstreamTarget): Pool {
    let p = this.pools.get(t.origin);
    if (!p) {
      p = new Pool(t.origin, {
        connections: null,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: 0,
        bodyTimeout: 0,
        connect: t.protocol === 'https:' ? { rejectUnauthorized: t.verifyTls } : undefined,
      });
      this.pools.set(t.origin, p);
    }
    return p;
  }

  /** WebSocket / generic upgrade: raw connection, request head written by hand, then splice. */
  private upgrade(stream: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, t: UpstreamTarget): void {
    const lines = [`${h[':method']} ${h[':path']} HTTP/1.1`, `host: ${h[':authority']}`, 'connection: upgrade', `upgrade: ${h[UPGRADE_HEADER]}`];
    // traced: the upstream gets the agent span's trace context instead of the edge's
    const traced: Record<string, string | string[]> = {};
    const span = this.tracer === undefined ? undefined : this.tracer.upstream(h, traced, t);
    for (const k in h) {
      if (k.charCodeAt(0) === 58 || k === ENDPOINT_ID_HEADER || k === UPGRADE_HEADER || HOP_BY_HOP.has(k) || k === 'host') continue;
      if (this.tracer !== undefined && (k === 'traceparent' || k === 'tracestate')) continue;
      const v = h[k];
      for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
    }
    for (const k in traced) lines.push(`${k}: ${String(traced[k])}`);
    const sock: net.Socket =
      t.protocol === 'https:'
        ? tls.connect({ host: t.host, port: t.port, servername: net.isIP(t.host) ? undefined : t.host, rejectUnauthorized: t.verifyTls })
        : net.connect({ host: t.host, port: t.port });
    let headDone = false;
    let buf = Buffer.alloc(0);
    const fail = (e: Error) => {
      if (!headDone && !stream.headersSent) respondError(stream, classify(e), `${t.origin}: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
      else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      sock.destroy();
    };
    sock.on('error', fail);
    sock.on(t.protocol === 'https:' ? 'secureConnect' : 'connect', () => sock.write(lines.join('\r\n') + '\r\n\r\n'));
    stream.on('error', () => sock.destroy());
    stream.on('close', () => {
      if (span !== undefined) span.closed(stream);
      sock.destroy();
    });
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > 1 << 20) fail(new Error('upstream response head too large'));
        return;
      }
      headDone = true;
      sock.off('data', onData);
      const [statusLine, ...headerLines] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
      if (!status) return fail(new Error('invalid upstream response'));
      const out: http2.OutgoingHttpHeaders = { ':status': 200, [UPGRADE_STATUS_HEADER]: String(status) };
      for (const line of headerLines) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const k = line.slice(0, i).trim().toLowerCase();
        if (HOP_BY_HOP.has(k) && k !== 'upgrade') continue;
        if (k === 'upgrade') continue;
        const v = line.slice(i + 1).trim();
        const prev = out[k];
        out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
      }
      stream.respond(out);
      const rest = buf.subarray(end + 4);
      if (rest.length) stream.write(rest);
      sock.pipe(stream);
      if (status === 101) stream.pipe(sock);
    };
    sock.on('data', onData);
  }
}

function classify(err: Error): ErrorCode {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'MG_UPSTREAM_TIMEOUT';
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'MG_UPSTREAM_INVALID_RESPONSE';
  if (code === 'UND_ERR_SOCKET') return 'MG_UPSTREAM_RESET';
  return 'MG_UPSTREAM_CONNECT_FAILED';
}

function respondError(stream: http2.ServerHttp2Stream, code: ErrorCode, detail: string): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = errorBody(code, detail);
  try {
    stream.respond({ ':status': ERRORS[code].http, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [ERROR_HEADER]: code });
    stream.end(body);
  } catch {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}

export { respondError };
