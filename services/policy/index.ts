/**
 * The Traffic Policy engine: pure (no sockets, no timers), compiled once per policy, run per
 * request by the edge.
 *
 *   const r = compilePolicy(yamlText, {endpointType: 'cloud', protocol: 'https', binding: 'public'});
 *   if (!r.ok) -> r.issues (every problem, with path and line)
 *   const outcome = await r.policy.runRequest(exchange, endpoint, host);
 */
export * from './types.js';
export { compilePolicy } from './compile-policy.js';
export { emptyPolicy } from './compiled-policy.js';
export {
  registerAction,
  actionTypes,
  type ActionDefinition,
  type ActionCompileContext,
  type ActionRunContext,
  type ActionOutcome,
  type Termination,
} from './actions/registry.js';
export { PolicyRuntimeError } from './policy-runtime-error.js';
export { SecretVaults, type VaultsData } from './secret-vaults.js';
export { internalUrlProblem } from './actions/forward-internal.js';
export {
  parseRequestSpec,
  simulateRequest,
  endpointFromUrl,
  compileOptionsFor,
  type RequestSpec,
  type SimulationOptions,
  type SimulatedHttpAnswer,
  type SimulationResult,
  type PhaseReport,
  type OutcomeJson,
} from './simulate-request.js';
export { simulateConnect, type ConnectSimulationOptions, type ConnectSimulationResult, type ConnectOutcomeJson } from './simulate-connect.js';
export { LocalRateCounter, setGlobalRateCounter, setRateDecisionObserver, type RateCounter, type RateDecision } from './actions/rate-counter.js';
export { setJwksFetcher, clearJwksCache, type JwksFetcher } from './actions/jwks.js';
export { deriveSessionKey } from './actions/auth-flow/sealed-cookie.js';
