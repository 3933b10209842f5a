/**
 * The `replacements` list shared by request-body-find-replace and response-body-find-replace:
 * reading it at load, evaluating its `${}` parts for one request, and applying it to a body.
 *
 * - `from` is an RE2 regular expression (`${}` interpolated; checked with the RE2 guard at load
 *   when static, per request otherwise, a bad one then being a policy runtime error);
 * - `to` is the replacement (`${}` interpolated, default ''; `$1`..`$99`, `$<name>` and `$$` refer
 *   to the match's groups, as in url-rewrite).
 * They apply in order, each to the result of the previous one, replacing every match.
 *
 * A body is read as UTF-8; one that is not valid UTF-8 (binary) is read byte-for-character
 * (latin1), so bytes the patterns do not match come out unchanged.
 */
import { isUtf8 } from 'node:buffer';
import type { Template } from '../cel/index.js';
import { regexProblem } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import { describe, isPlainMap, readInt } from './config.js';
import type { ActionCompileContext, ActionRunContext } from './registry.js';
import { expandGroups, readRegexTemplate } from './util.js';

/** Most replacements one action accepts. */
export const MAX_REPLACEMENTS = 10;
/** `max_body_size` default and ceiling (bytes): the most of a body either action buffers. */
export const DEFAULT_MAX_BODY = 1024 * 1024;
export const MAX_MAX_BODY = 16 * 1024 * 1024;

/** The config both body find-replace actions compile to. */
export interface BodyFindReplaceConfig {
  readonly replacements: readonly Replacement[];
  readonly maxBodySize: number;
}

/** Reads `replacements` and `max_body_size`; undefined when either has issues (reported). */
export function compileBodyFindReplace(config: Record<string, unknown>, cx: ActionCompileContext): BodyFindReplaceConfig | undefined {
  const maxBodySize = readInt(config, 'max_body_size', { default: DEFAULT_MAX_BODY, min: 1, max: MAX_MAX_BODY }, cx);
  const replacements = readReplacements(config, cx);
  if (maxBodySize === undefined || replacements === undefined) return undefined;
  return { replacements, maxBodySize };
}

type Pattern = { kind: 'static'; re: RegExp } | { kind: 'dynamic'; t: Template };

/** One compiled `{from, to}`. */
export interface Replacement {
  readonly from: Pattern;
  readonly to: Template;
  /** Path of the replacement in the policy, for runtime errors. */
  readonly label: string;
}

/** A replacement with its `${}` parts evaluated for one request. */
export interface ReadyReplacement {
  readonly re: RegExp;
  readonly to: string;
}

/** Reads `config.replacements` (1 to 10 `{from, to}` maps); undefined after reporting issues. */
export function readReplacements(config: Record<string, unknown>, cx: ActionCompileContext): Replacement[] | undefined {
  const list = config.replacements;
  if (list === undefined || list === null) {
    cx.issue('replacements', `is required: a list of 1 to ${MAX_REPLACEMENTS} {from, to} replacements`);
    return undefined;
  }
  if (!Array.isArray(list)) {
    cx.issue('replacements', `must be a list of {from, to} replacements, got ${describe(list)}`);
    return undefined;
  }
  if (list.length < 1 || list.length > MAX_REPLACEMENTS) {
    cx.issue('replacements', `must have 1 to ${MAX_REPLACEMENTS} replacements, got ${list.length}`);
    return undefined;
  }
  let ok = true;
  const out: Replacement[] = [];
  list.forEach((item: unknown, i) => {
    const at = `replacements[${i}]`;
    if (!isPlainMap(item)) {
      cx.issue(at, `must be a map {from, to}, got ${describe(item)}`);
      ok = false;
      return;
    }
    for (const k of Object.keys(item)) {
      if (k !== 'from' && k !== 'to') {
        cx.issue(`${at}.${k}`, `unknown field '${k}' (a replacement accepts from, to)`);
        ok = false;
      }
    }
    const from = readRegexTemplate(item.from, `${at}.from`, cx) as Pattern | undefined;
    let to: Template | undefined;
    const tv = item.to ?? '';
    if (typeof tv !== 'string') {
      cx.issue(`${at}.to`, `must be a string, got ${describe(tv)}`);
    } else to = cx.template(tv, `${at}.to`);
    if (from === undefined || to === undefined) ok = false;
    else out.push({ from, to, label: `${cx.path}.${at}` });
  });
  return ok ? out : undefined;
}

/** Evaluates every `from`/`to` for this request. Throws PolicyRuntimeError on a bad runtime pattern. */
export function evalReplacements(cx: ActionRunContext, list: readonly Replacement[]): ReadyReplacement[] {
  const out: ReadyReplacement[] = [];
  for (const r of list) {
    let re: RegExp;
    if (r.from.kind === 'static') re = r.from.re;
    else {
      const src = cx.evalString(r.from.t);
      const problem = src === '' ? 'the pattern is empty' : regexProblem(src);
      if (problem) throw new PolicyRuntimeError(`${r.label}.from`, problem);
      re = new RegExp(src, 'g');
    }
    out.push({ re, to: r.to.isStatic ? r.to.staticValue : cx.evalString(r.to) });
  }
  return out;
}

/** Applies the replacements to a body; undefined when nothing changed. Synchronous. */
export function replaceInBody(body: Buffer, list: readonly ReadyReplacement[]): Buffer | undefined {
  const encoding: BufferEncoding = isUtf8(body) ? 'utf8' : 'latin1';
  const before = body.toString(encoding);
  let text = before;
  for (const r of list) {
    r.re.lastIndex = 0;
    text = text.replace(r.re, (...args: unknown[]) => expandGroups(r.to, args));
  }
  return text === before ? undefined : Buffer.from(text, encoding);
}
