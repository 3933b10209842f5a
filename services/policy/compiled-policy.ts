/**
 * The compiled, frozen policy the gateway holds per endpoint, and `emptyPolicy` for endpoints
 * without one. Safe to share between concurrent requests: all per-request state lives in the
 * PhaseRun each call creates.
 */
import type { ActionOutcome } from './actions/registry.js';
import { forgetResponse, reportResponse, ResponseObserver } from './actions/response-observers.js';
import { PhaseRun, runPhase, type CompiledRule, type PhaseResult, type PhaseTrace } from './run-phase.js';
import { runConnectPhase } from './run-connect.js';
import type {
  CompiledPolicy,
  ConnectionExchange,
  ConnectOutcome,
  ConnectPhaseHost,
  Exchange,
  OutboundHost,
  Phase,
  PolicyEndpoint,
  PolicyResponse,
  RequestOutcome,
  RequestPhaseHost,
  ResponseOutcome,
} from './types.js';

const PASS: { kind: 'pass' } = Object.freeze({ kind: 'pass' });
/** Shared, already-resolved: returning it costs no allocation. */
const PASS_PROMISE: Promise<{ kind: 'pass' }> = Promise.resolve(PASS);

const NO_TERMINATING_ACTION = Object.freeze({
  kind: 'error' as const,
  code: 'MG_NO_TERMINATING_ACTION' as const,
  message: 'no terminating action ran in on_http_request of a cloud endpoint (nothing to forward to)',
});

export type CompiledPhases = Readonly<Record<Phase, readonly CompiledRule[]>>;

export class PolicyImpl implements CompiledPolicy {
  readonly source: string;
  readonly #phases: CompiledPhases;
  /**
   * Request-phase actions that must see the final response status (circuit-breaker); undefined
   * when there are none, so other policies pay nothing.
   */
  readonly #observers: ReadonlySet<ResponseObserver> | undefined;
  /** hasPhase, precomputed: on_http_response also runs when there are observers. */
  readonly #has: Readonly<Record<Phase, boolean>>;
  readonly requestBodyLimit: number;

