/**
 * `request-body-find-replace`: rewrite the whole request body with regular expressions before it
 * is forwarded.
 *
 * Config:
 * - `replacements` (required, 1 to 10 maps `{from, to}`; see body-replacements.ts, shared with
 *   response-body-find-replace): RE2 `from`, `to` with `$1` groups, applied in order, every match.
 * - `max_body_size` (meshgate extension; default 1 MiB, 1 to 16 MiB): the most body bytes the
 *   edge buffers for this action (`requestBodyLimit`); a larger body is answered 413
 *   MG_REQUEST_BODY_TOO_LARGE by the edge.
 *
 * The body is read as UTF-8. A body that is not valid UTF-8 (binary) is still processed, read
 * byte-for-character (latin1) so that bytes the patterns do not match are forwarded unchanged.
 * When something changed, `req.body` is replaced and `content-length` set to its new length (the
 * result may be larger than `max_body_size`). No body, or nothing matched → no change.
 */
import { compileBodyFindReplace, evalReplacements, replaceInBody, type BodyFindReplaceConfig } from './body-replacements.js';
import { registerAction, type ActionDefinition } from './registry.js';


type FindReplaceConfig = BodyFindReplaceConfig;

export const requestBodyFindReplace: ActionDefinition<FindReplaceConfig> = {
  phases: ['on_http_request'],
  fields: ['replacements', 'max_body_size'],

  compile(config, cx) {
    return compileBodyFindReplace(config, cx);
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
    const changed = replaceInBody(req.body, evalReplacements(cx, c.replacements));
    if (changed === undefined) return undefined;
    req.body = changed;
    req.headers['content-length'] = [String(changed.length)];
    return undefined;
  },
};

registerAction('request-body-find-replace', requestBodyFindReplace);
