/*
 * Static termination analysis of a compiled phase, at load.
 *
 * Each configured action declares how it can end its phase (registry.ts `Termination`):
 * `always` (custom-response, deny, forward-internal with on_error: halt), `maybe`
 * (forward-internal with on_error: continue: it falls through when the forward fails) or `never`.
 *
 * A rule "always ends the phase" when it has no expressions (it matches every request) and one
 * of its actions is `always`.
 *
 * 1. Reachability (ngrok ERR_NGROK_2207), for every endpoint type and phase: an action after an
 *    `always` action of the same rule never runs; a rule after a rule that always ends the phase
 *    never runs. Both are refused: they are always a mistake (usually rules in the wrong order).
 * 2. Guaranteed termination (ngrok ERR_NGROK_2235), cloud endpoints only: a cloud endpoint has no
 *    upstream of its own, so its traffic phase (on_http_request for http/https, on_tcp_connect
 *    for tcp/tls) must contain a rule that always ends the phase. Since rules after such a rule
 *    are refused by (1), in a valid policy it is the last rule.
 * Conditions are not analysed: `expressions: ['true']` does not count as "no expressions".
 */
import type { CompiledRule } from './run-phase.js';
import type { Phase, Protocol } from './types.js';

interface IssueSink {
  add(path: string, message: string): void;
}

/** The phase every request/connection of a protocol goes through. */
export function trafficPhase(protocol: Protocol): Phase {
  return protocol === 'http' || protocol === 'https' ? 'on_http_request' : 'on_tcp_connect';
}

function alwaysEnds(rule: CompiledRule): boolean {
  return rule.expressions.length === 0 && rule.actions.some((a) => a.termination === 'always');
}

/** Reports unreachable actions and rules in one phase. */
export function checkReachability(rules: readonly CompiledRule[], phase: Phase, issues: IssueSink): void {
  let endedBy: CompiledRule | undefined;
  for (const rule of rules) {
    if (endedBy) {
      issues.add(rule.path, `unreachable rule: ${endedBy.path} has no expressions and always ends ${phase}, so this rule never runs`);
      continue;
    }
    const stop = rule.actions.find((a) => a.termination === 'always');
    if (stop) {
      const next = rule.actions[rule.actions.indexOf(stop) + 1];
      if (next) issues.add(next.path, `unreachable action: ${stop.type} at ${stop.path} always ends ${phase}, so the actions after it never run`);
    }
    if (alwaysEnds(rule)) endedBy = rule;
  }
}

const TERMINATING = 'a terminating action (custom-response, deny, or forward-internal with on_error: halt)';

/**
 * Reports a cloud endpoint's traffic phase that is missing, empty or may end without a
 * terminating action. `key` is the top-level key the phase was written as (undefined if absent).
 */
export function checkGuaranteedTermination(rules: readonly CompiledRule[], phase: Phase, key: string | undefined, issues: IssueSink): void {
  if (key === undefined || rules.length === 0) {
    issues.add(key ?? phase, `a cloud endpoint has no upstream of its own: its policy needs ${phase} rules that end every request with ${TERMINATING}`);
    return;
  }
  if (rules.some(alwaysEnds)) return;
  const last = rules[rules.length - 1];
  if (last.expressions.length > 0) {
    issues.add(
      `${last.path}.expressions`,
      `a cloud endpoint must end every request with ${TERMINATING}, but requests that match no rule fall through: add a last rule without expressions`,
    );
    return;
  }
  const maybe = [...last.actions].reverse().find((a) => a.termination === 'maybe');
  if (maybe) {
    issues.add(
      maybe.path,
      `a cloud endpoint must end every request with ${TERMINATING}, but ${maybe.type} here can let the request continue (on_error: continue falls through when it fails): follow it with custom-response or deny`,
    );
    return;
  }
  issues.add(`${last.path}.actions`, `a cloud endpoint must end every request with ${TERMINATING}, but the last rule has none`);
}
