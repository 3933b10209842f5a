/**
 * The action registry: every Traffic Policy action is one file under actions/ that registers its
 * definition by its user-facing name (`registerAction('forward-internal', def)`). The compiler
 * looks actions up here; nothing else knows the list.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { CompiledExpression, RetryScope, Template } from '../cel/index.js';
import type {
  CompileOptions,
  Exchange,
  OutboundHost,
  Phase,
  PolicyEndpoint,
  PolicyResponse,
  RequestOutcome,
  RequestPhaseHost,
} from '../types.js';

/**
 * How a configured action can end its phase, used at load for the cloud-endpoint guarantee and
 * unreachable-action checks:
 * - `always`: the phase never continues past it (custom-response, deny, forward-internal with
 *   on_error: halt — it either forwards or ends the request with an error);
 * - `maybe`: it may end the phase or let it continue (forward-internal with on_error: continue,
 *   and in issue 4 rate-limit, basic-auth, redirect, ...);
 * - `never`: it always lets the phase continue (add-headers, set-vars, log, ...).
 */
export type Termination = 'always' | 'maybe' | 'never';

/** What an action's run returns: `undefined` to let the phase continue, or how the phase ends. */
export type ActionOutcome = RequestOutcome<unknown> | undefined;

/** What an action's compile step gets: where it is, and how to report problems. */
export interface ActionCompileContext {
  readonly phase: Phase;
  readonly options: CompileOptions;
  /** Full path of this action's `config`, e.g. `on_http_request[0].actions[1].config`. */
  readonly path: string;
  /** Reports a problem at `config.<relPath>` (relPath '' = the config itself). */
  issue(relPath: string, message: string): void;
  /**
   * Compiles a `${}` template for the field at `relPath`; on failure reports the issue there and
   * returns undefined.
   */
  template(source: string, relPath: string): Template | undefined;
}

/**
 * What a running action gets: the exchange, the host (request phase), helpers to evaluate its
 * templates, and a way to publish result variables. One per phase run; never kept after it.
 */
export interface ActionRunContext {
  readonly phase: Phase;
  readonly exchange: Exchange;
  readonly endpoint: PolicyEndpoint;
  /** The gateway, in on_http_request only (undefined in on_http_response). */
  readonly host: RequestPhaseHost<unknown> | undefined;
  /** The response head, in on_http_response only. */
  readonly response: PolicyResponse | undefined;
  /** Side requests (http-request), in both HTTP phases when the gateway offers them. */
  readonly outbound: OutboundHost | undefined;
  /** Interpolates a template as a string. Throws on a CEL runtime error (the loop reports it). */
  evalString(t: Template): string;
  /** Interpolates keeping the type of a lone `${expr}`. */
  evalValue(t: Template): unknown;
  /**
   * Evaluates an expression compiled with `compileRetryCondition` (http-request), with
   * `attempts` and `last_attempt` bound to `scope`. Throws on a CEL runtime error, like evalString.
   */
  evalRetryCondition(e: CompiledExpression, scope: RetryScope): unknown;
  /** Publishes `actions.ngrok.<name>` / `actions.meshgate.<name>` for later rules in this phase. */
  setResult(name: string, value: Record<string, unknown>): void;
  /** Sets `vars.<name>` for later rules in this phase (set-vars). */
  setVar(name: string, value: unknown): void;
}

/**
 * One action type. Registered once at module load; shared by every policy that uses it.
 *
 * `compile` is called once per use at policy load; `run` on every request whose rule matched.
 * Neither may throw for bad input (compile reports issues; run returns outcomes) — a CEL runtime
 * error thrown by `evalString` is the one exception, and the run loop turns it into
 * MG_POLICY_RUNTIME_ERROR. `run` must not block, must not buffer bodies, and returns a Promise
 * only when it really waits (the loop stays synchronous otherwise).
 */
export interface ActionDefinition<C> {
  /** Phases the action may appear in. */
  readonly phases: readonly Phase[];
  /** Names of the config fields, for "unknown field" messages. */
  readonly fields: readonly string[];
  /** Validates `config` (undefined when absent) and compiles its templates; undefined on issues. */
  compile(config: Record<string, unknown>, cx: ActionCompileContext): C | undefined;
  /** How this configured action can end its phase (static, at load). */
  termination(config: C): Termination;
  run(cx: ActionRunContext, config: C): ActionOutcome | Promise<ActionOutcome>;
  /**
   * Request-phase actions that read the whole request body return the most bytes they need
   * (their configured limit); the edge then buffers the body into `req.body` first. Absent = 0.
   */
  requestBodyLimit?(config: C): number;
  /**
   * Auth actions name the credential a request must carry to pass them, e.g.
   * `header:authorization` or `session:<auth_id>` (undefined when not enforced). Two actions
   * that may run on the same request and require the same credential conflict (a request
   * carries one Authorization header, one session of an auth_id): refused at load.
   */
  authCredential?(config: C): string | undefined;
}

/** Definitions are stored type-erased; each one only ever sees the config its own compile made. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry is heterogeneous by design
type AnyActionDefinition = ActionDefinition<any>;

const registry = new Map<string, AnyActionDefinition>();

/** Registers an action under its user-facing `type` name. Throws on a duplicate name (a bug). */
export function registerAction<C>(type: string, def: ActionDefinition<C>): void {
  if (registry.has(type)) throw new Error(`action type '${type}' is already registered`);
  registry.set(type, Object.freeze(def));
}

export function getAction(type: string): AnyActionDefinition | undefined {
  return registry.get(type);
}

/** Registered action names, sorted. */
export function actionTypes(): string[] {
  return [...registry.keys()].sort();
}

/** Shorthand for an outcome that ends the request with a gateway error. */
export function errorOutcome(code: ErrorCode, message: string): ActionOutcome {
  return { kind: 'error', code, message };
}
