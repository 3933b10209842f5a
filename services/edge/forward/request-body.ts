/**
 * Buffering a request body for policies that must read it whole (verify-webhook,
 * request-body-find-replace). Only then, and never more than the policy's limit: everything
 * else streams. Beyond the limit the request is answered 413 MG_REQUEST_BODY_TOO_LARGE.
 */
import type { Readable } from 'node:stream';
import type { EdgeExchange } from './exchange.js';
import { gatewayError, type GatewayResponse } from './gateway-response.js';

/** Reads the body into `x.req.body`; returns an error response when it is too large or broken. */
export function bufferRequestBody(x: EdgeExchange, limit: number): Promise<GatewayResponse | null> {
  const declared = Number(x.req.headers['content-length']?.[0] ?? NaN);
  if (declared > limit) return Promise.resolve(tooLarge(x.body, limit));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const body = x.body;
    const done = (r: GatewayResponse | null) => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return done(tooLarge(body, limit));
      chunks.push(c);
    };
    const onEnd = () => {
      x.req.body = Buffer.concat(chunks, size);
      done(null);
    };
    const onError = (e: Error) => done(gatewayError('MG_REQUEST_INVALID', `the request body could not be read: ${e.message}`));
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

function tooLarge(body: Readable, limit: number): GatewayResponse {
  body.pause();
  const r = gatewayError('MG_REQUEST_BODY_TOO_LARGE', `this endpoint's policy reads request bodies of at most ${limit} bytes`);
  r.headers.connection = 'close';
  return r;
}
