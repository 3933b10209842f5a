/*
 * Running one phase of a compiled Traffic Policy over one request.
 *
 * Algorithm (ngrok semantics, reference §3.3):
 *   for each rule, in document order:
 *     evaluate its expressions left to right; the rule matches when all are true (none = always)
 *     if it matches, run its actions in order:
 *       an action returns `undefined`  → go on with the next action, then the next rule
 *       an action returns an outcome   → the phase ends with it (terminating action)
 *   no rule ended the phase → the caller decides (`pass`, or MG_NO_TERMINATING_ACTION for a cloud
 *   endpoint).
 * Every matching rule runs (not first-match). forward-internal with on_error: continue returns
 * `undefined` after a failed forward, so the following actions and rules run (failover).
 *
 * Errors — what we chose where ngrok is not explicit:
 *   - A CEL evaluation error inside an expression (e.g. `req.headers['x-nope'][0]` on a missing
 *     key) ends the phase with `{kind: 'error', code: 'MG_POLICY_RUNTIME_ERROR'}` naming the rule
 *     and expression. It is NOT treated as a silent `false`: a policy that cannot be evaluated
 *     should be visible, not skip a security rule. Guard with `'x' in req.headers` or
 *     `req.headers[?'x']`.
 *   - An expression whose value is not a bool at runtime (possible only for `dyn` expressions such
 *     as `vars.flag`) is the same runtime error.
 *   - A CEL error while interpolating an action's `${}` is the same runtime error, whatever the
 *     action's on_error says (on_error is about the action's own failure, e.g. a failed forward).
 *   - Anything else thrown by an action is a bug: outcome MG_INTERNAL, never an exception.
 *
 * Cost: the loop is synchronous and allocates nothing per rule. It goes asynchronous only when
 * an action returns a Promise (forward-internal): the rest of the phase then resumes in `.then`
 * at the next action. The per-run state (PhaseRun + its lazy EvalContext) is two objects.
 */
import type { ErrorCode } from '../core/errors.js';
import type { ActionDefinition, ActionOutcome, ActionRunContext, Termination } from './actions/registry.js';
import { describeEvaluationError, EvalContext, isCelError, type CompiledExpression, type RetryScope, type Template } from './cel/index.js';
import { PolicyRuntimeError } from './policy-runtime-error.js';
import type { Exchange, OutboundHost, Phase, PolicyEndpoint, PolicyResponse, RequestPhaseHost } from './types.js';

/** One action of a compiled rule. */
export interface CompiledAction {
  /** User-facing action type, e.g. `forward-internal`. */
  readonly type: string;
  /** Path in the policy, e.g. `on_http_request[0].actions[1]`. */
  readonly path: string;
  readonly def: ActionDefinition<unknown>;
  /** The action's own compiled config (opaque here). */
  readonly config: unknown;
  readonly termination: Termination;
}

/** One compiled rule. */
export interface CompiledRule {
  /** Path in the policy, e.g. `on_http_request[2]` (or `inbound[2]` when the legacy key is used). */
  readonly path: string;
  readonly name: string | undefined;
  readonly expressions: readonly CompiledExpression[];
  readonly actions: readonly CompiledAction[];
}

/** Observer for `meshgate policy test` and tests: which rules matched, which actions ran. */
export interface PhaseTrace {
  rule(rule: CompiledRule, matched: boolean): void;
  action(action: CompiledAction): void;
}

/** State of one phase run, handed to actions as their ActionRunContext. */
export class PhaseRun implements ActionRunContext {
  readonly phase: Phase;
  readonly exchange: Exchange;
  readonly endpoint: PolicyEndpoint;
  readonly host: RequestPhaseHost<unknown> | undefined;
  readonly response: PolicyResponse | undefined;
  readonly outbound: OutboundHost | undefined;
  readonly ctx: EvalContext;
  readonly trace: PhaseTrace | undefined;

  constructor(
    phase: Phase,
    x: Exchange,
    endpoint: PolicyEndpoint,
    host: RequestPhaseHost<unknown> | undefined,
    response: PolicyResponse | undefined,
    trace: PhaseTrace | undefined,
    outbound?: OutboundHost,
  ) {
    this.phase = phase;
    this.exchange = x;
    this.endpoint = endpoint;
    this.host = host;
    this.response = response;
    this.outbound = outbound ?? (host?.httpRequest !== undefined ? (host as OutboundHost) : undefined);
    this.trace = trace;
    this.ctx = new EvalContext(x, endpoint, response);
  }

