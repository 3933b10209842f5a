/**
 * `string.format(list)`: printf-style formatting as ngrok documents it, which is cel-go's strings
 * extension (its current, locale-free semantics). Clauses, each taking the next list element:
 *
 *   %s  any scalar, list or map: strings as is, ints, doubles shortest (`2.5`, `0.000000002`,
 *       `NaN`, `Infinity`), bools, bytes as UTF-8, `null`, timestamps RFC 3339 (UTC), durations
 *       as seconds (`90s`), types by name, lists `[a, b]`, maps `{k: v}` sorted by key
 *   %d  ints and uints in decimal (doubles as with %s)
 *   %f  ints, uints and doubles, fixed point; `%.2f` sets the precision (default 6)
 *   %e  the same in scientific notation: `1.052033e+03`
 *   %b  ints and uints in binary, bools as 1 / 0
 *   %x  %X  ints and uints in hex (lower / upper case), strings and bytes byte by byte
 *   %o  ints and uints in octal
 *   %%  a literal %
 *
 * Numbers are rounded half to even on their exact binary value, as Go does.
 *
 * Errors (evaluation errors, so MG_POLICY_RUNTIME_ERROR): an unknown clause, a `%` at the end,
 * a value of the wrong type for its clause, and a list with fewer or more elements than the
 * format string has clauses (meshgate: cel-go ignores extra elements at runtime but refuses them
 * for a literal list at load). A literal format string with a list literal is checked at load
 * (format-guard.ts) with the element types the checker inferred.
 */
import { celFail } from './namespace.js';

export const DEFAULT_PRECISION = 6;
/** Largest precision accepted (`%.100f`): beyond this the output is only noise and size. */
export const MAX_PRECISION = 100;

export type Verb = 's' | 'd' | 'f' | 'e' | 'b' | 'x' | 'X' | 'o';

export interface Clause {
  verb: Verb;
  precision: number;
  /** Offset of the `%` in the format string. */
  at: number;
}

export type ParsedFormat = { ok: true; parts: ReadonlyArray<string | Clause>; clauses: number } | { ok: false; message: string; at: number };

const VERBS = new Set<string>(['s', 'd', 'f', 'e', 'b', 'x', 'X', 'o']);

/** Splits a format string into literal text and clauses. Never throws. */
export function parseFormat(fmt: string): ParsedFormat {
  const parts: Array<string | Clause> = [];
  let text = '';
  let clauses = 0;
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== '%') {
      text += c;
      continue;
    }
    const at = i;
    if (fmt[i + 1] === '%') {
      text += '%';
      i++;
      continue;
    }
    let precision = DEFAULT_PRECISION;
    let j = i + 1;
    if (fmt[j] === '.') {
      const start = ++j;
      while (j < fmt.length && fmt.charCodeAt(j) >= 48 && fmt.charCodeAt(j) <= 57) j++;
      if (j === start) return { ok: false, message: `the precision after '%.' must be digits (e.g. %.2f)`, at };
      precision = Number(fmt.slice(start, j));
      if (precision > MAX_PRECISION) return { ok: false, message: `precision ${fmt.slice(start, j)} is above the maximum of ${MAX_PRECISION}`, at };
    }
    if (j >= fmt.length) return { ok: false, message: "the format string ends in an incomplete clause (write %% for a literal %)", at };
    const verb = String.fromCodePoint(fmt.codePointAt(j)!);
    if (!VERBS.has(verb)) return { ok: false, message: `unrecognized formatting clause "%${fmt.slice(i + 1, j)}${verb}" (use %s, %d, %f, %e, %b, %x, %X, %o or %%)`, at };
    if (text) parts.push(text);
    text = '';
    parts.push({ verb: verb as Verb, precision, at });
    clauses++;
    i = j;
  }
  if (text) parts.push(text);
  return { ok: true, parts, clauses };
}

/** What each clause accepts, as CEL type kinds (also used at load by format-guard.ts). */
export const ACCEPTS: Readonly<Record<Verb, { kinds: readonly string[]; text: string }>> = {
  s: {
    kinds: ['string', 'int', 'uint', 'double', 'bool', 'bytes', 'null', 'timestamp', 'duration', 'type', 'list', 'map'],
    text: 'strings, bools, bytes, ints, uints, doubles, null, maps, lists, types, durations and timestamps',
  },
  d: { kinds: ['int', 'uint', 'double'], text: 'ints, uints and doubles' },
  f: { kinds: ['int', 'uint', 'double'], text: 'ints, uints and doubles' },
  e: { kinds: ['int', 'uint', 'double'], text: 'ints, uints and doubles' },
  b: { kinds: ['int', 'uint', 'bool'], text: 'ints, uints and bools' },
  x: { kinds: ['int', 'uint', 'string', 'bytes'], text: 'ints, uints, strings and bytes' },
  X: { kinds: ['int', 'uint', 'string', 'bytes'], text: 'ints, uints, strings and bytes' },
  o: { kinds: ['int', 'uint'], text: 'ints and uints' },
};

