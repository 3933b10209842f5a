/**
 * The relay listener: other edge nodes send requests here for agent endpoints this node holds.
 * Each stream must carry the cluster secret; it names the endpoint (same header as the tunnel),
 * and is forwarded as-is to the agent's tunnel session. Response head and body stream back;
 * upgrades pass through (the agent answers them the same way). No policy runs here: the
 * receiving edge already ran the endpoint's policy.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ERROR_HEADER, ERRORS, errorBody, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { listenOn } from '../../core/listen.js';
import { ENDPOINT_ID_HEADER, TUNNEL_CONNECTION_WINDOW, TUNNEL_H2_SETTINGS, UPGRADE_STATUS_HEADER } from '../../tunnel/wire.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import { AgentSession } from '../tunnel/agent-session.js';
import { RELAY_AUTH_HEADER } from './relay-link.js';
import type { EdgeTracer } from '../../telemetry/tracing.js';
import { releaseWhenClosed } from '../../tunnel/release-stream.js';

export class RelayServer {
  readonly server: http2.Http2Server;
  private readonly secretHash: Buffer;

  constructor(registry: EndpointRegistry, secret: string, private readonly log: Logger, tracer?: EdgeTracer) {
    this.secretHash = createHash('sha256').update(secret).digest();
    this.server = http2.createServer({ settings: TUNNEL_H2_SETTINGS, maxSessionMemory: 64 });
    this.server.on('session', (s) => {
      s.on('connect', () => s.setLocalWindowSize(TUNNEL_CONNECTION_WINDOW));
      s.on('error', () => {});
      s.setLocalWindowSize?.(TUNNEL_CONNECTION_WINDOW);
    });
    this.server.on('stream', (stream, headers) => {
      releaseWhenClosed(stream);
      stream.on('error', () => {});
      const given = createHash('sha256').update(String(headers[RELAY_AUTH_HEADER] ?? '')).digest();
      if (!timingSafeEqual(given, this.secretHash)) {
        this.log.warn('relay stream refused: bad or missing cluster secret', { remote: stream.session?.socket?.remoteAddress });
        return refuse(stream, 'MG_AGENT_UNREACHABLE', 'relay refused: bad cluster secret', 403);
      }
      const id = String(headers[ENDPOINT_ID_HEADER] ?? '');
      const ep = registry.get(id);
      const target = ep?.target;
      if (!(target instanceof AgentSession) || !target.open) {
        return refuse(stream, 'MG_AGENT_UNREACHABLE', `endpoint ${id} is not held by this edge`);
      }
      const out: http2.OutgoingHttpHeaders = {};
      for (const k in headers) if (k !== RELAY_AUTH_HEADER) out[k] = headers[k];
      let up: http2.ClientHttp2Stream;
      const hop = tracer === undefined ? undefined : tracer.relayReceive(stream, headers, out, id);
      try {
        up = target.request(out, { endStream: stream.endAfterHeaders });
      } catch (e) {
        hop?.failed(e as Error);
        return refuse(stream, 'MG_AGENT_UNREACHABLE', (e as Error).message);
      }
      up.on('response', (h) => {
        if (hop !== undefined) hop.response(Number(h[UPGRADE_STATUS_HEADER] ?? h[':status']) || Number(h[':status']), h[ERROR_HEADER]);
        if (stream.destroyed) return;
        try {
          stream.respond(h);
        } catch {
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        }
        up.pipe(stream);
      });
      up.on('error', () => {
        if (!stream.headersSent) refuse(stream, 'MG_AGENT_UNREACHABLE', 'the agent stream failed');
        else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      });
      up.on('close', () => {
        if (hop !== undefined) hop.closed(up.rstCode ?? 0);
        if (!stream.destroyed && !stream.headersSent) refuse(stream, 'MG_AGENT_UNREACHABLE', 'the agent closed the stream');
        else if (!stream.destroyed && up.rstCode) stream.close(up.rstCode);
      });
      stream.on('close', () => {
        if (!up.destroyed) up.close(http2.constants.NGHTTP2_CANCEL);
      });
      if (!stream.endAfterHeaders) stream.pipe(up);
    });
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return listenOn(this.server, host, port);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function refuse(stream: http2.ServerHttp2Stream, code: ErrorCode, detail: string, status = ERRORS[code].http): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = errorBody(code, detail);
  stream.respond({ ':status': status, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [ERROR_HEADER]: code });
  stream.end(body);
}
