// A small Prometheus registry and text exposition (format 0.0.4). The operator exposes a
// handful of series with controller-runtime's names, so dashboards and alerts written for
// Go operators work unchanged; a dependency for that much would be more code than this.

type Labels = Record<string, string>;

interface Child {
  labels: Labels;
}

abstract class Metric<C extends Child> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  protected readonly children = new Map<string, C>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  abstract readonly type: "counter" | "gauge" | "histogram";
  protected abstract create(labels: Labels): C;
  abstract renderChild(child: C, out: string[]): void;

  /** The series for these label values; created on first use and kept. */
  child(labels: Labels = {}): C {
    // Built by hand: this runs on every increment, and most metrics have one or two labels.
    let key = "";
    for (let i = 0; i < this.labelNames.length; i++)
      key += `${i > 0 ? "\u0000" : ""}${labels[this.labelNames[i] as string] ?? ""}`;
    let child = this.children.get(key);
    if (!child) {
      const own: Labels = {};
      for (const n of this.labelNames) own[n] = labels[n] ?? "";
      child = this.create(own);
      this.children.set(key, child);
    }
    return child;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const child of this.children.values()) this.renderChild(child, out);
  }
}

export interface CounterChild extends Child {
  value: number;
  inc(by?: number): void;
}

export class Counter extends Metric<CounterChild> {
  readonly type = "counter";
  protected create(labels: Labels): CounterChild {
    return {
      labels,
      value: 0,
      inc(by = 1) {
        // Counters only go up; a negative increment is a bug in the caller, not a value.
        if (by > 0) this.value += by;
      },
    };
  }
  inc(labels: Labels = {}, by = 1): void {
    this.child(labels).inc(by);
  }
  get(labels: Labels = {}): number {
    return this.child(labels).value;
  }
  renderChild(child: CounterChild, out: string[]): void {
    out.push(`${this.name}${formatLabels(child.labels)} ${formatValue(child.value)}`);
  }
}

export interface GaugeChild extends Child {
  value: number;
  set(value: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
}

export class Gauge extends Metric<GaugeChild> {
  readonly type = "gauge";
  protected create(labels: Labels): GaugeChild {
    return {
      labels,
      value: 0,
      set(value) {
        this.value = value;
      },
      inc(by = 1) {
        this.value += by;
      },
      dec(by = 1) {
        this.value -= by;
      },
    };
  }
  set(labels: Labels, value: number): void {
    this.child(labels).set(value);
  }
  get(labels: Labels = {}): number {
    return this.child(labels).value;
  }
  renderChild(child: GaugeChild, out: string[]): void {
    out.push(`${this.name}${formatLabels(child.labels)} ${formatValue(child.value)}`);
  }
}

export interface HistogramChild extends Child {
  counts: number[];
  sum: number;
  count: number;
  observe(value: number): void;
}

export class Histogram extends Metric<HistogramChild> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  protected create(labels: Labels): HistogramChild {
    const buckets = this.buckets;
    return {
      labels,
      // Per-bucket counts, made cumulative only when rendered so observe() stays O(log n).
      counts: new Array<number>(buckets.length).fill(0),
      sum: 0,
      count: 0,
      observe(value) {
        let lo = 0;
        let hi = buckets.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((buckets[mid] as number) < value) lo = mid + 1;
          else hi = mid;
        }
        if (lo < this.counts.length) this.counts[lo] = (this.counts[lo] as number) + 1;
        this.sum += value;
        this.count += 1;
      },
    };
  }
  observe(labels: Labels, value: number): void {
    this.child(labels).observe(value);
  }
  renderChild(child: HistogramChild, out: string[]): void {
    let cumulative = 0;
    for (const [i, bound] of this.buckets.entries()) {
      cumulative += child.counts[i] as number;
      out.push(
        `${this.name}_bucket${formatLabels({ ...child.labels, le: formatValue(bound) })} ${cumulative}`,
      );
    }
    out.push(`${this.name}_bucket${formatLabels({ ...child.labels, le: "+Inf" })} ${child.count}`);
    out.push(`${this.name}_sum${formatLabels(child.labels)} ${formatValue(child.sum)}`);
    out.push(`${this.name}_count${formatLabels(child.labels)} ${child.count}`);
  }
}

type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly collectors: Array<() => void> = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(name, () => new Counter(name, help, labelNames), Counter);
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.register(name, () => new Gauge(name, help, labelNames), Gauge);
  }
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ): Histogram {
    return this.register(name, () => new Histogram(name, help, labelNames, buckets), Histogram);
  }

  /** Runs before every render; for values that are cheaper to sample than to track. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  render(): string {
    for (const collect of this.collectors) collect();
    const out: string[] = [];
    for (const metric of this.metrics.values()) metric.render(out);
    return `${out.join("\n")}\n`;
  }

  // Asking twice for one name returns the same metric, so independent modules (several
  // work queues, several informers) can share a family without coordinating.
  private register<M extends AnyMetric>(name: string, make: () => M, kind: new (...args: never[]) => M): M {
    const existing = this.metrics.get(name);
    if (existing) {
      if (!(existing instanceof kind))
        throw new Error(`metric ${name} already registered as ${existing.type}`);
      return existing;
    }
    const metric = make();
    this.metrics.set(name, metric);
    return metric;
  }
}

export const contentType = "text/plain; version=0.0.4; charset=utf-8";

function formatLabels(labels: Labels): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** Buckets `start * factor^i` for i in [0, count), as Prometheus client libraries define them. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(Number((start * factor ** i).toPrecision(12)));
  return out;
}

/** controller-runtime's reconcile_time_seconds buckets: fine below a second, coarse up to a minute. */
export const reconcileTimeBuckets: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** client-go's workqueue buckets: 10 ns to 1000 s by decades. */
export const workqueueBuckets: readonly number[] = exponentialBuckets(10e-9, 10, 12);

/** process_* series that Prometheus users expect from any exporter. */
export function registerProcessMetrics(registry: MetricsRegistry): void {
  const rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  const heap = registry.gauge("nodejs_heap_size_used_bytes", "V8 heap in use in bytes.");
  const cpu = registry.counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
  );
  const start = registry.gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
  );
  start.set({}, Math.floor(Date.now() / 1000 - process.uptime()));
  registry.onCollect(() => {
    const memory = process.memoryUsage();
    rss.set({}, memory.rss);
    heap.set({}, memory.heapUsed);
    const usage = process.cpuUsage();
    cpu.child().value = (usage.user + usage.system) / 1e6;
  });
}
