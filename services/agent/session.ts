/**
 * The agent's connection to its edge node.
 *
 * dial (TCP) → magic + Hello → HelloReply (refusal = fatal) → this socket becomes an HTTP/2
 * *server* (the edge opens streams to us) → the edge's first stream is the control stream,
 * on which we register every endpoint and get the results → serve streams.
 *
 * When the link drops the agent reconnects with capped exponential backoff and jitter, and
 * registers its endpoints again. A refusal on the first connection (bad authtoken, pool
 * conflict, bad URL or policy) is fatal: the agent exits non-zero naming the problem. On later
 * reconnects a refusal is logged and retried, since another agent may have taken the URL.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { hostname } from 'node:os';
import { AgentMessage, EdgeMessage, Hello, HelloReply, type RegisterResult } from '../gen/tunnel.js';
import type { Error as WireError } from '../gen/common.js';
import { MeshgateError, type ErrorCode, ERRORS } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { CONTROL_PATH, ENDPOINT_ID_HEADER, L4_HEADER, FrameDecoder, TUNNEL_CONNECTION_WINDOW, TUNNEL_H2_SETTINGS, TUNNEL_MAGIC, encodeFrame, readPreamble } from '../tunnel/wire.js';
import type { AgentEndpointSpec } from './agent-config.js';
import { UpstreamForwarder, respondError } from './upstream.js';
import { forwardTcp } from './tcp-upstream.js';
import type { AgentTracer } from '../telemetry/tracing.js';
import { releaseWhenClosed } from '../tunnel/release-stream.js';

export const AGENT_VERSION = '0.1.0';
/** Backoff between reconnects: starts here, doubles, capped, with ±25% jitter. */
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const REGISTER_TIMEOUT_MS = 15_000;
const PING_INTERVAL_MS = 10_000;
const PING_TIMEOUT_MS = 20_000;

export interface AgentOptions {
  edge: { host: string; port: number };
  authtoken: string;
  endpoints: AgentEndpointSpec[];
  log: Logger;
  /** Tracing of upstream requests; undefined = off. */
  tracer?: AgentTracer;
}

export interface OnlineEndpoint {
  id: string;
  url: string;
  name: string;
  upstream: string;
}

export class Agent {
  private readonly forwarder: UpstreamForwarder;
  private stopping = false;
  private current: { socket: net.Socket; h2?: http2.ServerHttp2Session } | null = null;
  private byId = new Map<string, AgentEndpointSpec>();
  private sessionId = '';
  private wake: (() => void) | null = null;

  constructor(private readonly opts: AgentOptions) {
    this.forwarder = new UpstreamForwarder(opts.log, opts.tracer);
  }

  /**
   * Connects, registers, then keeps the tunnel up until `stop()`. Resolves when stopped;
   * rejects with a MeshgateError when the first connection is refused.
   */
  async run(onReady: (endpoints: OnlineEndpoint[], info: HelloReply) => void): Promise<void> {
    let attempt = 0;
    let first = true;
    while (!this.stopping) {
      let closed: Promise<void>;
      try {
        const { info, endpoints, closed: c } = await this.connectOnce();
        closed = c;
        attempt = 0;
        if (first) onReady(endpoints, info);
        else this.opts.log.info('reconnected', { session: info.sessionId, node: info.nodeId, region: info.region });
        first = false;
      } catch (e) {
        const fatal = e instanceof MeshgateError && e.code !== 'MG_EDGE_UNREACHABLE' && e.code !== 'MG_TUNNEL_PROTOCOL';
        if (first && (fatal || (e instanceof MeshgateError && e.code === 'MG_EDGE_UNREACHABLE' && attempt >= 2))) throw e;
        // A revoked authtoken stays revoked: stop instead of retrying forever.
        if (e instanceof MeshgateError && e.code === 'MG_AUTHTOKEN_INVALID') throw e;
        this.opts.log.warn('tunnel connect failed, retrying', { attempt: attempt + 1, err: e as Error });
        await this.sleep(backoff(attempt++));
        continue;
      }
      await closed;
      if (this.stopping) break;
      this.opts.log.warn('tunnel lost, reconnecting', { edge: `${this.opts.edge.host}:${this.opts.edge.port}` });
      await this.sleep(backoff(attempt++));
    }
  }

