/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: every line must
 * be a `# HELP`, a `# TYPE` or a sample `name{label="value",...} number`, label values unescaped,
 * each sample's metric declared by a preceding TYPE (histogram series as _bucket/_sum/_count).
 * Throws on anything else, so a test that parses `/metrics` proves the page is well formed.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

export function parsePrometheus(text: string): Sample[] {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const types = new Map<string, string>();
  const out: Sample[] = [];
  text.slice(0, -1).split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('# HELP ')) return;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!NAME.test(name) || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`bad TYPE, ${where}`);
      types.set(name, type);
      return;
    }
    if (line.startsWith('#') || line === '') throw new Error(`unexpected line, ${where}`);
    const m = NAME.exec(line);
    if (!m) throw new Error(`bad metric name, ${where}`);
    const name = m[0];
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/.exec(rest);
        if (!lm) throw new Error(`bad label, ${where}`);
        labels[lm[1]] = lm[2].replace(/\\(["\\n])/g, (_s, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(lm[0].length);
        if (!lm[3] && !rest.startsWith('}')) throw new Error(`missing comma, ${where}`);
      }
      rest = rest.slice(1);
    }
    const vm = /^ (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(rest);
    if (!vm) throw new Error(`bad value, ${where}`);
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(name) && !(types.get(base) === 'histogram')) throw new Error(`sample without TYPE, ${where}`);
    out.push({ name, labels, value: vm[1] === '+Inf' ? Infinity : vm[1] === '-Inf' ? -Infinity : Number(vm[1]) });
  });
  return out;
}

/** The sample of `name` whose labels include every one of `labels`. */
export function sample(samples: readonly Sample[], name: string, labels: Record<string, string>): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
