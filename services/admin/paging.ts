/**
 * Page tokens of list calls: opaque base64url of `{o: offset, f: digest of the filter}`. A token
 * is only valid with the filter it was made for; a bad one is refused naming `page_token`.
 */
import { createHash } from 'node:crypto';
import { MeshgateError } from '../core/errors.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

const filterTag = (filter: string): string => createHash('sha256').update(filter).digest('base64url').slice(0, 12);

export function pageOf<T>(items: readonly T[], pageSize: number, token: string, filter: string): { items: T[]; next: string } {
  if (pageSize < 0 || pageSize > MAX_PAGE) throw new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'page_size', detail: `must be 0 (default ${DEFAULT_PAGE}) to ${MAX_PAGE}, got ${pageSize}` });
  const size = pageSize || DEFAULT_PAGE;
  let offset = 0;
  if (token) {
    let t: { o?: unknown; f?: unknown };
    try {
      t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    } catch {
      throw badToken();
    }
    if (typeof t.o !== 'number' || !Number.isInteger(t.o) || t.o < 0 || t.f !== filterTag(filter)) throw badToken();
    offset = t.o;
  }
  const page = items.slice(offset, offset + size);
  const end = offset + page.length;
  const next = end < items.length ? Buffer.from(JSON.stringify({ o: end, f: filterTag(filter) })).toString('base64url') : '';
  return { items: page, next };
}

function badToken(): MeshgateError {
  return new MeshgateError('MG_ADMIN_REQUEST_INVALID', { field: 'page_token', detail: 'is not a token from a previous page of this list with the same filter' });
}
