/**
 * String functions ngrok documents that the CEL library lacks. The library already has
 * `trim`, `split`, `lowerAscii`, `upperAscii`, `indexOf`, `lastIndexOf`, `substring` and
 * `list<string>.join([sep])`, which are not re-registered (overlapping overloads are refused).
 * List functions are in functions-lists.ts; isJson / isQueryString in functions-encoding.ts.
 *
 *   string.lower() / string.upper(): string       Unicode case mapping
 *   string.replace(old, new[, n]): string         replaces all (or the first n; n < 0 means all)
 *   string.reverse(): string                      by code point
 *   string.charAt(int): string                    '' at index == size; error beyond
 *   string.format(list): string                   printf-style, see string-format.ts
 *   strings.quote(string): string                 the string between double quotes, with the escape
 *                                                 sequences \a \b \f \n \r \t \v, backslash and double
 *                                                 quote written as escapes (every other character as is);
 *                                                 an unpaired surrogate becomes U+FFFD (ngrok: invalid UTF-8)
 */
import type { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { celFail, registerNamespace } from './namespace.js';
import { formatString } from './string-format.js';

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

const QUOTED: Record<string, string> = { '\x07': '\\a', '\x08': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function quote(s: string): string {
  return '"' + s.replace(UNPAIRED_SURROGATE, '\uFFFD').replace(/[\x07\x08\f\n\r\t\v\\"]/g, (c) => QUOTED[c]) + '"';
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
  env.registerFunction('string.format(list): string', formatString, { description: "printf-style: '%s is %d'.format([name, n]); %s %d %f %e %b %x %X %o %%" });

  const strings = registerNamespace(env, 'strings', 'StringsNs');
  env.registerFunction(`${strings}.quote(string): string`, (_: unknown, s: string) => quote(s), { description: 'The string in double quotes, escape sequences written out' });
}