  evalString(t: Template): string {
    return t.evalString(this.ctx);
  }
  evalValue(t: Template): unknown {
    return t.evalValue(this.ctx);
  }
  evalRetryCondition(e: CompiledExpression, scope: RetryScope): unknown {
    this.ctx.retryScope = scope;
    try {
      return e.evaluate(this.ctx);
    } finally {
      this.ctx.retryScope = undefined;
    }
  }
  setResult(name: string, value: Record<string, unknown>): void {
    this.ctx.setResult(name, value);
  }
  setVar(name: string, value: unknown): void {
    this.ctx.setVar(name, value);
  }
}

export type PhaseResult = ActionOutcome | Promise<ActionOutcome>;

/** Runs `rules` from the start. Never throws; a Promise only if some action waited. */
export function runPhase(rules: readonly CompiledRule[], run: PhaseRun): PhaseResult {
  return runFrom(rules, run, 0, 0);
}

/** Runs from rule `i`, action `k` (k > 0 only when resuming after an awaited action). */
function runFrom(rules: readonly CompiledRule[], run: PhaseRun, i: number, k: number): PhaseResult {
  let j = -1; // expression being evaluated, -1 while running actions
  try {
    for (; i < rules.length; i++) {
      const rule = rules[i];
      if (k === 0) {
        const exprs = rule.expressions;
        let matched = true;
        for (j = 0; j < exprs.length; j++) {
          const v = exprs[j].evaluate(run.ctx);
          if (v === true) continue;
          if (v !== false) throw notBool(rule, j, v);
          matched = false;
          break;
        }
        j = -1;
        if (run.trace !== undefined) run.trace.rule(rule, matched);
        if (!matched) continue;
      }
      const actions = rule.actions;
      for (; k < actions.length; k++) {
        const a = actions[k];
        if (run.trace !== undefined) run.trace.action(a);
        const out = a.def.run(run, a.config);
        if (out === undefined) continue;
        if (out instanceof Promise) return resume(out, rules, run, i, k);
        return out;
      }
      k = 0;
    }
    return undefined;
  } catch (e) {
    return failure(e, rules[i], j, k);
  }
}

function resume(p: Promise<ActionOutcome>, rules: readonly CompiledRule[], run: PhaseRun, i: number, k: number): Promise<ActionOutcome> {
  return p.then(
    (out) => (out !== undefined ? out : runFrom(rules, run, i, k + 1)),
    (e: unknown) => failure(e, rules[i], -1, k),
  );
}

function notBool(rule: CompiledRule, j: number, v: unknown): PolicyRuntimeError {
  const shown = typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v === 'bigint' ? `the int ${v}` : `${typeof v}`;
  return new PolicyRuntimeError(`${exprPath(rule, j)}`, `expression evaluated to ${shown}, not a bool`);
}

function exprPath(rule: CompiledRule, j: number): string {
  return `${rule.path}.expressions[${j}]${rule.name !== undefined ? ` (rule ${JSON.stringify(rule.name)})` : ''}`;
}

/** Turns anything thrown while running rule/expression j/action k into an error outcome. */
function failure(e: unknown, rule: CompiledRule | undefined, j: number, k: number): ActionOutcome {
  if (e instanceof PolicyRuntimeError) return runtimeError(e.message);
  if (rule === undefined) return internal(`policy run failed: ${String((e as Error)?.message ?? e)}`);
  if (j >= 0) {
    const expr = rule.expressions[j];
    if (isCelError(e)) return runtimeError(`${exprPath(rule, j)}: ${describeEvaluationError(e, expr.source)}`);
    return internal(`${exprPath(rule, j)}: ${String((e as Error)?.message ?? e)}`);
  }
  const action = rule.actions[k];
  const where = action ? `${action.path} (${action.type})` : rule.path;
  if (isCelError(e)) return runtimeError(`${where}: ${(e as Error).message.split('\n')[0]}`);
  return internal(`${where}: ${String((e as Error)?.message ?? e)}`);
}

function runtimeError(message: string): ActionOutcome {
  return { kind: 'error', code: 'MG_POLICY_RUNTIME_ERROR' satisfies ErrorCode, message };
}

function internal(message: string): ActionOutcome {
  return { kind: 'error', code: 'MG_INTERNAL' satisfies ErrorCode, message };
}
