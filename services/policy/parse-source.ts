/**
 * Policy text (YAML or JSON — JSON is read by the same YAML 1.2 parser) → plain values plus the
 * 1-based line of every path, so each validation issue can say where it is.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { Issue } from '../core/errors.js';

/** Largest policy accepted, in bytes of source text. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Most nodes a policy may expand to (guards against alias bombs). */
const MAX_NODES = 200_000;

/** The parsed document: plain JS values, and where each path is in the source. */
export interface SourceTree {
  readonly value: unknown;
  /**
   * Line of `path`, or of its nearest ancestor that has one (a missing field points at its
   * parent). A missing top-level key has no line: the document root is not its "parent" in any
   * useful sense.
   */
  lineOf(path: string): number | undefined;
}

export type ParseResult = { ok: true; tree: SourceTree } | { ok: false; issues: Issue[] };

export function parseSource(source: string): ParseResult {
  if (Buffer.byteLength(source, 'utf8') > MAX_POLICY_BYTES) {
    return { ok: false, issues: [{ path: '', message: `the policy is larger than ${MAX_POLICY_BYTES} bytes` }] };
  }
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({
        path: '',
        message: `cannot parse the policy as YAML or JSON: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
        line: e.linePos?.[0]?.line,
      })),
    };
  }
  // `- !has(req.x)` parses as a YAML tag with an empty value: say so instead of "expression is empty".
  const tags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tags.length > 0) {
    return {
      ok: false,
      issues: tags.map((w) => ({
        path: '',
        message: `YAML read ${/Unresolved tag: (\S+)/.exec(w.message)?.[1] ?? 'a value'} as a tag: quote values that start with '!', e.g. "!has(req.headers.x)"`,
        line: w.linePos?.[0]?.line,
      })),
    };
  }
  const lines = new Map<string, number>();
  const state = { nodes: 0 };
  let value: unknown;
  try {
    value = toPlain(doc, doc.contents, '', lines, lc, state);
  } catch (e) {
    return { ok: false, issues: [{ path: '', message: (e as Error).message }] };
  }
  return {
    ok: true,
    tree: {
      value,
      lineOf(path: string): number | undefined {
        if (path === '') return lines.get('');
        for (let p: string | undefined = path; p !== undefined && p !== ''; p = parentPath(p)) {
          const l = lines.get(p);
          if (l !== undefined) return l;
        }
        return undefined;
      },
    },
  };
}

function toPlain(doc: Document, node: unknown, path: string, lines: Map<string, number>, lc: LineCounter, state: { nodes: number }): unknown {
  if (++state.nodes > MAX_NODES) throw new Error(`the policy expands to more than ${MAX_NODES} values (aliases?)`);
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return toPlain(doc, node.resolve(doc), path, lines, lc, state);
  const n = node as Node;
  if (n.range && !lines.has(path)) lines.set(path, lc.linePos(n.range[0]).line);
  if (isScalar(n)) return n.value;
  if (isSeq(n)) {
    return n.items.map((item, i) => {
      const p = `${path}[${i}]`;
      return toPlain(doc, item, p, lines, lc, state);
    });
  }
  if (isMap(n)) {
    const out: Record<string, unknown> = {};
    for (const pair of n.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : JSON.stringify(keyNode?.toJSON?.() ?? null);
      const p = joinPath(path, key);
      // The key's line: that is where a user looks for `actions:` or `url:`.
      if (keyNode?.range) lines.set(p, lc.linePos(keyNode.range[0]).line);
      Object.defineProperty(out, key, { value: toPlain(doc, pair.value, p, lines, lc, state), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return null;
}

/** `a.b`, `a["x-y z"]`, or `b` at the root. Keys that are identifiers (with '-') use dots. */
export function joinPath(base: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/** `a.b[2]` → `a.b`, `a.b` → `a`, `a` → `''`, `''` → undefined. */
export function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  if (path.endsWith(']')) {
    // `[n]` or `["..."]`: find the matching '[' (quoted keys may contain brackets)
    const quoted = path.endsWith('"]');
    if (!quoted) return path.slice(0, path.lastIndexOf('['));
    for (let i = path.length - 3; i >= 0; i--) {
      if (path[i] === '"' && path[i - 1] === '[' && path[i - 2] !== '\\') return path.slice(0, i - 1);
    }
    return '';
  }
  const dot = path.lastIndexOf('.');
  const bracket = path.lastIndexOf(']');
  if (dot > bracket) return path.slice(0, dot);
  return bracket >= 0 ? path.slice(0, bracket + 1) : '';
}
