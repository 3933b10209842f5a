/**
 * Ending spans of HTTP exchanges from the stream events Node emits anyway: status, the
 * gateway's error code, and ERROR for a failed or cut-off exchange (server spans from 500,
 * client spans from 400, as the HTTP semantic conventions say).
 */
import type { RecordedSpan } from './span-recorder.js';
import type { Hop } from './tracing.js';

/** Ends an HTTP span. `cut` = the exchange ended before the response did. */
export function endHttpSpan(span: RecordedSpan, status: unknown, errorCode: unknown, cut: string | undefined, server: boolean): void {
  const n = Number(status);
  if (n > 0) span.status = n;
  if (errorCode !== undefined && errorCode !== null) span.errorCode = String(errorCode);
  if (cut !== undefined) span.error(cut);
  else if (n >= (server ? 500 : 400)) span.error();
  span.end();
}

/** A request sent on an HTTP/2 stream (tunnel or relay): the span ends when the stream closes. */
export class StreamHop implements Hop {
  private status = 0;
  private code: unknown;

  constructor(private readonly span: RecordedSpan) {}

  response(status: number, errorCode: unknown): void {
    this.status = status;
    this.code = errorCode;
  }

  closed(rstCode: number): void {
    // a WebSocket (101) session ends with a reset when either side goes away: not a failure
    const cut = this.status === 0 ? `stream closed before a response (code ${rstCode})` : rstCode !== 0 && this.status !== 101 ? `stream reset (code ${rstCode})` : undefined;
    endHttpSpan(this.span, this.status, this.code, cut, false);
  }

  failed(err: Error): void {
    this.span.error(err.message);
    this.span.end();
  }
}

/** For requests that are not recorded: context was propagated, nothing to end. */
export const NOOP_HOP: Hop = Object.freeze({ response() {}, closed() {}, failed() {} });
