/**
 * String and list functions ngrok documents that the CEL library lacks. The library already has
 * `trim`, `split`, `lowerAscii`, `upperAscii`, `indexOf`, `lastIndexOf`, `substring` and
 * `list<string>.join([sep])`, which are not re-registered (overlapping overloads are refused).
 *
 *   string.lower() / string.upper(): string       Unicode case mapping
 *   string.replace(old, new[, n]): string         replaces all (or the first n; n < 0 means all)
 *   string.reverse(): string                      by code point
 *   string.charAt(int): string                    '' at index == size; error beyond
 *   list.distinct(): list                         first occurrence kept (CEL equality for scalars)
 *   list.sort(): list                             ints, uints, doubles, strings or bools; error otherwise
 *   list.reverse(): list, list.flatten(): list (one level), list.slice(int, int): list
 *
 * Not implemented: format, sortBy, strings.quote, lists.range.
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { celFail } from './namespace.js';

export function replaceN(s: string, from: string, to: string, n: bigint): string {
  if (n < 0n) return s.split(from).join(to);
  let out = s;
  let pos = 0;
  for (let i = 0n; i < n; i++) {
    const at = out.indexOf(from, pos);
    if (at < 0) break;
    out = out.slice(0, at) + to + out.slice(at + from.length);
    pos = at + to.length + (from === '' ? 1 : 0);
    if (from === '' && pos > out.length) break;
  }
  return out;
}

function charAt(s: string, i: bigint): string {
  const cps = [...s];
  if (i < 0n || i > BigInt(cps.length)) celFail(`charAt: index ${i} out of range`);
  return cps[Number(i)] ?? '';
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

function sortKind(v: unknown): string {
  const t = typeof v;
  if (t === 'bigint' || t === 'number') return 'number';
  if (t === 'string' || t === 'boolean') return t;
  if (v !== null && typeof v === 'object' && 'valueOf' in v && typeof (v as { valueOf(): unknown }).valueOf() === 'bigint') return 'number'; // uint
  return 'other';
}

export function sortList(list: readonly unknown[]): unknown[] {
  if (list.length < 2) return [...list];
  const kind = sortKind(list[0]);
  if (kind === 'other') celFail('sort: only lists of ints, doubles, strings or bools can be sorted');
  for (const v of list) if (sortKind(v) !== kind) celFail('sort: list elements must all have the same comparable type');
  const num = (v: unknown): number | bigint => (typeof v === 'object' ? (v as { valueOf(): bigint }).valueOf() : (v as number | bigint));
  const cmp =
    kind === 'number'
      ? (a: unknown, b: unknown) => {
          const x = num(a);
          const y = num(b);
          return x < y ? -1 : x > y ? 1 : 0;
        }
      : (a: unknown, b: unknown) => ((a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0);
  return [...list].sort(cmp);
}

function slice(list: readonly unknown[], start: bigint, end: bigint): unknown[] {
  if (start < 0n || end < start || end > BigInt(list.length)) celFail(`slice: indexes [${start}, ${end}) out of range for a list of ${list.length}`);
  return list.slice(Number(start), Number(end));
}

export function registerStringFunctions(env: CelEnvironment): void {
  env.registerFunction('string.lower(): string', (s: string) => s.toLowerCase(), { description: 'Lower-cased (Unicode)' });
  env.registerFunction('string.upper(): string', (s: string) => s.toUpperCase(), { description: 'Upper-cased (Unicode)' });
  env.registerFunction('string.replace(string, string): string', (s: string, a: string, b: string) => s.split(a).join(b), {
    description: 'Replaces every occurrence of the first argument with the second',
  });
  env.registerFunction('string.replace(string, string, int): string', replaceN, {
    description: 'Replaces the first n occurrences (all when n < 0)',
  });
  env.registerFunction('string.reverse(): string', (s: string) => [...s].reverse().join(''), { description: 'The string reversed by code point' });
  env.registerFunction('string.charAt(int): string', charAt, { description: 'The character at the index; "" at index == size' });

  env.registerFunction('list<A>.distinct(): list<A>', distinct, { description: 'The list without repeated elements (first kept)' });
  env.registerFunction('list<A>.sort(): list<A>', sortList, { description: 'The list sorted ascending (ints, doubles, strings, bools)' });
  env.registerFunction('list<A>.reverse(): list<A>', (l: readonly unknown[]) => [...l].reverse(), { description: 'The list reversed' });
  env.registerFunction('list<A>.slice(int, int): list<A>', slice, { description: 'Elements [start, end)' });
  env.registerFunction('list.flatten(): list', (l: readonly unknown[]) => l.flatMap((v) => (Array.isArray(v) ? v : [v])), {
    description: 'Flattens one level of nested lists',
  });
}
