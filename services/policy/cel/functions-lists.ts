/**
 * ngrok's list functions that the CEL library lacks (its own `join`, `size` and the `all`,
 * `exists`, `exists_one`, `map`, `filter` macros are not re-registered).
 *
 *   list.distinct(): list                 first occurrence kept (CEL equality for scalars)
 *   list.sort(): list                     ascending; every element the same comparable type
 *   list.sortBy(x, keyExpr): list         macro: ascending by keyExpr evaluated with x bound to
 *                                         each element; stable; keys all the same comparable type
 *   list.reverse(): list, list.slice(start, end): list
 *   list.flatten([depth]): list           depth levels of nested lists (default 1, 0 = unchanged);
 *                                         a negative depth is an error
 *   lists.range(n): list<int>             [0, 1, ..., n-1]; [] when n <= 0; at most MAX_RANGE
 *
 * Comparable types (ngrok's list): int, uint, double, bool, string, bytes, timestamp, duration.
 * Types are compared as CEL types, so `[1, 2.0].sort()` is an error like `[1, 'b'].sort()`.
 * Strings compare by code point (the order of their UTF-8 bytes), bytes byte-wise.
 *
 * sortBy is a macro: its second argument is an expression, not a value. The checker refuses
 * a receiver that is not a list and a key whose checked type is not comparable; `dyn` keys
 * are checked per evaluation.
 */
