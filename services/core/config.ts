/**
 * Validation helpers for every config boundary (edge.yaml, agent.yml, flags): parse YAML keeping
 * line numbers, walk the document collecting *all* issues as `{path, message, line}`, then the
 * caller applies defaults and freezes. Nothing here throws for bad input.
 */
import { LineCounter, parseDocument, isNode, type Node } from 'yaml';
import type { Issue } from './errors.js';

export type PathSeg = string | number;
export type Path = readonly PathSeg[];

/** `['accounts', 0, 'authtokens']` → `accounts[0].authtokens`. */
export function formatPath(path: Path): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s ? `.${seg}` : seg;
  return s || '(root)';
}

export interface YamlSource {
  value: unknown;
  /** 1-based line of the node at `path`, or of its nearest existing parent. */
  lineOf(path: Path): number | undefined;
  /** Syntax errors, already as issues. */
  issues: Issue[];
}

/** Parses YAML (JSON is YAML too) and keeps positions for error messages. */
export function parseYamlSource(text: string): YamlSource {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  const issues: Issue[] = doc.errors.map((e) => ({
    path: '(document)',
    message: e.message.split('\n')[0],
    line: e.linePos?.[0]?.line,
  }));
  const lineOf = (path: Path): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { value: issues.length ? undefined : doc.toJS({ maxAliasCount: 100 }), lineOf, issues };
}

/** Collects issues while walking a parsed document. */
export class Checker {
  readonly issues: Issue[] = [];
  constructor(private readonly lineOf?: (path: Path) => number | undefined) {}

  add(path: Path, message: string): void {
    this.issues.push({ path: formatPath(path), message, line: this.lineOf?.(path) });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }

  /** An object with only `allowed` keys; reports unknown keys. Returns undefined (and an issue) otherwise. */
  object(v: unknown, path: Path, allowed: readonly string[], required = true): Record<string, unknown> | undefined {
    if (v === undefined || v === null) {
      if (required) this.add(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.add(path, `must be a mapping, got ${kind(v)}`);
      return undefined;
    }
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.add([...path, k], `unknown field; expected one of ${allowed.join(', ')}`);
    }
    return o;
  }

  string(v: unknown, path: Path, opts: { required?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.add(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.add(path, `must be a string, got ${kind(v)}`);
      return undefined;
    }
    if (opts.nonEmpty && v.trim() === '') {
      this.add(path, 'must not be empty');
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: Path, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') {
      this.add(path, `must be true or false, got ${kind(v)}`);
      return dflt;
    }
    return v;
  }

  list(v: unknown, path: Path, required = false): unknown[] {
    if (v === undefined || v === null) {
      if (required) this.add(path, 'is required');
      return [];
    }
    if (!Array.isArray(v)) {
      this.add(path, `must be a list, got ${kind(v)}`);
      return [];
    }
    return v;
  }

  stringList(v: unknown, path: Path): string[] {
    const out: string[] = [];
    this.list(v, path).forEach((item, i) => {
      const s = this.string(item, [...path, i], { nonEmpty: true });
      if (s !== undefined) out.push(s);
    });
    return out;
  }
}

export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Parses `host:port`, `[::1]:port` or `:port`; returns undefined when malformed. */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Deep-freezes a config object after validation and defaults. */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
