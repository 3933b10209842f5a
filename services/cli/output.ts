/**
 * How the admin commands print: aligned tables and `key  value` blocks for people, and the proto
 * messages as JSON with the proto's snake_case field names (every field, defaults included) for
 * scripts. Pure functions: they return text, the commands write it.
 */

/** A cell as one line: control characters (newlines, tabs, escapes) become spaces. */
export function cell(v: unknown): string {
  // eslint-disable-next-line no-control-regex
  return String(v ?? '').replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

/** Shortens `s` to at most `max` characters, ending in `…` when cut. */
export function truncate(s: string, max: number): string {
  if (max < 1) return '';
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…';
}

/**
 * An aligned table: a header row of column names, then one row per item; columns are
 * separated by three spaces and padded to their widest cell (the last one is not padded).
 */
export function formatTable(columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const all = [columns.map(cell), ...rows.map((r) => columns.map((_, i) => cell(r[i])))];
  const widths = columns.map((_, i) => Math.max(...all.map((r) => [...r[i]].length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - [...c].length)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key   value` lines, keys padded to the longest; multi-line values are indented under their key. */
export function formatFields(pairs: ReadonlyArray<readonly [string, unknown]>): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  const out: string[] = [];
  for (const [k, v] of pairs) {
    const text = String(v ?? '');
    if (text.includes('\n')) {
      out.push(`${k}:`);
      for (const line of text.replace(/\n+$/, '').split('\n')) out.push(`  ${line}`);
    } else {
      out.push(`${k.padEnd(width)}   ${text}`.trimEnd());
    }
  }
  return out.join('\n');
}

/** `poolingEnabled` → `pooling_enabled`. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

/** A ts-proto message (camelCase) as the proto's JSON with snake_case names, recursively. */
export function toSnakeJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toSnakeJson);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (val !== undefined) out[snakeCase(k)] = toSnakeJson(val);
    }
    return out;
  }
  return v;
}

/** Pretty JSON (2 spaces) of a message, snake_case, with a final newline. */
export function jsonText(message: unknown): string {
  return JSON.stringify(toSnakeJson(message), null, 2) + '\n';
}
