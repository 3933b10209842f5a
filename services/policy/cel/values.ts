/**
 * Turning CEL values into strings (for `${}` interpolation into string fields) and into plain
 * JSON-able values (for `policy test` output and action result variables).
 */

const utf8 = new TextDecoder();

/** How a CEL value reads inside an interpolated string. Lists and maps are written as JSON. */
export function celToString(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
    case 'number':
    case 'boolean':
      return String(v);
    case 'undefined':
      return '';
    default:
      break;
  }
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return utf8.decode(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v) || v instanceof Map || v instanceof Set || isPlainObject(v)) return JSON.stringify(celToJson(v));
  return String(v);
}

/** A JSON-safe copy of a CEL value: ints become numbers (or strings when unsafe), maps objects. */
export function celToJson(v: unknown): unknown {
  switch (typeof v) {
    case 'bigint':
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'undefined':
      return null;
    default:
      break;
  }
  if (v === null) return null;
  if (Array.isArray(v) || v instanceof Set) return Array.from(v, celToJson);
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[String(k)] = celToJson(x);
    return out;
  }
  if (v instanceof Uint8Array) return utf8.decode(v);
  if (v instanceof Date) return v.toISOString();
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = celToJson(v[k]);
    return out;
  }
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
