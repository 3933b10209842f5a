/*
 * Running on_tcp_connect over one new connection of a tcp:// or tls:// endpoint.
 *
 * The same rule loop as the HTTP phases (run-phase.ts): every matching rule runs in order until
 * an action ends the phase. What differs is how the phase ends, because a connection has no
 * response to send — every refusal closes it (ngrok: "TCP/TLS errors: connection simply closed"):
 *   - no terminating action     → `pass` (agent endpoint: connect to its upstream); a cloud
 *                                  endpoint has no upstream: close with MG_NO_TERMINATING_ACTION
 *   - forward-internal succeeded → `forwarded` (the host took the connection)
 *   - deny / restrict-ips         → close; the code is the one the action gave its rejection
 *                                  (MG_IP_RESTRICTED), else MG_CONNECTION_CLOSED_BY_POLICY
 *   - close-connection            → close, MG_CONNECTION_CLOSED_BY_POLICY
 *   - an error outcome            → close with its code (failed forward with on_error: halt,
 *                                  failed terminate-tls handshake, CEL runtime error)
 * Pure: the gateway does the socket work through ConnectPhaseHost (forwardInternal, terminateTls).
 */
import type { ErrorCode } from '../core/errors.js';
import { ERROR_HEADER, ERRORS, errorBodyMessage } from '../core/errors.js';
import type { ActionOutcome } from './actions/registry.js';
import { PhaseRun, runPhase, type CompiledRule, type PhaseTrace } from './run-phase.js';
import type { ConnectionExchange, ConnectOutcome, ConnectPhaseHost, Exchange, PolicyEndpoint, RequestPhaseHost } from './types.js';

const PASS: { kind: 'pass' } = Object.freeze({ kind: 'pass' });
const CLOSED_BY_POLICY: ErrorCode = 'MG_CONNECTION_CLOSED_BY_POLICY';

/** Runs `rules` (the endpoint's on_tcp_connect) for one connection. Never rejects. */
export function runConnectPhase<R>(
  rules: readonly CompiledRule[],
  x: ConnectionExchange,
  endpoint: PolicyEndpoint,
  host: ConnectPhaseHost<R>,
  trace: PhaseTrace | undefined,
): Promise<ConnectOutcome<R>> {
  if (rules.length === 0) return Promise.resolve(atEnd<R>(endpoint));
  // on_tcp_connect declares no `req` (environment.ts) and its actions never read it.
  const run = new PhaseRun('on_tcp_connect', x as Exchange, endpoint, host as RequestPhaseHost<unknown>, undefined, trace);
  const r = runPhase(rules, run);
  if (r instanceof Promise) {
    return r.then(
      (o) => toConnectOutcome<R>(o, endpoint),
      (e: unknown) => ({ kind: 'close', code: 'MG_INTERNAL', message: `policy run failed: ${String((e as Error)?.message ?? e)}` }),
    );
  }
  return Promise.resolve(toConnectOutcome<R>(r, endpoint));
}

function atEnd<R>(endpoint: PolicyEndpoint): ConnectOutcome<R> {
  if (endpoint.type !== 'cloud') return PASS;
  return { kind: 'close', code: 'MG_NO_TERMINATING_ACTION', message: `no terminating action ran in on_tcp_connect of cloud endpoint ${endpoint.url} (nothing to forward to)` };
}

function toConnectOutcome<R>(o: ActionOutcome, endpoint: PolicyEndpoint): ConnectOutcome<R> {
  if (o === undefined) return atEnd<R>(endpoint);
  switch (o.kind) {
    case 'pass':
      return PASS;
    case 'forwarded':
      return { kind: 'forwarded', response: o.response as R };
    case 'close':
      return { kind: 'close', code: CLOSED_BY_POLICY, message: 'close-connection in on_tcp_connect' };
    case 'respond': {
      const given = o.response.headers[ERROR_HEADER]?.[0];
      const code = given !== undefined && Object.hasOwn(ERRORS, given) ? (given as ErrorCode) : CLOSED_BY_POLICY;
      return { kind: 'close', code, message: code === CLOSED_BY_POLICY ? 'deny in on_tcp_connect' : errorBodyMessage(o.response.body) ?? ERRORS[code].message };
    }
    case 'error':
      return { kind: 'close', code: o.code, message: o.message };
  }
}

