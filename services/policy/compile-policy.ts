/**
 * Traffic Policy text → CompiledPolicy: parse (YAML/JSON) → validate every field → compile each
 * CEL expression and `${}` template once → static checks → freeze.
 *
 * Every problem is collected (never just the first) as `{path, message, line}`:
 *   on_http_request[0].expressions[1]: undeclared reference 'reqq' (column 1)
 *   on_http_request[2].actions[0].config.url: 'https://foo.com' is not an internal endpoint: ...
 *
 * Static checks after a phase compiled cleanly (check-termination.ts):
 *   - unreachable actions/rules after something that always ends the phase (ngrok 2207);
 *   - a cloud endpoint's traffic phase must always end in a terminating action (ngrok 2235);
 *   - auth actions that can run on the same request must not require the same credential
 *     (check-auth.ts).
 */
import type { Issue } from '../core/errors.js';
import './actions/builtin.js';
import { checkUnknownFields, describe, isPlainMap } from './actions/config.js';
import { actionTypes, getAction, type ActionCompileContext } from './actions/registry.js';
import { compileExpression, compileTemplate, type CompiledExpression } from './cel/index.js';
import { checkGuaranteedTermination, checkReachability, trafficPhase } from './check-termination.js';
import { checkAuthConflicts } from './check-auth.js';
import { PolicyImpl } from './compiled-policy.js';
import { joinPath, parseSource, type SourceTree } from './parse-source.js';
import type { CompiledAction, CompiledRule } from './run-phase.js';
import type { Binding, CompileOptions, CompileResult, EndpointType, Phase, Protocol } from './types.js';

/** Top-level keys → phase. `inbound`/`outbound` are ngrok's legacy names. */
const PHASE_KEYS: Readonly<Record<string, Phase>> = {
  on_http_request: 'on_http_request',
  on_http_response: 'on_http_response',
  on_tcp_connect: 'on_tcp_connect',
  inbound: 'on_http_request',
  outbound: 'on_http_response',
};
const PHASES: readonly Phase[] = ['on_tcp_connect', 'on_http_request', 'on_http_response'];
const RULE_FIELDS = ['name', 'expressions', 'actions'] as const;
const ACTION_FIELDS = ['type', 'config'] as const;
/** Longest rule name accepted. */
const MAX_NAME_LENGTH = 256;

/** Collects issues, attaching the source line of each path. */
export class IssueList {
  readonly #tree: SourceTree | undefined;
  readonly #issues: Issue[] = [];
  constructor(tree: SourceTree | undefined) {
    this.#tree = tree;
  }
  add(path: string, message: string): void {
    const line = this.#tree?.lineOf(path);
    this.#issues.push(line === undefined ? { path, message } : { path, message, line });
  }
  get count(): number {
    return this.#issues.length;
  }
  list(): Issue[] {
    return this.#issues.slice();
  }
}

/**
 * Compiles a Traffic Policy for an endpoint described by `opts`. Never throws: bad input comes
 * back as `{ok: false, issues}` listing every problem found.
 */
export function compilePolicy(source: string, opts: CompileOptions): CompileResult {
  try {
    return compile(source, opts);
  } catch (e) {
    return { ok: false, issues: [{ path: '', message: `internal error while compiling the policy: ${(e as Error)?.message ?? String(e)}` }] };
  }
}

