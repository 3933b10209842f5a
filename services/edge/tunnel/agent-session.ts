/**
 * One connected agent on the edge side: the reverse HTTP/2 client session over the agent's
 * socket, its control stream, and the endpoints it registered.
 *
 * When the session closes (agent exit, network drop, ping timeout) every endpoint it holds is
 * removed from the registry synchronously in the close handler, so no request picks it after.
 */
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { AgentMessage, EdgeMessage, type RegisterEndpoint } from '../../gen/tunnel.js';
import { CONTROL_PATH, FrameDecoder, TUNNEL_CONNECTION_WINDOW, TUNNEL_H2_SETTINGS, encodeFrame } from '../../tunnel/wire.js';
import type { Logger } from '../../core/log.js';
import type { EndpointTarget } from '../endpoints/endpoint.js';
import type { StreamTarget } from '../forward/to-agent.js';
import { releaseWhenClosed } from '../../tunnel/release-stream.js';

/** How often the edge pings an idle agent, and how long it waits for the answer. */
export const PING_INTERVAL_MS = 10_000;
export const PING_TIMEOUT_MS = 20_000;

export interface SessionHooks {
  /** Handles a registration; returns the frame to answer with. Must not throw. */
  register(session: AgentSession, msg: RegisterEndpoint): EdgeMessage;
  unregister(session: AgentSession, endpointId: string): void;
  /** Called once when the session has closed, for whatever reason. */
  closed(session: AgentSession): void;
}

/** A new tunnel session id. */
export function newSessionId(): string {
  return 'ts_' + randomBytes(8).toString('hex');
}

export class AgentSession implements EndpointTarget, StreamTarget {
  readonly h2: http2.ClientHttp2Session;
  /** Ids of the endpoints this session registered. */
  readonly endpointIds = new Set<string>();
  /** Id of the authtoken record the agent authenticated with (its revocation ends the session). */
  credentialId = '';
  private control: http2.ClientHttp2Stream | null = null;
  private closedOnce = false;
  private draining = false;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    socket: Duplex,
    readonly account: string,
    readonly remote: string,
    private readonly hooks: SessionHooks,
    private readonly log: Logger,
  ) {
    this.h2 = http2.connect('http://agent.tunnel', {
      createConnection: () => socket,
      settings: TUNNEL_H2_SETTINGS,
      maxSessionMemory: 64,
    });
    this.h2.on('connect', () => this.h2.setLocalWindowSize(TUNNEL_CONNECTION_WINDOW));
    this.h2.on('error', (e) => this.log.debug('tunnel session error', { session: this.id, err: e }));
    this.h2.on('goaway', () => this.close('agent sent GOAWAY'));
    this.h2.on('close', () => this.close('connection closed'));
    socket.on('close', () => this.close('socket closed'));
    this.openControl();
    this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  get sessionId(): string {
    return this.id;
  }

  /** True while new requests may be sent over this session. */
  get open(): boolean {
    return !this.closedOnce && !this.h2.closed && !this.h2.destroyed;
  }

  /** Opens a stream to the agent (one proxied request). */
  request(headers: http2.OutgoingHttpHeaders, opts: http2.ClientSessionRequestOptions): http2.ClientHttp2Stream {
    return releaseWhenClosed(this.h2.request(headers, opts));
  }

  /** Sends a control frame to the agent (registration results, drain, fatal). */
  send(msg: EdgeMessage): void {
    if (this.control && !this.control.destroyed) this.control.write(encodeFrame(EdgeMessage.encode(msg).finish()));
  }

  /** Ends the session: endpoints are withdrawn at once, in-flight streams are cancelled. */
  close(reason: string, force = false): void {
    if (this.closedOnce) {
      // a drained session still finishing its streams: `force` ends it now (edge stop after grace)
      if (force && !this.h2.destroyed) this.h2.destroy();
      return;
    }
    this.closedOnce = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.log.info('agent disconnected', { session: this.id, account: this.account, reason, endpoints: this.endpointIds.size });
    this.hooks.closed(this);
    // Draining: h2.close() already stopped new streams and ends the session once the requests in
    // flight finish (the agent closing its control stream must not cancel them).
    if ((force || !this.draining) && !this.h2.destroyed) this.h2.destroy();
  }

  /** Graceful: tell the agent to drain, stop new streams, let in-flight ones finish. */
  drain(reason: string): void {
    this.draining = true;
    this.send({ msg: { $case: 'drain', value: { reason } } });
    if (!this.h2.closed) this.h2.close();
  }

  private openControl(): void {
    const stream = this.h2.request({ ':method': 'POST', ':path': CONTROL_PATH }, { endStream: false });
    this.control = stream;
    const decoder = new FrameDecoder();
    stream.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        this.log.warn('bad control frame from agent', { session: this.id, err: e as Error });
        return this.close('protocol error on control stream');
      }
      for (const f of frames) this.onFrame(f);
    });
    stream.on('error', () => this.close('control stream failed'));
    stream.on('close', () => this.close('control stream closed'));
  }

  private onFrame(frame: Buffer): void {
    let msg: AgentMessage;
    try {
      msg = AgentMessage.decode(frame);
    } catch (e) {
      this.log.warn('undecodable control frame from agent', { session: this.id, err: e as Error });
      return this.close('protocol error on control stream');
    }
    const m = msg.msg;
    if (!m) return;
    if (m.$case === 'register') this.send(this.hooks.register(this, m.value));
    else if (m.$case === 'unregister') this.hooks.unregister(this, m.value.endpointId);
  }

  private ping(): void {
    if (!this.open) return;
    const timer = setTimeout(() => this.close('ping timeout'), PING_TIMEOUT_MS);
    timer.unref();
    try {
      this.h2.ping((err) => {
        clearTimeout(timer);
        if (err && this.open) this.close(`ping failed: ${err.message}`);
      });
    } catch {
      clearTimeout(timer);
    }
  }
}
