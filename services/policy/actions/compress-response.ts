/**
 * compress-response (on_http_response): compresses the response body with the best algorithm
 * the client accepts (Accept-Encoding with q-values; ties go to the configured order). Skipped
 * when the response is already encoded, has no body (HEAD, 1xx, 204, 304), or the client
 * accepts none of the algorithms. The body itself is compressed by the edge while streaming;
 * this action only decides and sets the head: content-encoding, vary: accept-encoding, no
 * content-length. `compress` (LZW) is accepted for ngrok compatibility but never chosen.
 * Result: actions.ngrok.compress_response.{already_compressed, negotiated_algorithm}.
 */
import { registerAction, type ActionDefinition } from './registry.js';

type Algo = 'gzip' | 'deflate' | 'br';
const KNOWN = ['gzip', 'deflate', 'br', 'compress'] as const;

interface CompressConfig {
  readonly algorithms: readonly Algo[];
}

/** Parses Accept-Encoding into name → q (lower-case names; q defaults to 1). */
export function acceptedEncodings(values: readonly string[] | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of values ?? []) {
    for (const part of v.split(',')) {
      const [name, ...params] = part.trim().toLowerCase().split(';');
      if (!name) continue;
      let q = 1;
      for (const p of params) {
        const m = /^\s*q=([0-9.]+)\s*$/.exec(p);
        if (m) q = Math.min(1, Number(m[1]) || 0);
      }
      out.set(name, q);
    }
  }
  return out;
}

/** The algorithm to use, or undefined: highest q among `algorithms`, configured order on ties. */
export function negotiate(accept: Map<string, number>, algorithms: readonly Algo[]): Algo | undefined {
  let best: Algo | undefined;
  let bestQ = 0;
  for (const a of algorithms) {
    const q = accept.get(a) ?? accept.get('*') ?? 0;
    if (q > bestQ) {
      best = a;
      bestQ = q;
    }
  }
  return best;
}

export const compressResponse: ActionDefinition<CompressConfig> = {
  phases: ['on_http_response'],
  fields: ['algorithms'],

  compile(config, cx) {
    const raw = config.algorithms ?? ['gzip', 'deflate', 'br', 'compress'];
    if (!Array.isArray(raw) || raw.length === 0) {
      cx.issue('algorithms', 'must be a non-empty list of gzip, deflate, br, compress');
      return undefined;
    }
    const algorithms: Algo[] = [];
    let ok = true;
    raw.forEach((a, i) => {
      if (typeof a !== 'string' || !(KNOWN as readonly string[]).includes(a.toLowerCase())) {
        cx.issue(`algorithms[${i}]`, `'${String(a)}' is not one of gzip, deflate, br, compress`);
        ok = false;
      } else if (a.toLowerCase() !== 'compress' && !algorithms.includes(a.toLowerCase() as Algo)) {
        algorithms.push(a.toLowerCase() as Algo);
      }
    });
    if (!ok) return undefined;
    return { algorithms: Object.freeze(algorithms) };
  },

  termination() {
    return 'never';
  },

  run(cx, c) {
    const res = cx.response;
    if (res === undefined) return undefined;
    const already = res.headers['content-encoding'] !== undefined && res.headers['content-encoding'].some((v) => v.toLowerCase() !== 'identity');
    const noBody = cx.exchange.req.method === 'HEAD' || res.status < 200 || res.status === 204 || res.status === 304;
    const algo = already || noBody ? undefined : negotiate(acceptedEncodings(cx.exchange.req.headers['accept-encoding']), c.algorithms);
    cx.setResult('compress_response', { already_compressed: already, negotiated_algorithm: algo ?? '' });
    if (algo === undefined) return undefined;
    res.encode = algo;
    res.headers['content-encoding'] = [algo];
    delete res.headers['content-length'];
    const vary = res.headers['vary'];
    if (!vary) res.headers['vary'] = ['accept-encoding'];
    else if (!vary.some((v) => /accept-encoding/i.test(v))) vary.push('accept-encoding');
    return undefined;
  },
};

registerAction('compress-response', compressResponse);
