/**
 * Load-time checks of calls whose format (or other argument) is a literal, so that a mistake
 * shows up when the policy is loaded rather than on the first request that reaches it:
 *
 *   'lit'.format([a, b])      the format string parses; the list literal has exactly one element
 *                             per clause; each element's checked type suits its clause
 *                             (`'%d'.format(['x'])` is refused; `dyn` elements are left to runtime)
 *   hash.sha256(x, 'lit')     the digest format is 'hex' or 'base64' (also `x.sha256('lit')`)
 *   l.flatten(-1)             a literal depth is not negative
 *   lists.range(100000)       a literal length is within MAX_RANGE
 *
 * Like cel-go's string.format validator. Run after the checker, which sets `checkedType` on
 * every node.
 */
import { HASH_FORMATS, HASH_NAMES } from './functions-hash.js';
import { MAX_RANGE } from './functions-lists.js';
import { ACCEPTS, parseFormat } from './string-format.js';
import { findInAst, isAstNode as isNode, type AstLike } from './ast-walk.js';

export interface FormatProblem {
  message: string;
  /** Offset in the expression of the part at fault. */
  offset: number;
}

/** The first problem with a literal format in a checked expression, or undefined. */
export function checkLiteralFormats(ast: unknown): FormatProblem | undefined {
  return findInAst(ast, (v) => {
    if (v.op !== 'rcall') return undefined;
    const [name, receiver, args] = v.args as [string, unknown, unknown[]];
    if (name === 'format' && args.length === 1 && isNode(receiver) && receiver.op === 'value' && typeof receiver.args === 'string') {
      return checkFormatCall(receiver.args, receiver.range?.start ?? 0, args[0]);
    }
    if (HASH_NAMES.includes(name)) return checkHashFormat(name, receiver, args);
    if (name === 'flatten' && args.length === 1) {
      const depth = literalInt(args[0]);
      if (depth !== undefined && depth < 0n) return { message: `flatten: depth must not be negative, got ${depth}`, offset: (args[0] as AstLike).range?.start ?? 0 };
    } else if (name === 'range' && args.length === 1 && isNode(receiver) && receiver.op === 'id' && receiver.args === 'lists') {
      const n = literalInt(args[0]);
      if (n !== undefined && n > BigInt(MAX_RANGE)) return { message: `lists.range: ${n} is above the limit of ${MAX_RANGE} elements`, offset: (args[0] as AstLike).range?.start ?? 0 };
    }
    return undefined;
  });
}

/** The value of an int literal (`3`, `-1`), or undefined. */
function literalInt(v: unknown): bigint | undefined {
  if (!isNode(v)) return undefined;
  if (v.op === 'value' && typeof v.args === 'bigint') return v.args;
  if (v.op === '-_') {
    const inner = literalInt(v.args);
    return inner === undefined ? undefined : -inner;
  }
  return undefined;
}

function checkFormatCall(fmt: string, offset: number, list: unknown): FormatProblem | undefined {
  const parsed = parseFormat(fmt);
  if (!parsed.ok) return { message: `format: ${parsed.message}`, offset };
  if (!isNode(list) || list.op !== 'list' || !Array.isArray(list.args)) return undefined;
  const elements = list.args as unknown[];
  if (elements.length !== parsed.clauses) {
    return { message: `format: the format string has ${parsed.clauses} clause${parsed.clauses === 1 ? '' : 's'} but the list has ${elements.length} element${elements.length === 1 ? '' : 's'}`, offset: list.range?.start ?? offset };
  }
  let n = 0;
  for (const p of parsed.parts) {
    if (typeof p === 'string') continue;
    const el = elements[n++];
    const kind = isNode(el) ? staticKind(el.checkedType?.name) : undefined;
    if (kind === undefined || ACCEPTS[p.verb].kinds.includes(kind)) continue;
    return { message: `format: %${p.verb} (argument ${n}) can only format ${ACCEPTS[p.verb].text}, got ${kind}`, offset: (el as AstLike).range?.start ?? offset };
  }
  return undefined;
}

/** The clause kind of a checked type name; undefined for dyn (checked at runtime). */
function staticKind(name: string | undefined): string | undefined {
  if (name === undefined || name === 'dyn') return undefined;
  if (name === 'google.protobuf.Timestamp') return 'timestamp';
  if (name === 'google.protobuf.Duration') return 'duration';
  const base = /^(\w+)</.exec(name)?.[1] ?? name;
  return base;
}

function checkHashFormat(name: string, receiver: unknown, args: unknown[]): FormatProblem | undefined {
  const namespaced = isNode(receiver) && receiver.op === 'id' && receiver.args === 'hash';
  const format = namespaced ? (args.length === 2 ? args[1] : undefined) : args.length === 1 ? args[0] : undefined;
  if (!isNode(format) || format.op !== 'value' || typeof format.args !== 'string') return undefined;
  if (HASH_FORMATS.includes(format.args)) return undefined;
  return { message: `hash.${name}: format must be 'hex' or 'base64', got '${format.args}'`, offset: format.range?.start ?? 0 };
}
