/**
 * Walking a parsed cel-js expression for load-time checks of literals (regex-guard.ts: patterns
 * of `matches()`; format-guard.ts: `format()`, hash output formats, `flatten`, `lists.range`).
 * The AST is cel-js's own shape — `{op, args, range?, checkedType?}` nodes — read defensively.
 */

export interface AstLike {
  op: string;
  args: unknown;
  range?: { start: number; end: number };
  checkedType?: { name?: string };
}

export function isAstNode(v: unknown): v is AstLike {
  return typeof v === 'object' && v !== null && typeof (v as AstLike).op === 'string' && 'args' in v;
}

/**
 * Visits every node depth-first and returns the first non-undefined result of `check`
 * (the walk stops there). Literal values and identifiers are leaves.
 */
export function findInAst<T>(ast: unknown, check: (node: AstLike) => T | undefined): T | undefined {
  let found: T | undefined;
  const visit = (v: unknown): void => {
    if (found !== undefined) return;
    if (Array.isArray(v)) {
      for (const item of v) visit(item);
      return;
    }
    if (!isAstNode(v)) return;
    found = check(v);
    if (found !== undefined) return;
    if (v.op !== 'value' && v.op !== 'id') visit(v.args);
  };
  visit(ast);
  return found;
}
