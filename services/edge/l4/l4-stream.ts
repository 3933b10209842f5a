/**
 * Opens the tunnel stream for one L4 connection to an agent endpoint: a new HTTP/2 stream on the
 * agent's tunnel session (or on the relay link to the edge that holds the agent; the relay passes
 * it through unchanged), marked with L4_HEADER. The agent connects to its upstream and answers
 * 200, or an error response carrying the code (MG_UPSTREAM_CONNECT_FAILED, ...). Only then does
 * the edge start reading the client: bytes a client sends early wait in its socket buffer.
 *
 * A failure before the agent answered is `retryable` when the agent never got the stream (refused
 * stream, session already closed), so another pool member can be tried, as for HTTP.
 */
import http2 from 'node:http2';
import { ERROR_HEADER, ERRORS, errorBodyMessage, type ErrorCode } from '../../core/errors.js';
import { ENDPOINT_ID_HEADER, L4_HEADER } from '../../tunnel/wire.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { StreamTarget } from '../forward/to-agent.js';
import type { RequestTrace } from '../../telemetry/tracing.js';

/** How long the agent may take to connect to its upstream and answer. */
export const L4_CONNECT_TIMEOUT_MS = 15_000;

export type OpenResult =
  | { ok: true; stream: http2.ClientHttp2Stream; endpoint: Endpoint }
  | { ok: false; code: ErrorCode; message: string; retryable: boolean };

export function openL4Stream(target: StreamTarget, ep: Endpoint, client: { ip: string; port: number }, authority: string, trace: RequestTrace | undefined): Promise<OpenResult> {
  if (!target.open) return Promise.resolve({ ok: false, code: 'MG_AGENT_UNREACHABLE', message: 'the agent session is closed', retryable: true });
  let stream: http2.ClientHttp2Stream;
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': '/',
    ':authority': authority,
    [ENDPOINT_ID_HEADER]: ep.id,
    [L4_HEADER]: ep.url.scheme,
    'x-forwarded-for': client.ip,
    'x-forwarded-port': String(client.port),
  };
  // traced: `tunnel send` / `relay send` lasts as long as the connection
  const hop = trace === undefined ? undefined : trace.hop(ep, headers);
  try {
    stream = target.request(headers, { endStream: false });
  } catch (e) {
    hop?.failed(e as Error);
    return Promise.resolve({ ok: false, code: 'MG_AGENT_UNREACHABLE', message: (e as Error).message, retryable: true });
  }
  if (hop !== undefined) {
    stream.once('response', (h) => hop.response(Number(h[':status']), h[ERROR_HEADER]));
    stream.once('close', () => hop.closed(stream.rstCode ?? 0));
  }
  return new Promise<OpenResult>((resolve) => {
    let settled = false;
    /** Set once the agent answered with an error: the code to report however the stream ends. */
    let refusedWith: ErrorCode | undefined;
    const settle = (r: OpenResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      settle({ ok: false, code: 'MG_UPSTREAM_TIMEOUT', message: `the agent did not connect to its upstream within ${L4_CONNECT_TIMEOUT_MS} ms`, retryable: false });
    }, L4_CONNECT_TIMEOUT_MS);
    stream.on('error', (e) => settle({ ok: false, code: 'MG_AGENT_UNREACHABLE', message: e.message, retryable: !target.open }));
    stream.on('close', () => {
      const refused = stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
      if (refusedWith) return settle({ ok: false, code: refusedWith, message: ERRORS[refusedWith].message, retryable: false });
      settle({ ok: false, code: 'MG_AGENT_UNREACHABLE', message: `tunnel stream closed before the agent answered (code ${stream.rstCode})`, retryable: refused || !target.open });
    });
    stream.once('response', (h) => {
      const status = Number(h[':status']);
      if (status === 200) return settle({ ok: true, stream, endpoint: ep });
      const given = String(h[ERROR_HEADER] ?? '');
      const code: ErrorCode = Object.hasOwn(ERRORS, given) ? (given as ErrorCode) : 'MG_AGENT_UNREACHABLE';
      refusedWith = code;
      // the error body is small; read it for the log line
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      stream.on('end', () => settle({ ok: false, code, message: errorBodyMessage(body) ?? `the agent answered ${status}`, retryable: false }));
    });
  });
}

