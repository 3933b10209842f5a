/**
 * Guarding `matches()` against regexes that would hurt the gateway.
 *
 * The CEL library runs `matches()` with JavaScript's backtracking `RegExp`; ngrok documents RE2
 * (linear time, no lookaround, no backreferences). Two defences:
 *
 * 1. At policy load, every literal pattern (`x.matches('^/v[0-9]+/')`, `matches(x, '...')`) is
 *    compiled, and constructs RE2 does not have (lookahead/lookbehind, backreferences) are
 *    refused, so a policy that works here also means the same thing under ngrok, and every
 *    accepted literal pattern is one V8's linear engine can run.
 * 2. At module load we switch on V8's `--enable-experimental-regexp-engine-on-excessive-backtracks`:
 *    a regex that starts backtracking excessively is re-run on V8's linear-time engine. Measured:
 *    `'^(a+)+$'` on 28 characters goes from 3.6 s to 0 ms. This is process-wide and affects only
 *    regexes that would otherwise backtrack catastrophically (same results, bounded time).
 *    Patterns built at runtime (`matches(vars.re)`) are covered by this second defence only.
 */
import { setFlagsFromString } from 'node:v8';
import { findInAst, isAstNode, type AstLike } from './ast-walk.js';

setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** Minimal view of the library's AST nodes (op + args), enough to walk them. */
export interface RegexProblem {
  message: string;
  /** Offset of the pattern literal in the expression. */
  offset: number;
}

/** Finds the first problem with a literal `matches()` pattern in a parsed expression. */
export function checkLiteralRegexes(ast: unknown): RegexProblem | undefined {
  return findInAst(ast, (v) => {
    let pattern: AstLike | undefined;
    if (v.op === 'rcall') {
      const [name, , args] = v.args as [string, unknown, unknown[]];
      if (name === 'matches' && args.length === 1 && isAstNode(args[0])) pattern = args[0];
    } else if (v.op === 'call') {
      const [name, args] = v.args as [string, unknown[]];
      if (name === 'matches' && args.length === 2 && isAstNode(args[1])) pattern = args[1];
    }
    if (pattern && pattern.op === 'value' && typeof pattern.args === 'string') {
      const message = regexProblem(pattern.args);
      if (message) return { message, offset: pattern.range?.start ?? 0 };
    }
    return undefined;
  });
}

/** Why a pattern is refused, or undefined when it is fine. */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch (e) {
    return `invalid regular expression '${pattern}': ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/: /, '')}`;
  }
  const unsupported = re2Unsupported(pattern);
  if (unsupported) return `regular expression '${pattern}' uses ${unsupported}, which RE2 (the regex syntax of Traffic Policy) does not support`;
  return undefined;
}

/** Scans a (valid) JS pattern for constructs RE2 lacks. Skips escapes and character classes. */
function re2Unsupported(p: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      const n = p[i + 1];
      if (!inClass && n !== undefined && /[1-9]/.test(n)) return 'a backreference';
      if (!inClass && n === 'k' && p[i + 2] === '<') return 'a named backreference';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(' && p[i + 1] === '?') {
      const a = p[i + 2];
      const b = p[i + 3];
      if (a === '=' || a === '!') return 'a lookahead';
      if (a === '<' && (b === '=' || b === '!')) return 'a lookbehind';
    }
  }
  return undefined;
}