function compile(source: string, opts: CompileOptions): CompileResult {
  const optionProblem = checkOptions(opts);
  if (optionProblem) return { ok: false, issues: [{ path: '', message: optionProblem }] };
  if (typeof source !== 'string') return { ok: false, issues: [{ path: '', message: 'the policy must be text (YAML or JSON)' }] };

  const parsed = parseSource(source);
  if (!parsed.ok) return { ok: false, issues: parsed.issues };
  const issues = new IssueList(parsed.tree);
  const top = parsed.tree.value;

  const phases: Record<Phase, CompiledRule[]> = { on_tcp_connect: [], on_http_request: [], on_http_response: [] };
  /** phase → the key it was written as, and whether it compiled cleanly */
  const seen = new Map<Phase, { key: string; clean: boolean }>();

  if (top !== null && !isPlainMap(top)) {
    issues.add('', `a Traffic Policy must be a map of phases (${PHASES.join(', ')}), got ${describe(top)}`);
  } else if (top !== null) {
    for (const key of Object.keys(top)) {
      const phase = PHASE_KEYS[key];
      if (phase === undefined) {
        issues.add(key, `unknown phase '${key}'${didYouMean(key, Object.keys(PHASE_KEYS))}; expected ${PHASES.join(', ')}`);
        continue;
      }
      const other = seen.get(phase);
      if (other) {
        issues.add(key, `'${key}' and '${other.key}' are the same phase (${phase}); put all its rules under ${phase}`);
        continue;
      }
      const unavailable = phaseUnavailable(phase, opts);
      if (unavailable) {
        issues.add(key, unavailable);
        seen.set(phase, { key, clean: false });
        continue;
      }
      const before = issues.count;
      phases[phase] = compileRules(top[key], key, phase, opts, issues);
      const clean = issues.count === before;
      seen.set(phase, { key, clean });
      if (clean) {
        checkReachability(phases[phase], phase, issues);
        checkAuthConflicts(phases[phase], issues);
      }
    }
  }

  if (opts.endpointType === 'cloud') {
    const phase = trafficPhase(opts.protocol);
    const s = seen.get(phase);
    if (!s || s.clean) checkGuaranteedTermination(phases[phase], phase, s?.key, issues);
  }

  if (issues.count > 0) return { ok: false, issues: issues.list() };
  return { ok: true, policy: new PolicyImpl(source, phases) };
}

function checkOptions(opts: CompileOptions): string | undefined {
  const types: readonly EndpointType[] = ['agent', 'cloud'];
  const protocols: readonly Protocol[] = ['http', 'https', 'tcp', 'tls'];
  const bindings: readonly Binding[] = ['public', 'internal'];
  if (!opts || !types.includes(opts.endpointType)) return `compile options: endpointType must be one of ${types.join(', ')}`;
  if (!protocols.includes(opts.protocol)) return `compile options: protocol must be one of ${protocols.join(', ')}`;
  if (!bindings.includes(opts.binding)) return `compile options: binding must be one of ${bindings.join(', ')}`;
  return undefined;
}

/** Why `phase` cannot be used on this endpoint, or undefined. */
function phaseUnavailable(phase: Phase, opts: CompileOptions): string | undefined {
  const http = opts.protocol === 'http' || opts.protocol === 'https';
  if (phase !== 'on_tcp_connect' && !http) return `${phase} is not available for ${opts.protocol} endpoints; use on_tcp_connect`;
  if (phase === 'on_tcp_connect' && http && opts.binding === 'internal') {
    return `on_tcp_connect is not supported for internal ${opts.protocol} endpoints: requests reach them through forward-internal, not over a new TCP connection`;
  }
  return undefined;
}

function compileRules(value: unknown, key: string, phase: Phase, opts: CompileOptions, issues: IssueList): CompiledRule[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    const hint = isPlainMap(value) && 'actions' in value ? ` (write each rule as a list item: '- actions: [...]')` : '';
    issues.add(key, `must be a list of rules, got ${describe(value)}${hint}`);
    return [];
  }
  const rules: CompiledRule[] = [];
  value.forEach((raw, i) => {
    const rule = compileRule(raw, `${key}[${i}]`, phase, opts, issues);
    if (rule) rules.push(rule);
  });
  return rules;
}

