/**
 * Captured requests as the wire shows them (admin.proto `Capture`): the summary for lists, and
 * with `detail` the headers and bodies. Also the list filter as a CaptureQuery, validated.
 */
import { MeshgateError } from '../core/errors.js';
import type { ServedBy } from '../edge/observe/request-record.js';
import type { Capture, CaptureMember, CapturedMessage, Header, ListCapturesRequest } from '../gen/admin.js';
import type { BodyCopy } from './body-tee.js';
import type { CapturedRequest, CaptureQuery } from './capture-store.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export function captureMessage(c: CapturedRequest, nodeId: string, detail: boolean): Capture {
  const r = c.rec;
  const full = c.full;
  return {
    id: r.id,
    startedAt: new Date(r.startedAt).toISOString(),
    durationMs: Math.round(r.durationMs * 1000) / 1000,
    method: r.method,
    scheme: r.scheme,
    host: r.host,
    path: r.path,
    query: r.query,
    status: r.status,
    errorCode: r.errorCode,
    region: r.region,
    nodeId,
    clientIp: r.clientIp,
    account: c.account,
    endpoint: member(r.entry),
    servedBy: member(r.served),
    decisions: (r.decisions ?? []).map((d) => ({ endpointId: d.endpointId, phase: d.phase, kind: d.kind, path: d.path, name: d.name, matched: d.matched ?? false })),
    logs: r.logs.map((l) => ({ endpointId: l.endpointId, phase: l.phase, action: l.action, metadataJson: JSON.stringify(l.metadata) })),
    traceId: r.traceId,
    replayOf: c.replayOf,
    capture: full !== undefined ? 'full' : c.dropped ? 'dropped' : 'metadata',
    request: detail && full !== undefined ? message(full.reqHeaders, full.reqHeadersTruncated, full.reqBody) : undefined,
    response: detail && full !== undefined ? message(full.resHeaders, full.resHeadersTruncated, full.resBody) : undefined,
  };
}

function member(m: ServedBy | undefined): CaptureMember | undefined {
  return m === undefined ? undefined : { id: m.id, url: m.url, type: m.type, region: m.region, nodeId: m.nodeId };
}

export function headerPairs(raw: readonly string[]): Header[] {
  const out: Header[] = [];
  for (let i = 0; i < raw.length; i += 2) out.push({ name: raw[i], value: raw[i + 1] });
  return out;
}

function message(headers: readonly string[], headersTruncated: boolean, body: BodyCopy | null): CapturedMessage {
  return {
    headers: headerPairs(headers),
    headersTruncated,
    body: body === null ? Buffer.alloc(0) : body.bytes(),
    bodySize: body?.size ?? 0,
    bodyTruncated: body?.truncated ?? false,
    bodyIncomplete: body !== null && !body.ended,
  };
}

/**
 * The list filter as a query for this edge's store; every problem is MG_ADMIN_REQUEST_INVALID
 * naming its field. `account` undefined = every account.
 */
export function queryOf(req: ListCapturesRequest, account: string | undefined): CaptureQuery {
  const q: CaptureQuery = { account, limit: pageSize(req.pageSize) + 1 };
  if (req.endpoint) q.endpoint = req.endpoint;
  if (req.pathPrefix) {
    if (!req.pathPrefix.startsWith('/')) throw invalid('path_prefix', `must start with '/', got '${req.pathPrefix}'`);
    q.pathPrefix = req.pathPrefix;
  }
  if (req.method) {
    if (!/^[A-Za-z]{1,20}$/.test(req.method)) throw invalid('method', `'${req.method}' is not an HTTP method`);
    q.method = req.method.toUpperCase();
  }
  if (req.status) q.status = statusRange(req.status);
  if (req.startedAfter) q.after = time('started_after', req.startedAfter);
  if (req.startedBefore) q.before = time('started_before', req.startedBefore);
  if (req.pageToken) q.olderThan = decodeCursor(req.pageToken);
  return q;
}

export function pageSize(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE) throw invalid('page_size', `must be 0 (default ${DEFAULT_PAGE}) to ${MAX_PAGE}, got ${n}`);
  return n || DEFAULT_PAGE;
}

/** "404", "4xx" or "400-499" → inclusive range. */
export function statusRange(s: string): [number, number] {
  let m = /^([1-5])xx$/i.exec(s);
  if (m) return [Number(m[1]) * 100, Number(m[1]) * 100 + 99];
  m = /^(\d{1,3})(?:-(\d{1,3}))?$/.exec(s);
  if (m) {
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo <= hi && hi <= 599) return [lo, hi];
  }
  throw invalid('status', `'${s}' is not a status (404), a class (5xx) or a range (400-499)`);
}

function time(field: string, s: string): number {
  const t = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s) || Number.isNaN(t)) throw invalid(field, `'${s}' is not an RFC 3339 time, e.g. 2025-01-31T12:00:00Z`);
  return t;
}

/** Page cursor: the last record of the page (its arrival and id); the next page is what is older. */
export function encodeCursor(c: { startedAt: string; id: string }): string {
  return Buffer.from(JSON.stringify({ t: Date.parse(c.startedAt), id: c.id })).toString('base64url');
}

function decodeCursor(token: string): { t: number; id: string } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { t?: unknown; id?: unknown };
    if (typeof v.t === 'number' && Number.isFinite(v.t) && typeof v.id === 'string') return { t: v.t, id: v.id };
  } catch {
    // fall through
  }
  throw invalid('page_token', 'is not a next_page_token from a previous page');
}

function invalid(field: string, detail: string): MeshgateError {
  return new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field, detail });
}
