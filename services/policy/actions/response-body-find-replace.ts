/**
 * `response-body-find-replace` (on_http_response): rewrite the whole response body with regular
 * expressions before it reaches the client.
 *
 * Config:
 * - `replacements` (required, 1 to 10 maps `{from, to}`; see body-replacements.ts, shared with
 *   request-body-find-replace): RE2 `from`, `to` with `$1` groups, applied in order, every match.
 * - `max_body_size` (meshgate extension; default 1 MiB, 1 to 16 MiB): the most body bytes the
 *   edge buffers for this response, counted after decoding.
 *
 * The engine never sees bodies: when the rule matches, this action evaluates its `${}` parts and
 * hands the edge a BodyRewrite (`res.rewrite`, next to compress-response's `res.encode`). The edge
 * then — only for this response — buffers the body, rewrites it, sets `content-length` to the new
 * length, and compresses afterwards if compress-response asked for it (replace first, then
 * compress, in whichever order the two actions appear).
 *
 * - Encoded upstream bodies (`content-encoding` gzip, x-gzip, deflate, br) are decoded first, so
 *   the patterns see text, and compressed again with the same coding (`res.encode`; streamed, so
 *   no content-length); a stack of several codings is sent on uncompressed. Any other coding
 *   cannot be read: the response becomes 502 MG_RESPONSE_BODY_UNREADABLE (as does a corrupt
 *   encoded body).
 * - A body larger than `max_body_size` becomes 502 MG_RESPONSE_BODY_TOO_LARGE. We fail closed
 *   rather than pass the body through unchanged: find-replace is mostly used to redact, and a
 *   response that silently skipped the redaction would leak exactly what the policy hides. Scope
 *   the rule with an expression (`res.content_type.startsWith('text/')`, `res.content_length <
 *   1000000`) for endpoints that also serve large files.
 * - Responses without a body (HEAD, 1xx, 204, 304) are left alone.
 * Several of these actions (same phase or chained endpoints) apply in order.
 */
import type { BodyRewrite } from '../types.js';
import { compileBodyFindReplace, evalReplacements, replaceInBody, type BodyFindReplaceConfig, type ReadyReplacement } from './body-replacements.js';
import { registerAction, type ActionDefinition } from './registry.js';

type Coding = BodyRewrite['decode'][number];
const CODINGS: Readonly<Record<string, Coding>> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br' };

type ResponseFindReplaceConfig = BodyFindReplaceConfig;

/**
 * The codings to undo for a `content-encoding` header, in the order they were applied; a string
 * naming the first unknown coding; [] for none/identity.
 */
export function decodingsOf(values: readonly string[] | undefined): Coding[] | string {
  const out: Coding[] = [];
  for (const v of values ?? []) {
    for (const part of v.split(',')) {
      const name = part.trim().toLowerCase();
      if (name === '' || name === 'identity') continue;
      const c = CODINGS[name];
      if (c === undefined) return name;
      out.push(c);
    }
  }
  return out;
}

/** A BodyRewrite applying `list`; chained after `prev` when an earlier action already set one. */
function rewriteWith(list: readonly ReadyReplacement[], limit: number, decode: readonly Coding[], prev: BodyRewrite | undefined): BodyRewrite {
  const own = (body: Buffer): Buffer => replaceInBody(body, list) ?? body;
  if (prev === undefined) return { limit, decode, apply: own };
  return { limit: Math.max(prev.limit, limit), decode: prev.decode, apply: (body) => own(prev.apply(body)) };
}

export const responseBodyFindReplace: ActionDefinition<ResponseFindReplaceConfig> = {
  phases: ['on_http_response'],
  fields: ['replacements', 'max_body_size'],

  compile(config, cx) {
    return compileBodyFindReplace(config, cx);
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    const res = cx.response;
    if (res === undefined) return undefined;
    if (cx.exchange.req.method === 'HEAD' || res.status < 200 || res.status === 204 || res.status === 304) return undefined;
    const list = evalReplacements(cx, c.replacements);
    let decode: Coding[] = [];
    // compress-response already ran in this phase: the content-encoding it set is the edge's own
    // (applied after the rewrite); the upstream body itself is not encoded.
    if (res.rewrite === undefined && res.encode === undefined) {
      const d = decodingsOf(res.headers['content-encoding']);
      if (typeof d === 'string') {
        return { kind: 'error', code: 'MG_RESPONSE_BODY_UNREADABLE', message: `response-body-find-replace cannot decode content-encoding '${d}'` };
      }
      decode = d;
      if (d.length === 1) {
        // keep the upstream's compression: decode, rewrite, encode again
        res.encode = d[0];
        res.headers['content-encoding'] = [d[0]];
      } else if (res.headers['content-encoding'] !== undefined) delete res.headers['content-encoding'];
    }
    res.rewrite = rewriteWith(list, c.maxBodySize, decode, res.rewrite);
    delete res.headers['content-length'];
    return undefined;
  },
};

registerAction('response-body-find-replace', responseBodyFindReplace);
