/**
 * A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
 * the text exposition format (version 0.0.4) for `/metrics`.
 *
 * Updating a series is a Map lookup on the joined label values and an add; nothing is formatted
 * until a scrape. Gauges that mirror live state (pool sizes, sessions) are filled by collect
 * callbacks at scrape time instead of being kept up to date on every change.
 */

type LabelValues = readonly string[];

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
  }
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  abstract render(out: string[]): void;

  protected labels(values: LabelValues, extra = ''): string {
    const parts = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
    if (extra) parts.push(extra);
    return parts.length ? `{${parts.join(',')}}` : '';
  }
}

const SEP = '\u0001';

export class Counter extends Metric {
  readonly type = 'counter' as const;
  private readonly series = new Map<string, { values: LabelValues; n: number }>();

  inc(values: LabelValues, n = 1): void {
    const key = values.join(SEP);
    const s = this.series.get(key);
    if (s) s.n += n;
    else this.series.set(key, { values: [...values], n });
  }

  /** Current value (tests, console). */
  get(values: LabelValues): number {
    return this.series.get(values.join(SEP))?.n ?? 0;
  }

  render(out: string[]): void {
    for (const s of this.series.values()) out.push(`${this.name}${this.labels(s.values)} ${s.n}`);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge' as const;
  private series = new Map<string, { values: LabelValues; v: number }>();

  set(values: LabelValues, v: number): void {
    this.series.set(values.join(SEP), { values: [...values], v });
  }

  /** Drops every series (a collect callback refills the gauge from live state). */
  reset(): void {
    this.series = new Map();
  }

  render(out: string[]): void {
    for (const s of this.series.values()) out.push(`${this.name}${this.labels(s.values)} ${formatNumber(s.v)}`);
  }
}

export class Histogram extends Metric {
  readonly type = 'histogram' as const;
  private readonly series = new Map<string, { values: LabelValues; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[]) {
    super(name, help, labelNames);
  }

  observe(values: LabelValues, v: number): void {
    const key = values.join(SEP);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { values: [...values], counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
    s.sum += v;
    s.count++;
  }

  render(out: string[]): void {
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${this.labels(s.values, `le="${formatNumber(b)}"`)} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${this.labels(s.values, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${this.labels(s.values)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${this.labels(s.values)} ${s.count}`);
    }
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private readonly collectors: Array<() => void> = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs before every render: fills gauges from live state. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  render(): string {
    for (const fn of this.collectors) fn();
    const out: string[] = [];
    for (const m of this.metrics) {
      out.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      m.render(out);
    }
    return out.join('\n') + '\n';
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
