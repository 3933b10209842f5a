/**
 * Helpers shared by the issue-4 actions (add-headers … rate-limit): more config readers in the
 * style of config.ts, the whole-URL view used by url-rewrite and redirect, and the synthetic
 * rejection responses of the enforcing actions (restrict-ips, basic-auth, rate-limit).
 */
import type { Template } from '../cel/index.js';
import { regexProblem } from '../cel/index.js';
import { joinPath } from '../parse-source.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import type { HeaderMap, PolicyRequest, SyntheticResponse } from '../types.js';
import { describe, isHeaderName, isPlainMap } from './config.js';
import type { ActionCompileContext, ActionRunContext } from './registry.js';

/** Header carrying meshgate's error code on responses the gateway (or a policy action) makes. */
export const ERROR_HEADER = 'meshgate-error-code';

/** A boolean field with a default. */
export function readBool(config: Record<string, unknown>, key: string, dflt: boolean, cx: ActionCompileContext): boolean | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') {
    cx.issue(key, `must be true or false, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** A plain (non-CEL) string field. */
export function readString(
  config: Record<string, unknown>,
  key: string,
  cx: ActionCompileContext,
  opts: { required: true; maxLength: number } | { default: string; maxLength: number },
): string | undefined {
  const v = config[key];
  if (v === undefined || v === null) {
    if ('required' in opts) {
      cx.issue(key, 'is required');
      return undefined;
    }
    return opts.default;
  }
  if (typeof v !== 'string') {
    cx.issue(key, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  if (v.length > opts.maxLength) {
    cx.issue(key, `must be at most ${opts.maxLength} characters, got ${v.length}`);
    return undefined;
  }
  return v;
}

/**
 * A list of strings with length bounds. Returns the list, or undefined after reporting issues
 * (at the field or at `field[i]`). Missing → `[]` when `min` is 0, else "is required".
 */
export function readStringList(
  config: Record<string, unknown>,
  key: string,
  cx: ActionCompileContext,
  opts: { min: number; max: number; what: string },
): string[] | undefined {
  const v = config[key];
  if (v === undefined || v === null) {
    if (opts.min === 0) return [];
    cx.issue(key, `is required: a list of ${opts.min} to ${opts.max} ${opts.what}`);
    return undefined;
  }
  if (!Array.isArray(v)) {
    cx.issue(key, `must be a list of ${opts.what}, got ${describe(v)}`);
    return undefined;
  }
  if (v.length < opts.min || v.length > opts.max) {
    cx.issue(key, `must have ${opts.min} to ${opts.max} ${opts.what}, got ${v.length}`);
    return undefined;
  }
  let ok = true;
  const out: string[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string') {
      cx.issue(`${key}[${i}]`, `must be a string, got ${describe(item)}`);
      ok = false;
    } else out.push(item);
  });
  return ok ? out : undefined;
}

/** A list of `${}` templates (each `field[i]`). */
export function readTemplateList(
  config: Record<string, unknown>,
  key: string,
  cx: ActionCompileContext,
  opts: { min: number; max: number; what: string },
): Template[] | undefined {
  const list = readStringList(config, key, cx, opts);
  if (!list) return undefined;
  let ok = true;
  const out: Template[] = [];
  list.forEach((s, i) => {
    const t = cx.template(s, `${key}[${i}]`);
    if (t) out.push(t);
    else ok = false;
  });
  return ok ? out : undefined;
}

/** A list of header names (lower-cased), valid tokens, no duplicates. */
export function readHeaderNames(config: Record<string, unknown>, key: string, cx: ActionCompileContext, max: number): string[] | undefined {
  const list = readStringList(config, key, cx, { min: 1, max, what: 'header names' });
  if (!list) return undefined;
  let ok = true;
  const seen = new Set<string>();
  list.forEach((name, i) => {
    const path = `${key}[${i}]`;
    if (!isHeaderName(name)) {
      cx.issue(path, `'${name}' is not a valid header name`);
      ok = false;
      return;
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      cx.issue(path, `header '${lower}' is given twice (header names are case-insensitive)`);
      ok = false;
      return;
    }
    seen.add(lower);
  });
  return ok ? [...seen] : undefined;
}

/**
 * A config value that may be any YAML type; strings are `${}` templates (a lone `${expr}` keeps
 * its CEL type), other scalars and lists/maps are taken as they are (ints become CEL ints).
 */
export type ValueSpec = { kind: 'template'; t: Template } | { kind: 'static'; value: unknown };

export function readValue(v: unknown, path: string, cx: ActionCompileContext): ValueSpec | undefined {
  if (typeof v === 'string') {
    const t = cx.template(v, path);
    return t ? { kind: 'template', t } : undefined;
  }
  if (v === undefined) {
    cx.issue(path, 'must have a value');
    return undefined;
  }
  return { kind: 'static', value: Object.freeze(toCel(v)) };
}

export function evalValueSpec(cx: ActionRunContext, s: ValueSpec): unknown {
  if (s.kind === 'static') return s.value;
  return s.t.isStatic ? s.t.staticValue : cx.evalValue(s.t);
}

/** YAML/JSON value → the value CEL expects (integers as BigInt, everything else as is). */
function toCel(v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(toCel);
  if (isPlainMap(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = toCel(v[k]);
    return out;
  }
  return v;
}

export { joinPath };

// --- whole-URL rewriting (url-rewrite, redirect) ---

/** The request URL as the `from` regex sees it: `scheme://host[:port]/path[?query]`, default port omitted (= `req.url`). */
export function requestUrl(r: PolicyRequest): string {
  const defaultPort = r.scheme === 'https' ? 443 : 80;
  const port = r.port === defaultPort || !r.port ? '' : `:${r.port}`;
  return `${r.scheme}://${r.host}${port}${r.path}${r.query ? '?' + r.query : ''}`;
}

/** A `from` pattern: compiled at load when static, per request otherwise. */
export type FromPattern = { kind: 'none' } | { kind: 'static'; re: RegExp } | { kind: 'dynamic'; t: Template };

/** Reads an optional regex field (`from`), validating a static pattern with the RE2 guard. */
export function readFromPattern(config: Record<string, unknown>, key: string, cx: ActionCompileContext): FromPattern | undefined {
  const v = config[key];
  if (v === undefined || v === null) return { kind: 'none' };
  return readRegexTemplate(v, key, cx, 'must not be empty (leave it out to replace the whole URL)');
}

/** A regex given as a (possibly `${}`) string: compiled once when static, checked per request otherwise. */
export function readRegexTemplate(v: unknown, path: string, cx: ActionCompileContext, emptyMessage = 'must not be empty'): FromPattern | undefined {
  if (v === undefined || v === null) {
    cx.issue(path, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') {
    cx.issue(path, `must be a regular expression string, got ${describe(v)}`);
    return undefined;
  }
  if (v === '') {
    cx.issue(path, emptyMessage);
    return undefined;
  }
  const t = cx.template(v, path);
  if (!t) return undefined;
  if (!t.isStatic) return { kind: 'dynamic', t };
  const problem = regexProblem(t.staticValue);
  if (problem) {
    cx.issue(path, problem);
    return undefined;
  }
  return { kind: 'static', re: new RegExp(t.staticValue, 'g') };
}

export interface Rewrite {
  /** The URL before. */
  before: string;
  /** The URL after (equal to `before` when nothing matched). */
  after: string;
  /** Every substring `from` matched, in order (the whole URL when there is no `from`). */
  matches: string[];
}

/** Applies `from` → `to` to the whole request URL (all matches, `$1` groups). */
export function rewriteUrl(cx: ActionRunContext, from: FromPattern, to: Template, label: string): Rewrite {
  const before = requestUrl(cx.exchange.req);
  const replacement = to.isStatic ? to.staticValue : cx.evalString(to);
  if (from.kind === 'none') return { before, after: replacement, matches: [before] };
  let re: RegExp;
  if (from.kind === 'static') re = from.re;
  else {
    const src = cx.evalString(from.t);
    const problem = src === '' ? 'the pattern is empty' : regexProblem(src);
    if (problem) throw new PolicyRuntimeError(`${label}.from`, problem);
    re = new RegExp(src, 'g');
  }
  const matches: string[] = [];
  re.lastIndex = 0;
  const after = before.replace(re, (...args: unknown[]) => {
    matches.push(args[0] as string);
    return expandGroups(replacement, args);
  });
  return { before, after, matches };
}

/** `$1`..`$99`, `$<name>`, `$$` in `to`, from a String.replace callback's arguments. */
export function expandGroups(to: string, args: unknown[]): string {
  if (!to.includes('$')) return to;
  const last = args[args.length - 1];
  const named = typeof last === 'object' && last !== null ? (last as Record<string, string | undefined>) : undefined;
  const groupCount = args.length - (named ? 4 : 3);
  return to.replace(/\$(\$|<([A-Za-z_][A-Za-z0-9_]*)>|(\d{1,2}))/g, (m, _all: string, name: string | undefined, num: string | undefined) => {
    if (m === '$$') return '$';
    if (name !== undefined) return named?.[name] ?? '';
    const n = Number(num);
    if (n > groupCount) return '';
    return (args[n] as string | undefined) ?? '';
  });
}

// --- rejections made by enforcing actions ---

/** A synthetic JSON error response with the `meshgate-error-code` header. */
export function rejection(status: number, code: string, message: string, extra: HeaderMap = {}): SyntheticResponse {
  return {
    status,
    headers: { 'content-type': ['application/json'], [ERROR_HEADER]: [code], ...extra },
    body: JSON.stringify({ error: { code, message } }),
  };
}

/** Header value check for values computed per request (no CR/LF/NUL). */
export function checkHeaderValue(value: string, label: string): string {
  if (/[\r\n\0]/.test(value)) throw new PolicyRuntimeError(label, 'the value contains CR, LF or NUL characters');
  return value;
}
