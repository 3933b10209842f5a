/**
 * Helpers actions use to read and validate their `config` at load. Each reports problems through
 * the compile context with the field's path and returns undefined for a bad value, so an action's
 * compile step reads like its schema and still reports every issue.
 */
import type { Template } from '../cel/index.js';
import { joinPath } from '../parse-source.js';
import type { HeaderMap } from '../types.js';
import type { ActionCompileContext } from './registry.js';

/** Most headers a header map field accepts (ngrok's limit). */
export const MAX_HEADERS = 10;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `name` is a valid HTTP header field name (RFC 9110 token). */
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reports every key of `config` that is not one of `fields`. */
export function checkUnknownFields(type: string, config: Record<string, unknown>, fields: readonly string[], cx: ActionCompileContext): void {
  for (const key of Object.keys(config)) {
    if (fields.includes(key)) continue;
    const known = fields.length > 0 ? `${type} accepts ${fields.join(', ')}` : `${type} takes no config`;
    cx.issue(joinPath('', key), `unknown field '${key}' (${known})`);
  }
}

export interface IntField {
  default: number;
  min: number;
  max: number;
}

/** An integer field with a default and an inclusive range. */
export function readInt(config: Record<string, unknown>, key: string, spec: IntField, cx: ActionCompileContext): number | undefined {
  const v = config[key];
  if (v === undefined || v === null) return spec.default;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    cx.issue(key, `must be an integer, got ${describe(v)}`);
    return undefined;
  }
  if (v < spec.min || v > spec.max) {
    cx.issue(key, `must be between ${spec.min} and ${spec.max}, got ${v}`);
    return undefined;
  }
  return v;
}

/** One of a fixed set of strings, with a default. */
export function readEnum<T extends string>(config: Record<string, unknown>, key: string, values: readonly T[], dflt: T, cx: ActionCompileContext): T | undefined {
  const v = config[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    cx.issue(key, `must be one of ${values.join(', ')}, got ${describe(v)}`);
    return undefined;
  }
  return v as T;
}

/**
 * A string field that supports `${}` interpolation. Missing → `dflt` when given (compiled as a
 * static template), otherwise an issue "is required".
 */
export function readTemplate(
  config: Record<string, unknown>,
  key: string,
  cx: ActionCompileContext,
  opts: { required: true } | { default: string },
): Template | undefined {
  const v = config[key];
  if (v === undefined || v === null) {
    if ('required' in opts) {
      cx.issue(key, 'is required');
      return undefined;
    }
    return cx.template(opts.default, key);
  }
  if (typeof v !== 'string') {
    cx.issue(key, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  return cx.template(v, key);
}

/** A header map whose values support `${}`: name (lower-cased) → template. */
export type HeaderTemplates = ReadonlyArray<readonly [name: string, value: Template]>;

/** A `headers` map field: at most MAX_HEADERS entries, valid names, string values. */
export function readHeaderTemplates(config: Record<string, unknown>, key: string, cx: ActionCompileContext): HeaderTemplates | undefined {
  const v = config[key];
  if (v === undefined || v === null) return [];
  if (!isPlainMap(v)) {
    cx.issue(key, `must be a map of header name to value, got ${describe(v)}`);
    return undefined;
  }
  const names = Object.keys(v);
  let ok = true;
  if (names.length > MAX_HEADERS) {
    cx.issue(key, `has ${names.length} headers; at most ${MAX_HEADERS} are allowed`);
    ok = false;
  }
  const out: Array<readonly [string, Template]> = [];
  const seen = new Set<string>();
  for (const name of names) {
    const path = joinPath(key, name);
    if (!isHeaderName(name)) {
      cx.issue(path, `'${name}' is not a valid header name`);
      ok = false;
      continue;
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      cx.issue(path, `header '${lower}' is given twice (header names are case-insensitive)`);
      ok = false;
      continue;
    }
    seen.add(lower);
    let value = v[name];
    if (typeof value === 'number' || typeof value === 'boolean') value = String(value);
    if (typeof value !== 'string') {
      cx.issue(path, `must be a string, got ${describe(value)}`);
      ok = false;
      continue;
    }
    if (/[\r\n\0]/.test(value)) {
      cx.issue(path, 'must not contain CR, LF or NUL characters');
      ok = false;
      continue;
    }
    const t = cx.template(value, path);
    if (!t) ok = false;
    else out.push([lower, t]);
  }
  return ok ? out : undefined;
}

/** Static header templates as a header map (for building responses once at load). */
export function staticHeaders(headers: HeaderTemplates): HeaderMap | undefined {
  const out: HeaderMap = {};
  for (const [name, t] of headers) {
    if (!t.isStatic) return undefined;
    out[name] = [t.staticValue];
  }
  return out;
}

/** A fresh copy of a header map (responses are handed to the gateway, which may change them). */
export function copyHeaders(h: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) out[k] = h[k].slice();
  return out;
}

/** `a string "x"`, `a number 5`, `a list`, `a map`, ... for messages. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v)}`;
    case 'number':
      return `the number ${v}`;
    case 'boolean':
      return `${v}`;
    case 'object':
      return 'a map';
    default:
      return typeof v;
  }
}
