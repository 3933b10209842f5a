import type { OutgoingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { ERRORS, ERROR_HEADER, errorBody, type ErrorCode } from '../../core/errors.js';

/**
 * A response on its way to the client, before its head is written: from an upstream (through
 * an agent), made by a policy, or a gateway error. on_http_response phases may change it.
 */
export interface GatewayResponse {
  status: number;
  /** Node-style headers (lower-case names). */
  headers: OutgoingHttpHeaders;
  /** Body: a stream (upstream), a string (made here), or null (none). */
  body: Readable | string | null;
  /** Set on responses the gateway made to report an error. */
  errorCode?: ErrorCode;
  /** close-connection: drop the client connection without answering. */
  close?: boolean;
  /** For an upgrade the upstream accepted (101): the tunnel stream to splice with the client socket. */
  upgraded?: Duplex;
  /** True when the failure happened before anything reached the agent, so another member may be tried. */
  retryable?: boolean;
}

/** A response the gateway makes to report `code`, with the `meshgate-error-code` header. */
export function gatewayError(code: ErrorCode, detail?: string, retryable = false): GatewayResponse {
  const body = errorBody(code, detail);
  return {
    status: ERRORS[code].http,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [ERROR_HEADER]: code },
    body,
    errorCode: code,
    retryable,
  };
}

/** Discards a response's body stream (when a policy replaces the response). */
export function discardBody(r: GatewayResponse): void {
  if (r.body && typeof r.body !== 'string') r.body.destroy();
  if (r.upgraded) r.upgraded.destroy();
}

/**
 * Gateway errors that mean "the request never reached an upstream": forward-internal failed (so
 * `on_error: continue` may fall through), and an http-request side call or an L4 forward got no
 * answer. Shared by those three.
 */
export const FORWARD_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'MG_FORWARD_TARGET_OFFLINE',
  'MG_FORWARD_NOT_INTERNAL',
  'MG_FORWARD_CHAIN_TOO_DEEP',
  'MG_AGENT_UNREACHABLE',
  'MG_UPSTREAM_CONNECT_FAILED',
  'MG_UPSTREAM_TIMEOUT',
]);