  /** Closes the tunnel (GOAWAY lets in-flight streams finish) and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const cur = this.current;
    if (cur?.h2 && !cur.h2.closed) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 3000);
        t.unref();
        cur.h2!.close(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    cur?.socket.destroy();
    await this.forwarder.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.wake = null;
        r();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        r();
      };
    });
  }

  private async connectOnce(): Promise<{ info: HelloReply; endpoints: OnlineEndpoint[]; closed: Promise<void> }> {
    const { host, port } = this.opts.edge;
    const socket = await dial(host, port);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    this.current = { socket };
    const hello: Hello = { authtoken: this.opts.authtoken, agentVersion: AGENT_VERSION, hostname: hostname(), previousSessionId: this.sessionId };
    socket.write(Buffer.concat([TUNNEL_MAGIC, encodeFrame(Hello.encode(hello).finish())]));
    let info: HelloReply;
    try {
      info = HelloReply.decode(await readPreamble(socket, null, HANDSHAKE_TIMEOUT_MS));
    } catch (e) {
      socket.destroy();
      throw e instanceof MeshgateError ? e : new MeshgateError('MG_TUNNEL_PROTOCOL', { detail: 'the edge sent an undecodable reply' });
    }
    if (info.error) {
      socket.destroy();
      throw wireError(info.error);
    }
    this.sessionId = info.sessionId;

    const server = http2.createServer({ settings: TUNNEL_H2_SETTINGS, maxSessionMemory: 64 });
    let control: http2.ServerHttp2Stream | null = null;
    const pending = new Map<number, (r: RegisterResult) => void>();
    const byId = new Map<string, AgentEndpointSpec>();
    const gotControl = new Promise<http2.ServerHttp2Stream>((resolve, reject) => {
      const t = setTimeout(() => reject(new MeshgateError('MG_TUNNEL_PROTOCOL', { detail: 'the edge opened no control stream' })), HANDSHAKE_TIMEOUT_MS);
      server.on('stream', (stream, headers) => {
        if (headers[':path'] === CONTROL_PATH && control === null) {
          clearTimeout(t);
          control = stream;
          stream.respond({ ':status': 200 });
          const dec = new FrameDecoder();
          stream.on('data', (chunk: Buffer) => {
            for (const f of dec.push(chunk)) this.onEdgeMessage(EdgeMessage.decode(f), pending);
          });
          stream.on('error', () => {});
          resolve(stream);
          return;
        }
        this.onStream(releaseWhenClosed(stream), headers);
      });
    });
    const closed = new Promise<void>((resolve) => {
      server.on('session', (session) => {
        this.current = { socket, h2: session };
        session.on('connect', () => session.setLocalWindowSize(TUNNEL_CONNECTION_WINDOW));
        session.on('error', () => {});
        session.on('close', () => resolve());
        const pinger = setInterval(() => {
          const t = setTimeout(() => session.destroy(), PING_TIMEOUT_MS);
          t.unref();
          try {
            session.ping(() => clearTimeout(t));
          } catch {
            clearTimeout(t);
          }
        }, PING_INTERVAL_MS);
        pinger.unref();
        session.on('close', () => clearInterval(pinger));
      });
      socket.on('close', () => resolve());
    });
    server.emit('connection', socket);

    const ctrl = await gotControl;
    let nextId = 1;
    const results = await Promise.all(
      this.opts.endpoints.map((spec) => {
        const requestId = nextId++;
        const msg: AgentMessage = {
          msg: {
            $case: 'register',
            value: {
              requestId,
              url: spec.url,
              poolingEnabled: spec.poolingEnabled,
              trafficPolicy: spec.trafficPolicy,
              binding: spec.binding,
              upstreamUrl: spec.upstream.origin,
              name: spec.name,
              description: spec.description,
              metadata: spec.metadata,
            },
          },
        };
        return new Promise<{ spec: AgentEndpointSpec; res: RegisterResult }>((resolve, reject) => {
          const t = setTimeout(() => reject(new MeshgateError('MG_EDGE_UNREACHABLE', { detail: 'no answer to endpoint registration' })), REGISTER_TIMEOUT_MS);
          pending.set(requestId, (res) => {
            clearTimeout(t);
            resolve({ spec, res });
          });
          ctrl.write(encodeFrame(AgentMessage.encode(msg).finish()));
        });
      }),
    ).catch((e) => {
      socket.destroy();
      throw e;
    });
    const refused = results.find((r) => r.res.error);
    if (refused) {
      socket.destroy();
      throw wireError(refused.res.error!, `endpoint ${refused.spec.url}`);
    }
    for (const r of results) byId.set(r.res.endpointId, r.spec);
    this.byId = byId;
    const endpoints = results.map((r) => ({ id: r.res.endpointId, url: r.res.url, name: r.spec.name, upstream: r.spec.upstream.origin }));
    return { info, endpoints, closed };
  }

  private onEdgeMessage(m: EdgeMessage, pending: Map<number, (r: RegisterResult) => void>): void {
    const msg = m.msg;
    if (!msg) return;
    if (msg.$case === 'registerResult') {
      pending.get(msg.value.requestId)?.(msg.value);
      pending.delete(msg.value.requestId);
    } else if (msg.$case === 'drain') {
      this.opts.log.info('edge is draining; will reconnect', { reason: msg.value.reason });
    } else if (msg.$case === 'revoked') {
      this.byId.delete(msg.value.endpointId);
      this.opts.log.error('endpoint taken offline by the edge', { endpoint: msg.value.endpointId, code: msg.value.error?.code, message: msg.value.error?.message });
    } else if (msg.$case === 'fatal') {
      this.opts.log.error('edge ended the session', { code: msg.value.code, message: msg.value.message });
    }
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const id = headers[ENDPOINT_ID_HEADER] as string | undefined;
    const spec = id ? this.byId.get(id) : undefined;
    if (!spec) return respondError(stream, 'MG_AGENT_UNREACHABLE', `this agent serves no endpoint '${id ?? ''}'`);
    const l4 = headers[L4_HEADER] !== undefined;
    if (l4 !== (spec.upstream.protocol === 'tcp:')) return respondError(stream, 'MG_TUNNEL_PROTOCOL', `endpoint ${spec.url} got a ${l4 ? 'tcp' : 'http'} stream`);
    if (l4) return forwardTcp(stream, spec.upstream, this.opts.log, this.opts.tracer?.connect(headers, spec.upstream));
    this.forwarder.forward(stream, headers, spec.upstream);
  }
}

function dial(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new MeshgateError('MG_EDGE_UNREACHABLE', { field: '--edge', detail: `${host}:${port}: connect timeout` }));
    }, HANDSHAKE_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(t);
      s.removeAllListeners('error');
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(new MeshgateError('MG_EDGE_UNREACHABLE', { field: '--edge', detail: `${host}:${port}: ${e.code ?? e.message}; is the edge running and is --edge (MESHGATE_EDGE) its listen.tunnel address?` }));
    });
  });
}

function wireError(e: WireError, context?: string): MeshgateError {
  const code = (e.code in ERRORS ? e.code : 'MG_INTERNAL') as ErrorCode;
  return new MeshgateError(code, {
    field: e.field || undefined,
    message: (context ? `${context}: ` : '') + e.message,
    issues: e.issues.map((i) => ({ path: i.path, message: i.message, line: i.line || undefined })),
  });
}

function backoff(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
