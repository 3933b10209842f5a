/**
 * The tunnel listener: accepts agent connections, checks the Hello (magic + authtoken), answers
 * with a HelloReply, then hands the socket to an AgentSession (reverse HTTP/2).
 * A refused agent gets a HelloReply with the error before the socket closes, so it can print
 * what is wrong.
 */
import net from 'node:net';
import { Hello, HelloReply } from '../../gen/tunnel.js';
import { TUNNEL_MAGIC, encodeFrame, readPreamble } from '../../tunnel/wire.js';
import { ERRORS, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { listenOn } from '../../core/listen.js';
import { AgentSession, newSessionId, type SessionHooks } from './agent-session.js';

/** An agent that has not completed its Hello by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TunnelServerOptions {
  nodeId: string;
  region: string;
  /** Returns the account an authtoken belongs to and the token's record id, or undefined. */
  authenticate(token: string): { account: string; credentialId: string } | undefined;
  hooks: SessionHooks;
  log: Logger;
}

export class TunnelServer {
  readonly server: net.Server;
  readonly sessions = new Set<AgentSession>();

  constructor(private readonly opts: TunnelServerOptions) {
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
      this.accept(socket).catch((e) => {
        opts.log.debug('tunnel handshake failed', { remote: socket.remoteAddress, err: e as Error });
        socket.destroy();
      });
    });
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return listenOn(this.server, host, port);
  }

  /** Stops accepting; drains every session (agents are told to reconnect elsewhere). */
  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async accept(socket: net.Socket): Promise<void> {
    socket.setKeepAlive(true, 15_000);
    socket.on('error', () => {});
    const frame = await readPreamble(socket, TUNNEL_MAGIC, HANDSHAKE_TIMEOUT_MS);
    let hello: Hello;
    try {
      hello = Hello.decode(frame);
    } catch {
      return this.refuse(socket, 'MG_TUNNEL_PROTOCOL', 'the Hello message could not be decoded');
    }
    const principal = this.opts.authenticate(hello.authtoken);
    if (principal === undefined) {
      this.opts.log.info('agent refused', { remote: socket.remoteAddress, reason: 'bad authtoken' });
      return this.refuse(socket, 'MG_AUTHTOKEN_INVALID', hello.authtoken ? 'the edge does not know this authtoken; check --authtoken (or MESHGATE_AUTHTOKEN) against the accounts in edge.yaml or `meshgate authtokens list`; a revoked authtoken stays refused' : 'no authtoken given; pass --authtoken or set MESHGATE_AUTHTOKEN');
    }
    const account = principal.account;
    const sessionId = newSessionId();
    const reply: HelloReply = { error: undefined, sessionId, nodeId: this.opts.nodeId, region: this.opts.region, account };
    // The reply must precede the HTTP/2 preface the session writes, so it goes out first.
    socket.write(encodeFrame(HelloReply.encode(reply).finish()));
    const session = new AgentSession(sessionId, socket, account, `${socket.remoteAddress}:${socket.remotePort}`, {
      ...this.opts.hooks,
      closed: (s) => {
        this.sessions.delete(s);
        this.opts.hooks.closed(s);
      },
    }, this.opts.log);
    session.credentialId = principal.credentialId;
    this.sessions.add(session);
    this.opts.log.info('agent connected', { session: session.id, account, remote: session.remote, agent: hello.agentVersion, hostname: hello.hostname });
  }

  private refuse(socket: net.Socket, code: ErrorCode, message: string): void {
    const reply: HelloReply = { error: { code, message: `${ERRORS[code].message}: ${message}`, field: code === 'MG_AUTHTOKEN_INVALID' ? '--authtoken' : '', issues: [] }, sessionId: '', nodeId: this.opts.nodeId, region: this.opts.region, account: '' };
    socket.end(encodeFrame(HelloReply.encode(reply).finish()));
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

