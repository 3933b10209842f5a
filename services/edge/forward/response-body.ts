/**
 * Buffering a response body for response-body-find-replace (the policy set `res.rewrite`). Only
 * then, and never more than the rewrite's limit: every other response streams. The body is read
 * whole, its content-encodings undone (bounded by the same limit, so a compression bomb costs at
 * most `limit` bytes), rewritten, and handed back with its exact content-length; beyond the limit
 * the response becomes 502 MG_RESPONSE_BODY_TOO_LARGE, an undecodable body 502
 * MG_RESPONSE_BODY_UNREADABLE (see response-body-find-replace.ts for why it fails closed).
 */
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { BodyRewrite } from '../../policy/types.js';
import { discardBody, gatewayError, type GatewayResponse } from './gateway-response.js';
import { readAtMost } from './read-at-most.js';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotli = promisify(zlib.brotliDecompress);

type Read = { ok: true; body: Buffer } | { ok: false; tooLarge: boolean; message: string };

/**
 * Rewrites `r`'s body in place (body, content-length unless `streamEncoded`). Returns the error
 * response to send instead when the body is too large or cannot be read, else null.
 */
export async function rewriteResponseBody(r: GatewayResponse, rw: BodyRewrite, streamEncoded: boolean): Promise<GatewayResponse | null> {
  const body = r.body;
  if (body === null) return null;
  const raw: Read = typeof body === 'string' ? { ok: true, body: Buffer.from(body) } : await readBody(body, rw.limit);
  if (!raw.ok) return failed(r, raw);
  let data = raw.body;
  for (let i = rw.decode.length - 1; i >= 0; i--) {
    const d = await decode(data, rw.decode[i], rw.limit);
    if (!d.ok) return failed(r, d);
    data = d.body;
  }
  if (data.length > rw.limit) return failed(r, { tooLarge: true, message: '' });
  const out = rw.apply(data);
  r.body = Readable.from([out], { objectMode: false });
  if (!streamEncoded) r.headers['content-length'] = out.length;
  return null;
}

function failed(r: GatewayResponse, why: { tooLarge: boolean; message: string }): GatewayResponse {
  discardBody(r);
  return why.tooLarge
    ? gatewayError('MG_RESPONSE_BODY_TOO_LARGE', 'the response body is larger than max_body_size of response-body-find-replace')
    : gatewayError('MG_RESPONSE_BODY_UNREADABLE', why.message);
}

/** readAtMost, in this file's result shape. */
async function readBody(body: Readable, limit: number): Promise<Read> {
  const r = await readAtMost(body, limit);
  if (r === 'too-large') return { ok: false, tooLarge: true, message: '' };
  if (r instanceof Error) return { ok: false, tooLarge: false, message: `the response body could not be read: ${r.message}` };
  return { ok: true, body: r };
}

async function decode(data: Buffer, coding: BodyRewrite['decode'][number], limit: number): Promise<Read> {
  const opts = { maxOutputLength: limit };
  try {
    if (coding === 'gzip') return { ok: true, body: await gunzip(data, opts) };
    if (coding === 'br') return { ok: true, body: await brotli(data, opts) };
    // HTTP "deflate" is zlib-wrapped, but some servers send raw deflate.
    return { ok: true, body: await inflate(data, opts).catch((e: NodeJS.ErrnoException) => (e.code === 'Z_DATA_ERROR' ? inflateRaw(data, opts) : Promise.reject(e))) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) return { ok: false, tooLarge: true, message: '' };
    return { ok: false, tooLarge: false, message: `the ${coding} response body could not be decoded: ${err.message}` };
  }
}