/** Runtime `fmt.format(args)`. Throws a CEL evaluation error on any problem. */
export function formatString(fmt: string, args: unknown): string {
  const parsed = parseFormat(fmt);
  if (!parsed.ok) return celFail(`format: ${parsed.message}`);
  const list = Array.isArray(args) ? args : [...(args as Iterable<unknown>)];
  if (list.length !== parsed.clauses) {
    celFail(`format: the format string has ${plural(parsed.clauses, 'clause')} but ${plural(list.length, 'argument')} ${list.length === 1 ? 'was' : 'were'} given`);
  }
  let out = '';
  let n = 0;
  for (const p of parsed.parts) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    const v = list[n++];
    const kind = kindOf(v);
    if (!ACCEPTS[p.verb].kinds.includes(kind)) {
      celFail(`format: %${p.verb} (argument ${n}) can only format ${ACCEPTS[p.verb].text}, got ${kind}`);
    }
    out += formatClause(p, v, kind);
  }
  return out;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function formatClause(c: Clause, v: unknown, kind: string): string {
  switch (c.verb) {
    case 's':
      return asString(v, kind);
    case 'd':
      return kind === 'double' ? doubleString(v as number) : intOf(v).toString();
    case 'f':
      return kind === 'double' ? special(v as number) ?? fixed(v as number, c.precision) : fixed(Number(intOf(v)), c.precision);
    case 'e':
      return kind === 'double' ? special(v as number) ?? scientific(v as number, c.precision) : scientific(Number(intOf(v)), c.precision);
    case 'b':
      return kind === 'bool' ? (v ? '1' : '0') : intOf(v).toString(2);
    case 'x':
    case 'X': {
      const s = kind === 'string' ? Buffer.from(v as string, 'utf8').toString('hex') : kind === 'bytes' ? hexOf(v as Uint8Array) : intOf(v).toString(16);
      return c.verb === 'X' ? s.toUpperCase() : s;
    }
    case 'o':
      return intOf(v).toString(8);
  }
}

/** The CEL type kind of a runtime value, as the messages name it. */
export function kindOf(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'boolean':
      return 'bool';
    default:
      break;
  }
  if (v === null || v === undefined) return 'null';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v) || v instanceof Set) return 'list';
  if (v instanceof Map) return 'map';
  if (v instanceof Date) return 'timestamp';
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return 'map';
  const tag = Object.prototype.toString.call(v);
  if (tag === '[object google.protobuf.Duration]') return 'duration';
  if (tag.startsWith('[object Type<')) return 'type';
  if (typeof (v as { valueOf(): unknown }).valueOf() === 'bigint') return 'uint';
  // registered message types: CelUrl → Url
  return ((v as object).constructor?.name ?? 'object').replace(/^Cel(?=[A-Z])/, '');
}