import { ParseError, type Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { celFail, registerNamespace } from './namespace.js';

/** Longest list lists.range builds: a policy must not allocate without bound per request. */
export const MAX_RANGE = 10_000;

/** The CEL type of a comparable value, or undefined when the value cannot be ordered. */
type Comparable = 'int' | 'uint' | 'double' | 'bool' | 'string' | 'bytes' | 'timestamp' | 'duration';

/** Checked type names whose values can be ordered; 'dyn' is decided per value. */
const COMPARABLE_TYPES: Record<string, Comparable> = {
  int: 'int',
  uint: 'uint',
  double: 'double',
  bool: 'bool',
  string: 'string',
  bytes: 'bytes',
  'google.protobuf.Timestamp': 'timestamp',
  'google.protobuf.Duration': 'duration',
};

const COMPARABLE_TEXT = 'int, uint, double, bool, string, bytes, timestamp or duration';

function comparableKind(v: unknown): Comparable | undefined {
  switch (typeof v) {
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return undefined;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Date) return 'timestamp';
  if (v instanceof UnsignedInt) return 'uint';
  if (v instanceof Duration) return 'duration';
  return undefined;
}

/** Code point order: a UTF-16 surrogate (a code point above U+FFFF) sorts after U+E000-U+FFFF. */
function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

function compareSame(kind: Comparable, a: unknown, b: unknown): number {
  switch (kind) {
    case 'string':
      return compareStrings(a as string, b as string);
    case 'bytes':
      return Buffer.compare(a as Uint8Array, b as Uint8Array);
    case 'timestamp':
      return (a as Date).getTime() - (b as Date).getTime();
    case 'duration': {
      const x = a as Duration;
      const y = b as Duration;
      return x.seconds !== y.seconds ? (x.seconds < y.seconds ? -1 : 1) : x.nanos - y.nanos;
    }
    case 'bool':
      return Number(a) - Number(b);
    default: {
      // int (bigint), uint (valueOf → bigint), double
      const x = kind === 'uint' ? (a as UnsignedInt).value : (a as number | bigint);
      const y = kind === 'uint' ? (b as UnsignedInt).value : (b as number | bigint);
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
}

/** `values` in ascending order as indexes into it (stable); fails unless all share one comparable type. */
function sortedOrder(fn: string, values: readonly unknown[], what: string): number[] {
  const order = values.map((_v, i) => i);
  if (values.length === 0) return order;
  const kind = comparableKind(values[0]);
  if (kind === undefined) celFail(`${fn}: ${what} must be ${COMPARABLE_TEXT} values`);
  for (const v of values) {
    if (comparableKind(v) !== kind) celFail(`${fn}: ${what} must all have the same type (${kind} and ${comparableKind(v) ?? 'a value that cannot be ordered'})`);
  }
  return order.sort((i, j) => compareSame(kind, values[i], values[j]));
}

export function sortList(list: readonly unknown[]): unknown[] {
  return sortedOrder('sort', list, 'list elements').map((i) => list[i]);
}

function scalarKey(v: unknown): unknown {
  // CEL equality: 1 == 1.0; distinct treats them as one value.
  return typeof v === 'bigint' ? Number(v) : v;
}

export function distinct(list: readonly unknown[]): unknown[] {
  const seen = new Set<unknown>();
  const out: unknown[] = [];
  for (const v of list) {
    const key = typeof v === 'object' && v !== null ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)) : scalarKey(v);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}

function slice(list: readonly unknown[], start: bigint, end: bigint): unknown[] {
  if (start < 0n || end < start || end > BigInt(list.length)) celFail(`slice: indexes [${start}, ${end}) out of range for a list of ${list.length}`);
  return list.slice(Number(start), Number(end));
}

/** Flattens `depth` levels of nested lists. Iterative: a deeply nested JSON value cannot overflow the stack. */
export function flatten(list: readonly unknown[], depth: bigint): unknown[] {
  if (depth < 0n) celFail(`flatten: depth must not be negative, got ${depth}`);
  const out: unknown[] = [];
  const stack: { list: readonly unknown[]; at: number; depth: bigint }[] = [{ list, at: 0, depth }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.at >= top.list.length) {
      stack.pop();
      continue;
    }
    const v = top.list[top.at++];
    if (Array.isArray(v) && top.depth > 0n) stack.push({ list: v, at: 0, depth: top.depth - 1n });
    else out.push(v);
  }
  return out;
}

export function range(n: bigint): bigint[] {
  if (n > BigInt(MAX_RANGE)) celFail(`lists.range: ${n} is above the limit of ${MAX_RANGE} elements`);
  const out: bigint[] = [];
  for (let i = 0n; i < n; i++) out.push(i);
  return out;
}

// ---- sortBy: a macro over the library's checker and evaluator ----------------------------------
// The shapes below are the parts of @marcbachmann/cel-js's (untyped) macro interface used here,
// the same ones its own `cel.bind` macro uses.

interface MacroNode {
  op: string;
  args: unknown;
}
interface CheckedType {
  kind: string;
  name: string;
  valueType?: CheckedType;
}
interface CheckContext {
  forkWithVariable(name: string, type: CheckedType): IterContext;
}
interface IterContext extends CheckContext {
  reuse(parent: unknown): IterContext;
  setIterValue(v: unknown, ev: unknown): IterContext;
}
interface Checker {
  check(node: MacroNode, ctx: unknown): CheckedType;
  createError(code: string, message: string, node: MacroNode): Error;
  registry: { getListType(t: CheckedType): CheckedType };
  dynType: CheckedType;
}
interface Evaluator {
  run(node: MacroNode, ctx: unknown): unknown;
}
interface SortByMacro {
  receiver: MacroNode;
  iterVar: string;
  key: MacroNode;
  iterCtx?: IterContext;
  async: false;
  typeCheck(checker: Checker, macro: SortByMacro, ctx: CheckContext): CheckedType;
  evaluate(ev: Evaluator, macro: SortByMacro, ctx: unknown): unknown;
}

function sortByTypeCheck(checker: Checker, macro: SortByMacro, ctx: CheckContext): CheckedType {
  const listType = checker.check(macro.receiver, ctx);
  if (listType.kind !== 'list' && listType.kind !== 'dyn') {
    throw checker.createError('invalid_macro_argument', `sortBy: the receiver must be a list, got '${listType.name}'`, macro.receiver);
  }
  const elemType = listType.kind === 'list' && listType.valueType ? listType.valueType : checker.dynType;
  macro.iterCtx = ctx.forkWithVariable(macro.iterVar, elemType);
  const keyType = checker.check(macro.key, macro.iterCtx);
  // 'param': the element type of an empty literal (`[]`), which has no keys to compare.
  if (keyType.kind !== 'dyn' && keyType.kind !== 'param' && COMPARABLE_TYPES[keyType.name] === undefined) {
    throw checker.createError('invalid_macro_argument', `sortBy: the key must be ${COMPARABLE_TEXT}, got '${keyType.name}'`, macro.key);
  }
  return listType.kind === 'list' ? listType : checker.registry.getListType(checker.dynType);
}

function sortByEvaluate(ev: Evaluator, macro: SortByMacro, ctx: unknown): unknown {
  const items = ev.run(macro.receiver, ctx);
  if (!Array.isArray(items)) return celFail('sortBy: the receiver is not a list');
  const iter = macro.iterCtx!.reuse(ctx);
  const keys = new Array<unknown>(items.length);
  for (let i = 0; i < items.length; i++) {
    const k = ev.run(macro.key, iter.setIterValue(items[i], ev));
    if (k instanceof Promise) return celFail('sortBy: the key expression must be synchronous');
    keys[i] = k;
  }
  return sortedOrder('sortBy', keys, 'keys').map((i) => items[i]);
}

/** Called by the parser for every `<receiver>.sortBy(a, b)`; the checker then calls typeCheck. */
function expandSortBy(opts: { args: MacroNode[]; receiver: MacroNode | null; ast: MacroNode }): SortByMacro {
  const [iterVar, key] = opts.args;
  if (opts.receiver === null) throw new ParseError('sortBy must be called on a list: list.sortBy(x, key)', opts.ast as never);
  if (iterVar.op !== 'id') throw new ParseError('sortBy(x, key): the first argument must be a variable name', iterVar as never);
  return { receiver: opts.receiver, iterVar: iterVar.args as string, key, async: false, typeCheck: sortByTypeCheck, evaluate: sortByEvaluate };
}

function wrongSortByArity(opts: { ast: MacroNode }): never {
  throw new ParseError('sortBy takes two arguments: list.sortBy(x, key)', opts.ast as never);
}

export function registerListFunctions(env: CelEnvironment): void {
  env.registerFunction('list<A>.distinct(): list<A>', distinct, { description: 'The list without repeated elements (first kept)' });
  env.registerFunction('list<A>.sort(): list<A>', sortList, { description: `The list sorted ascending (${COMPARABLE_TEXT} elements, all one type)` });
  env.registerFunction('list.sortBy(ast, ast): list', expandSortBy, { description: 'list.sortBy(x, key): the list sorted ascending by key (stable)' });
  env.registerFunction('list.sortBy(ast): list', wrongSortByArity, { description: 'list.sortBy(x, key) takes two arguments' });
  env.registerFunction('list.sortBy(ast, ast, ast): list', wrongSortByArity, { description: 'list.sortBy(x, key) takes two arguments' });
  env.registerFunction('list<A>.reverse(): list<A>', (l: readonly unknown[]) => [...l].reverse(), { description: 'The list reversed' });
  env.registerFunction('list<A>.slice(int, int): list<A>', slice, { description: 'Elements [start, end)' });
  env.registerFunction('list.flatten(): list', (l: readonly unknown[]) => flatten(l, 1n), { description: 'Flattens one level of nested lists' });
  env.registerFunction('list.flatten(int): list', flatten, { description: 'Flattens depth levels of nested lists (0: unchanged; negative: error)' });

  const lists = registerNamespace(env, 'lists', 'ListsNs');
  env.registerFunction(`${lists}.range(int): list<int>`, (_: unknown, n: bigint) => range(n), { description: `[0, 1, ..., n-1] (at most ${MAX_RANGE} elements)` });
}