function compileRule(raw: unknown, path: string, phase: Phase, opts: CompileOptions, issues: IssueList): CompiledRule | undefined {
  if (!isPlainMap(raw)) {
    issues.add(path, `must be a rule (a map with expressions and actions), got ${describe(raw)}`);
    return undefined;
  }
  const before = issues.count;
  for (const k of Object.keys(raw)) {
    if (!(RULE_FIELDS as readonly string[]).includes(k)) {
      issues.add(joinPath(path, k), `unknown field '${k}'${didYouMean(k, RULE_FIELDS)}; a rule has ${RULE_FIELDS.join(', ')}`);
    }
  }

  let name: string | undefined;
  if (raw.name !== undefined && raw.name !== null) {
    if (typeof raw.name !== 'string') issues.add(`${path}.name`, `must be a string, got ${describe(raw.name)}`);
    else if (raw.name.length > MAX_NAME_LENGTH) issues.add(`${path}.name`, `must be at most ${MAX_NAME_LENGTH} characters`);
    else name = raw.name;
  }

  const expressions: CompiledExpression[] = [];
  const rawExprs = raw.expressions;
  if (rawExprs !== undefined && rawExprs !== null) {
    if (!Array.isArray(rawExprs)) {
      issues.add(`${path}.expressions`, `must be a list of CEL expressions, got ${describe(rawExprs)}`);
    } else {
      rawExprs.forEach((src, j) => {
        const p = `${path}.expressions[${j}]`;
        if (typeof src !== 'string') {
          issues.add(p, `must be a CEL expression string, got ${describe(src)} (quote it in YAML)`);
          return;
        }
        const r = compileExpression(src, phase, 'bool');
        if (r.ok) expressions.push(r.expr);
        else issues.add(p, r.message);
      });
    }
  }

  const actions: CompiledAction[] = [];
  const rawActions = raw.actions;
  if (rawActions === undefined || rawActions === null) {
    issues.add(`${path}.actions`, 'is required: a rule needs at least one action');
  } else if (!Array.isArray(rawActions)) {
    issues.add(`${path}.actions`, `must be a list of actions, got ${describe(rawActions)}`);
  } else if (rawActions.length === 0) {
    issues.add(`${path}.actions`, 'must not be empty: a rule needs at least one action');
  } else {
    rawActions.forEach((a, k) => {
      const compiled = compileAction(a, `${path}.actions[${k}]`, phase, opts, issues);
      if (compiled) actions.push(compiled);
    });
  }

  if (issues.count > before) return undefined;
  return Object.freeze({ path, name, expressions: Object.freeze(expressions), actions: Object.freeze(actions) });
}

function compileAction(raw: unknown, path: string, phase: Phase, opts: CompileOptions, issues: IssueList): CompiledAction | undefined {
  if (!isPlainMap(raw)) {
    issues.add(path, `must be an action (a map with type and config), got ${describe(raw)}`);
    return undefined;
  }
  const before = issues.count;
  for (const k of Object.keys(raw)) {
    if (!(ACTION_FIELDS as readonly string[]).includes(k)) {
      issues.add(joinPath(path, k), `unknown field '${k}'${didYouMean(k, ACTION_FIELDS)}; an action has type and config`);
    }
  }
  const type = raw.type;
  if (type === undefined || type === null) {
    issues.add(`${path}.type`, `is required; one of ${actionTypes().join(', ')}`);
    return undefined;
  }
  if (typeof type !== 'string') {
    issues.add(`${path}.type`, `must be a string, got ${describe(type)}`);
    return undefined;
  }
  const def = getAction(type);
  if (!def) {
    issues.add(`${path}.type`, `unknown action type '${type}'${didYouMean(type, actionTypes())}; known types: ${actionTypes().join(', ')}`);
    return undefined;
  }
  if (!def.phases.includes(phase)) {
    issues.add(`${path}.type`, `${type} cannot be used in ${phase}; it is allowed in ${def.phases.join(', ')}`);
    return undefined;
  }

  const configPath = `${path}.config`;
  let config = raw.config;
  if (config === undefined || config === null) config = {};
  if (!isPlainMap(config)) {
    issues.add(configPath, `must be a map of ${type} settings, got ${describe(config)}`);
    return undefined;
  }
  const cx: ActionCompileContext = {
    phase,
    options: opts,
    path: configPath,
    issue: (rel, message) => issues.add(subPath(configPath, rel), message),
    template: (src, rel) => {
      const p = subPath(configPath, rel);
      const r = compileTemplate(src, phase, p);
      if (r.ok) return r.template;
      issues.add(p, r.message);
      return undefined;
    },
  };
  checkUnknownFields(type, config, def.fields, cx);
  const compiled = def.compile(config, cx);
  if (compiled === undefined && issues.count === before) issues.add(configPath, `invalid ${type} config`);
  if (compiled === undefined || issues.count > before) return undefined;
  return Object.freeze({ type, path, def, config: compiled, termination: def.termination(compiled) });
}

function subPath(base: string, rel: string): string {
  if (rel === '') return base;
  return rel.startsWith('[') ? base + rel : `${base}.${rel}`;
}

/** ` (did you mean 'x'?)` when a candidate is within edit distance 2 (3 for long words). */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestD = word.length >= 8 ? 3 : 2;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d > 0 && d <= bestD) {
      best = c;
      bestD = d;
    }
  }
  return best ? ` (did you mean '${best}'?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
