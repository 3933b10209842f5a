/**
 * `${...}` interpolation in string config values (ngrok "CEL interpolation").
 *
 * At load a template is split once into literal pieces and placeholders, and each placeholder is
 * compiled like any expression. Per request the pieces are joined with the placeholders' values
 * stringified (celToString). A value that is exactly one placeholder (`"${vars.list}"`) keeps the
 * evaluated type when read with `evalValue`. A value with no placeholder is static: actions can
 * check it at load (forward-internal's URL) and skip evaluation entirely.
 *
 * Placeholders are found with a small scanner that knows CEL string literals and braces, so
 * `${ {'a': 'b}'}['a'] }` is one placeholder. There is no escape for a literal `${` (ngrok has
 * none either).
 */
import type { Phase } from '../types.js';
import type { EvalContext } from './eval-context.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import { compileExpression, describeEvaluationError, type CompiledExpression } from './environment.js';
import { celToString } from './values.js';

/** A compiled `${}` template. Immutable, shareable. */
export interface Template {
  readonly source: string;
  /** Where the template is in the policy (`on_http_request[0].actions[0].config.url`), for errors. */
  readonly label: string;
  /** True when the value has no placeholder: `staticValue` is the whole value. */
  readonly isStatic: boolean;
  readonly staticValue: string;
  /** Interpolates as a string. Throws PolicyRuntimeError naming the label and the placeholder. */
  evalString(cx: EvalContext): string;
  /** Like evalString, but a value that is exactly `${expr}` keeps the expression's type. */
  evalValue(cx: EvalContext): unknown;
}

export type TemplateResult = { ok: true; template: Template } | { ok: false; message: string };

class CompiledTemplate implements Template {
  readonly source: string;
  readonly label: string;
  readonly isStatic: boolean;
  readonly staticValue: string;
  /** Literal pieces: always exprs.length + 1 of them. */
  readonly #pieces: readonly string[];
  readonly #exprs: readonly CompiledExpression[];
  /** Exactly one placeholder and no literal text around it. */
  readonly #single: boolean;

  constructor(source: string, label: string, pieces: string[], exprs: CompiledExpression[]) {
    this.source = source;
    this.label = label;
    this.#pieces = pieces;
    this.#exprs = exprs;
    this.isStatic = exprs.length === 0;
    this.staticValue = this.isStatic ? pieces[0] : '';
    this.#single = exprs.length === 1 && pieces[0] === '' && pieces[1] === '';
    Object.freeze(this);
  }

  evalString(cx: EvalContext): string {
    const exprs = this.#exprs;
    const pieces = this.#pieces;
    if (exprs.length === 0) return pieces[0];
    let out = pieces[0];
    let i = 0;
    try {
      for (; i < exprs.length; i++) out += celToString(exprs[i].evaluate(cx)) + pieces[i + 1];
    } catch (e) {
      throw this.#fail(i, e);
    }
    return out;
  }

  evalValue(cx: EvalContext): unknown {
    if (!this.#single) return this.evalString(cx);
    try {
      return this.#exprs[0].evaluate(cx);
    } catch (e) {
      throw this.#fail(0, e);
    }
  }

  #fail(i: number, e: unknown): PolicyRuntimeError {
    const src = this.#exprs[i].source;
    return new PolicyRuntimeError(this.label, `in \${${shorten(src)}}: ${describeEvaluationError(e, src)}`);
  }
}

/**
 * Compiles a template for a phase; `label` is its path in the policy, used in runtime errors.
 * Never throws; the message names the bad placeholder.
 */
export function compileTemplate(source: string, phase: Phase, label: string): TemplateResult {
  const pieces: string[] = [];
  const exprs: CompiledExpression[] = [];
  let literal = '';
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('${', i);
    if (open < 0) {
      literal += source.slice(i);
      break;
    }
    literal += source.slice(i, open);
    const close = findClose(source, open + 2);
    if (close < 0) return { ok: false, message: `unterminated \${ at offset ${open}: add the closing }` };
    const body = source.slice(open + 2, close);
    if (body.trim() === '') return { ok: false, message: `empty \${} at offset ${open}` };
    const r = compileExpression(body, phase);
    if (!r.ok) return { ok: false, message: `in \${${shorten(body)}}: ${r.message}` };
    pieces.push(literal);
    exprs.push(r.expr);
    literal = '';
    i = close + 1;
  }
  pieces.push(literal);
  return { ok: true, template: new CompiledTemplate(source, label, pieces, exprs) };
}

/** Index of the `}` closing a placeholder whose body starts at `start`, or -1. */
function findClose(s: string, start: number): number {
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "'") {
      const raw = i > start && (s[i - 1] === 'r' || s[i - 1] === 'R');
      const end = skipString(s, i, raw);
      if (end < 0) return -1;
      i = end;
    } else if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/** Index of the last character of the string literal opening at `i` ('…', "…", '''…''', """…"""). */
function skipString(s: string, i: number, raw: boolean): number {
  const q = s[i];
  const triple = s.startsWith(q + q + q, i);
  const close = triple ? q + q + q : q;
  for (let j = i + close.length; j < s.length; j++) {
    if (s[j] === '\\' && !raw) {
      j++;
      continue;
    }
    if (s.startsWith(close, j)) return j + close.length - 1;
  }
  return -1;
}

function shorten(s: string): string {
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}