  constructor(source: string, phases: CompiledPhases) {
    this.source = source;
    this.#phases = Object.freeze({
      on_tcp_connect: Object.freeze([...phases.on_tcp_connect]),
      on_http_request: Object.freeze([...phases.on_http_request]),
      on_http_response: Object.freeze([...phases.on_http_response]),
    });
    const observers = new Set<ResponseObserver>();
    for (const rule of this.#phases.on_http_request) {
      for (const a of rule.actions) if (a.config instanceof ResponseObserver) observers.add(a.config);
    }
    this.#observers = observers.size > 0 ? observers : undefined;
    let bodyLimit = 0;
    for (const rule of this.#phases.on_http_request) {
      for (const a of rule.actions) bodyLimit = Math.max(bodyLimit, a.def.requestBodyLimit?.(a.config) ?? 0);
    }
    this.requestBodyLimit = bodyLimit;
    this.#has = Object.freeze({
      on_tcp_connect: this.#phases.on_tcp_connect.length > 0,
      on_http_request: this.#phases.on_http_request.length > 0,
      on_http_response: this.#phases.on_http_response.length > 0 || this.#observers !== undefined,
    });
    Object.freeze(this);
  }

  hasPhase(phase: Phase): boolean {
    return this.#has[phase];
  }

  /** The compiled rules of a phase (read-only; for `policy test` and diagnostics). */
  rules(phase: Phase): readonly CompiledRule[] {
    return this.#phases[phase];
  }

  runConnect<R>(x: ConnectionExchange, endpoint: PolicyEndpoint, host: ConnectPhaseHost<R>): Promise<ConnectOutcome<R>> {
    return runConnectPhase(this.#phases.on_tcp_connect, x, endpoint, host, undefined);
  }

  /** runConnect, reporting matched rules and actions to `trace` (`policy test`, goldens). */
  traceConnect<R>(x: ConnectionExchange, endpoint: PolicyEndpoint, host: ConnectPhaseHost<R>, trace: PhaseTrace | undefined): Promise<ConnectOutcome<R>> {
    return runConnectPhase(this.#phases.on_tcp_connect, x, endpoint, host, trace);
  }

  runRequest<R>(x: Exchange, endpoint: PolicyEndpoint, host: RequestPhaseHost<R>): Promise<RequestOutcome<R>> {
    return this.traceRequest(x, endpoint, host, undefined);
  }

  runResponse(x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse, host?: OutboundHost): Promise<ResponseOutcome> {
    return this.traceResponse(x, endpoint, res, undefined, host);
  }

  /** runRequest, reporting matched rules and actions to `trace` (`meshgate policy test`). */
  traceRequest<R>(x: Exchange, endpoint: PolicyEndpoint, host: RequestPhaseHost<R>, trace: PhaseTrace | undefined): Promise<RequestOutcome<R>> {
    const rules = this.#phases.on_http_request;
    if (rules.length === 0) return endOfRequest(endpoint) as Promise<RequestOutcome<R>>;
    const run = new PhaseRun('on_http_request', x, endpoint, host as RequestPhaseHost<unknown>, undefined, trace);
    const out = settle(runPhase(rules, run), () => endOfRequest(endpoint)) as Promise<RequestOutcome<R>>;
    const observers = this.#observers;
    if (observers === undefined) return out;
    // The policy answered itself (a later custom-response, deny, ...): not an upstream result.
    return out.then((o) => {
      if (o.kind === 'respond') forgetResponse(x, observers);
      return o;
    });
  }

  /** runResponse, reporting matched rules and actions to `trace`. */
  traceResponse(x: Exchange, endpoint: PolicyEndpoint, res: PolicyResponse, trace: PhaseTrace | undefined, host?: OutboundHost): Promise<ResponseOutcome> {
    // The final status, before response rules change it, for the breakers this exchange passed.
    if (this.#observers !== undefined) reportResponse(x, this.#observers, res.status);
    const rules = this.#phases.on_http_response;
    if (rules.length === 0) return PASS_PROMISE;
    const run = new PhaseRun('on_http_response', x, endpoint, undefined, res, trace, host);
    const r = runPhase(rules, run);
    if (r === undefined) return PASS_PROMISE;
    if (r instanceof Promise) return r.then((o) => (o === undefined ? PASS : toResponseOutcome(o)), failed);
    return Promise.resolve(toResponseOutcome(r));
  }
}

/** No terminating action ran: an agent endpoint forwards to its upstream; a cloud endpoint cannot. */
function endOfRequest(endpoint: PolicyEndpoint): Promise<RequestOutcome<unknown>> {
  return endpoint.type === 'cloud' ? Promise.resolve(NO_TERMINATING_ACTION) : PASS_PROMISE;
}

function settle(r: PhaseResult, atEnd: () => Promise<RequestOutcome<unknown>>): Promise<RequestOutcome<unknown>> {
  if (r === undefined) return atEnd();
  if (r instanceof Promise) {
    return r.then((o) => (o === undefined ? atEnd() : o), failed);
  }
  return Promise.resolve(r);
}

/** A rejected action promise that the run loop did not catch (a bug): never let it escape. */
function failed(e: unknown): { kind: 'error'; code: 'MG_INTERNAL'; message: string } {
  return { kind: 'error', code: 'MG_INTERNAL', message: `policy run failed: ${String((e as Error)?.message ?? e)}` };
}

function toResponseOutcome(o: NonNullable<ActionOutcome>): ResponseOutcome {
  if (o.kind === 'forwarded') return { kind: 'error', code: 'MG_INTERNAL', message: 'an action forwarded in on_http_response' };
  return o;
}

/** A policy with no rules: `hasPhase` is false for every phase, so the gateway can skip it. */
export const emptyPolicy: CompiledPolicy = new PolicyImpl('', { on_tcp_connect: [], on_http_request: [], on_http_response: [] });
