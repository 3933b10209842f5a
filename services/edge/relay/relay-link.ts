/**
 * The relay link to one other edge node: an HTTP/2 client session to its relay listener,
 * opened on first use and reopened after it drops. Requests for agents held by that node go
 * out here as streams, authenticated with the cluster secret, and come back streamed.
 */
import http2 from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import type { EndpointTarget } from '../endpoints/endpoint.js';
import type { StreamTarget } from '../forward/to-agent.js';
import { TUNNEL_CONNECTION_WINDOW, TUNNEL_H2_SETTINGS } from '../../tunnel/wire.js';
import { releaseWhenClosed } from '../../tunnel/release-stream.js';

/** Request header carrying the cluster secret on relay streams. */
export const RELAY_AUTH_HEADER = 'meshgate-cluster-secret';

export class RelayLink implements StreamTarget, EndpointTarget {
  private session: http2.ClientHttp2Session | null = null;
  private closed = false;

  constructor(
    readonly nodeId: string,
    private addr: string,
    private readonly secret: string,
  ) {}

  get sessionId(): string {
    return `relay:${this.nodeId}`;
  }

  /** The node may have restarted elsewhere: later streams go to the new address. */
  setAddress(addr: string): void {
    if (addr && addr !== this.addr) {
      this.addr = addr;
      this.session?.close();
      this.session = null;
    }
  }

  get open(): boolean {
    return !this.closed && this.addr !== '';
  }

  request(headers: OutgoingHttpHeaders, opts: http2.ClientSessionRequestOptions): http2.ClientHttp2Stream {
    return releaseWhenClosed(this.connect().request({ ...headers, [RELAY_AUTH_HEADER]: this.secret }, opts));
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = null;
  }

  private connect(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = http2.connect(`http://${this.addr}`, { settings: TUNNEL_H2_SETTINGS, maxSessionMemory: 64 });
    session.on('connect', () => session.setLocalWindowSize(TUNNEL_CONNECTION_WINDOW));
    session.on('error', () => {});
    session.on('close', () => {
      if (this.session === session) this.session = null;
    });
    session.unref();
    this.session = session;
    return session;
  }
}