function intOf(v: unknown): bigint {
  return typeof v === 'bigint' ? v : ((v as { valueOf(): bigint }).valueOf());
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const utf8 = new TextDecoder();

function asString(v: unknown, kind: string): string {
  switch (kind) {
    case 'string':
      return v as string;
    case 'int':
    case 'uint':
      return intOf(v).toString();
    case 'double':
      return doubleString(v as number);
    case 'bool':
      return v ? 'true' : 'false';
    case 'null':
      return 'null';
    case 'bytes':
      return utf8.decode(v as Uint8Array);
    case 'timestamp':
      return rfc3339(v as Date);
    case 'duration': {
      const d = v as { seconds: bigint; nanos: number };
      return `${shortestFixed(Number(d.seconds) + d.nanos / 1e9)}s`;
    }
    case 'type':
      return /^\[object Type<(.*)>\]$/.exec(Object.prototype.toString.call(v))![1];
    case 'list':
      return `[${Array.from(v as Iterable<unknown>, element).join(', ')}]`;
    case 'map': {
      const entries: Array<[unknown, unknown]> = v instanceof Map ? [...v] : Object.entries(v as object);
      const shown = entries.map(([k, x]) => [element(k), element(x)] as const);
      shown.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return `{${shown.map(([k, x]) => `${k}: ${x}`).join(', ')}}`;
    }
    default:
      return celFail(`format: %s cannot format ${kind}`);
  }
}

/** A list element or map key/value under %s. */
function element(v: unknown): string {
  const kind = kindOf(v);
  if (!ACCEPTS.s.kinds.includes(kind)) celFail(`format: %s can only format ${ACCEPTS.s.text}, got ${kind} inside a list or map`);
  return asString(v, kind);
}

function rfc3339(d: Date): string {
  if (Number.isNaN(d.getTime())) return celFail('format: invalid timestamp');
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

function special(x: number): string | undefined {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return undefined;
}

function doubleString(x: number): string {
  return special(x) ?? shortestFixed(x);
}

/** The shortest digits that read back as `x`, never in exponent form (Go's 'f', -1). */
export function shortestFixed(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [m, e] = Math.abs(x).toExponential().split('e');
  const digits = m.replace('.', '');
  const dp = Number(e) + 1;
  let s: string;
  if (dp <= 0) s = `0.${'0'.repeat(-dp)}${digits}`;
  else if (dp >= digits.length) s = digits + '0'.repeat(dp - digits.length);
  else s = `${digits.slice(0, dp)}.${digits.slice(dp)}`;
  return x < 0 ? `-${s}` : s;
}

/**
 * The exact decimal value of a finite non-negative double: `0.<digits> × 10^dp`, digits without
 * trailing zeros ('' for zero). Every double is mant × 2^exp, so with exp < 0 it is
 * mant × 5^-exp / 10^-exp: exact with BigInt.
 */
function exactDecimal(x: number): { digits: string; dp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  let exp = -1074;
  if (biased !== 0) {
    mant |= 1n << 52n;
    exp = biased - 1075;
  }
  if (mant === 0n) return { digits: '', dp: 0 };
  const s = exp >= 0 ? (mant << BigInt(exp)).toString() : (mant * 5n ** BigInt(-exp)).toString();
  const dp = exp >= 0 ? s.length : s.length + exp;
  return { digits: s.replace(/0+$/, ''), dp };
}

/** Keeps the first `n` digits, rounding half to even on the exact value. */
function roundTo(digits: string, dp: number, n: number): { digits: string; dp: number } {
  if (n >= digits.length) return { digits, dp };
  if (n < 0) return { digits: '', dp };
  const next = digits.charCodeAt(n) - 48;
  // digits has no trailing zeros, so anything after a 5 makes it more than half
  const up = next > 5 || (next === 5 && (n + 1 < digits.length || (n > 0 && (digits.charCodeAt(n - 1) - 48) % 2 === 1)));
  if (!up) return { digits: digits.slice(0, n).replace(/0+$/, ''), dp };
  let i = n - 1;
  while (i >= 0 && digits[i] === '9') i--;
  if (i < 0) return { digits: '1', dp: dp + 1 };
  return { digits: digits.slice(0, i) + String.fromCharCode(digits.charCodeAt(i) + 1), dp };
}

/** Go's %.{prec}f. */
export function fixed(x: number, prec: number): string {
  const neg = x < 0 || Object.is(x, -0);
  const exact = exactDecimal(Math.abs(x));
  const { digits, dp } = roundTo(exact.digits, exact.dp, exact.dp + prec);
  const at = (k: number): string => (k >= 0 && k < digits.length ? digits[k] : '0');
  let int = '';
  if (dp <= 0 || digits === '') int = '0';
  else for (let k = 0; k < dp; k++) int += at(k);
  let frac = '';
  for (let k = 0; k < prec; k++) frac += digits === '' ? '0' : at(dp + k);
  return `${neg ? '-' : ''}${int}${prec > 0 ? `.${frac}` : ''}`;
}

/** Go's %.{prec}e: `d.ddddde±XX`. */
export function scientific(x: number, prec: number): string {
  const neg = x < 0 || Object.is(x, -0);
  let mant: string;
  let exp = 0;
  if (x === 0) {
    mant = '0'.repeat(prec + 1);
  } else {
    const d = exactDecimal(Math.abs(x));
    const r = roundTo(d.digits, d.dp, prec + 1);
    mant = r.digits.padEnd(prec + 1, '0');
    exp = r.dp - 1;
  }
  const e = `e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return `${neg ? '-' : ''}${mant[0]}${prec > 0 ? `.${mant.slice(1)}` : ''}${e}`;
}
