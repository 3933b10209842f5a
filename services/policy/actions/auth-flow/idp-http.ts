/**
 * HTTP calls to identity providers (discovery, token, userinfo), with the bounds every call from
 * the request path needs: 5 s for the whole exchange, no redirects followed, at most 256 KB read.
 *
 * `idpCall` never rejects for an HTTP status: the caller decides what a 400 or 401 means. It
 * rejects with `AuthFailure(MG_IDP_UNAVAILABLE)` when the provider cannot be reached, times out or
 * sends too much. Bodies are parsed as JSON, or as a form (GitHub answers
 * `application/x-www-form-urlencoded` unless asked for JSON).
 */
import { readLimitedText } from '../read-limited.js';
import type { ErrorCode } from '../../../core/errors.js';

export const IDP_TIMEOUT_MS = 5_000;
export const IDP_MAX_BYTES = 256 * 1024;
const USER_AGENT = 'meshgate-auth';

/** A failed sign-in step, with the code the client sees. */
export class AuthFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const oauthFailed = (message: string): AuthFailure => new AuthFailure('MG_OAUTH_FAILED', message);
export const idpUnavailable = (message: string): AuthFailure => new AuthFailure('MG_IDP_UNAVAILABLE', message);

export interface IdpAnswer {
  readonly status: number;
  /** The body as a JSON object or form fields; undefined when it is neither. */
  readonly data: Record<string, unknown> | undefined;
  /** The body as a JSON array, when it is one (GitHub's /user/emails). */
  readonly list: unknown[] | undefined;
}

export interface IdpRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Form fields for a POST (application/x-www-form-urlencoded). */
  form?: Record<string, string>;
}

/** One bounded call; `what` names it in messages ("the token endpoint"). */
export async function idpCall(url: string, what: string, r: IdpRequest = {}): Promise<IdpAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT, ...r.headers };
  let body: string | undefined;
  if (r.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(r.form).toString();
  }
  let res: Response;
  try {
    res = await fetch(url, { method: r.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual', signal: AbortSignal.timeout(IDP_TIMEOUT_MS) });
  } catch (e) {
    throw idpUnavailable(`${what} (${url}) could not be reached: ${networkCause(e)}`);
  }
  let text: string;
  try {
    text = await readLimitedText(res, IDP_MAX_BYTES);
  } catch (e) {
    throw idpUnavailable(`${what} (${url}) did not answer completely: ${networkCause(e)}`);
  }
  return { status: res.status, ...parseBody(text, res.headers.get('content-type') ?? '') };
}

function parseBody(text: string, type: string): { data: Record<string, unknown> | undefined; list: unknown[] | undefined } {
  if (/json/i.test(type) || /^\s*[[{]/.test(text)) {
    try {
      const v: unknown = JSON.parse(text);
      if (Array.isArray(v)) return { data: undefined, list: v };
      if (typeof v === 'object' && v !== null) return { data: v as Record<string, unknown>, list: undefined };
    } catch {
      // fall through: not JSON
    }
    return { data: undefined, list: undefined };
  }
  if (/x-www-form-urlencoded|text\/plain/i.test(type) && text.includes('=')) {
    return { data: Object.fromEntries(new URLSearchParams(text.trim())), list: undefined };
  }
  return { data: undefined, list: undefined };
}

function networkCause(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no answer within ${IDP_TIMEOUT_MS / 1000} s`;
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

/** `error: description` from an OAuth error answer, or the HTTP status. */
export function oauthError(a: IdpAnswer): string {
  const err = typeof a.data?.error === 'string' ? a.data.error : `HTTP status ${a.status}`;
  const desc = typeof a.data?.error_description === 'string' ? `: ${a.data.error_description.slice(0, 200)}` : '';
  return err + desc;
}

/** A string claim/field, or ''. Numbers (GitHub's numeric ids) become strings. */
export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}
