/**
 * `request-body-find-replace`: rewrite the whole request body with regular expressions before it
 * is forwarded.
 *
 * Config:
 * - `replacements` (required, 1 to 10 maps `{from, to}`): `from` is an RE2 regular expression
 *   (`${}` interpolated; checked with the RE2 guard at load when static, per request otherwise, a
 *   bad one then being a policy runtime error), `to` the replacement (`${}` interpolated, default
 *   ''; `$1`..`$99`, `$<name>` and `$$` refer to the match's groups, as in url-rewrite). They apply
 *   in order, each to the result of the previous one, replacing every match.
 * - `max_body_size` (meshgate extension; default 1 MiB, 1 to 16 MiB): the most body bytes the
 *   edge buffers for this action (`requestBodyLimit`); a larger body is answered 413
 *   MG_REQUEST_BODY_TOO_LARGE by the edge.
 *
 * The body is read as UTF-8. A body that is not valid UTF-8 (binary) is still processed, read
 * byte-for-character (latin1) so that bytes the patterns do not match are forwarded unchanged.
 * When something changed, `req.body` is replaced and `content-length` set to its new length (the
 * result may be larger than `max_body_size`). No body, or nothing matched → no change.
 */
import { isUtf8 } from 'node:buffer';
import type { Template } from '../cel/index.js';
import { regexProblem } from '../cel/index.js';
import { PolicyRuntimeError } from '../policy-runtime-error.js';
import { describe, isPlainMap, readInt } from './config.js';
import { registerAction, type ActionDefinition } from './registry.js';
import { expandGroups, readRegexTemplate } from './util.js';

export const DEFAULT_MAX_BODY = 1024 * 1024;
export const MAX_MAX_BODY = 16 * 1024 * 1024;

type Pattern = { kind: 'static'; re: RegExp } | { kind: 'dynamic'; t: Template };

interface Replacement {
  readonly from: Pattern;
  readonly to: Template;
  readonly label: string;
}

interface FindReplaceConfig {
  readonly replacements: readonly Replacement[];
  readonly maxBodySize: number;
}

export const requestBodyFindReplace: ActionDefinition<FindReplaceConfig> = {
  phases: ['on_http_request'],
  fields: ['replacements', 'max_body_size'],

  compile(config, cx) {
    let ok = true;
    const maxBodySize = readInt(config, 'max_body_size', { default: DEFAULT_MAX_BODY, min: 1, max: MAX_MAX_BODY }, cx);
    if (maxBodySize === undefined) ok = false;
    const list = config.replacements;
    const replacements: Replacement[] = [];
    if (list === undefined || list === null) {
      cx.issue('replacements', 'is required: a list of 1 to 10 {from, to} replacements');
      ok = false;
    } else if (!Array.isArray(list)) {
      cx.issue('replacements', `must be a list of {from, to} replacements, got ${describe(list)}`);
      ok = false;
    } else if (list.length < 1 || list.length > 10) {
      cx.issue('replacements', `must have 1 to 10 replacements, got ${list.length}`);
      ok = false;
    } else {
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
        else replacements.push({ from, to, label: `${cx.path}.${at}` });
      });
    }
    if (!ok) return undefined;
    return { replacements, maxBodySize: maxBodySize! };
  },

  termination() {
    return 'never';
  },

  requestBodyLimit(c) {
    return c.maxBodySize;
  },

  run(cx, c) {
    const req = cx.exchange.req;
    if (req.body === undefined || req.body.length === 0) return undefined;
    const encoding: BufferEncoding = isUtf8(req.body) ? 'utf8' : 'latin1';
    const before = req.body.toString(encoding);
    let text = before;
    for (const r of c.replacements) {
      let re: RegExp;
      if (r.from.kind === 'static') re = r.from.re;
      else {
        const src = cx.evalString(r.from.t);
        const problem = src === '' ? 'the pattern is empty' : regexProblem(src);
        if (problem) throw new PolicyRuntimeError(`${r.label}.from`, problem);
        re = new RegExp(src, 'g');
      }
      const to = r.to.isStatic ? r.to.staticValue : cx.evalString(r.to);
      re.lastIndex = 0;
      text = text.replace(re, (...args: unknown[]) => expandGroups(to, args));
    }
    if (text === before) return undefined;
    req.body = Buffer.from(text, encoding);
    req.headers['content-length'] = [String(req.body.length)];
    return undefined;
  },
};


registerAction('request-body-find-replace', requestBodyFindReplace);
