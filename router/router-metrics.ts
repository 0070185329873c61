// The router's Prometheus series. Request counters and latency histograms use the operator's
// registry (operator/metrics.ts); the per-endpoint gauges are rendered from the replica
// registry at scrape time instead, so an endpoint that went away leaves no series behind.
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  type Counter,
  exponentialBuckets,
  type Gauge,
  type Histogram,
  type HistogramChild,
  MetricsRegistry,
  registerProcessMetrics,
} from "../operator/metrics.ts";
import type { Replica, ReplicaRegistry } from "./replicas.ts";

export interface RouterMetrics {
  registry: MetricsRegistry;
  requests: Counter;
  retries: Counter;
  upstreamErrors: Counter;
  queueDepth: Gauge;
  queueWait: Histogram;
  /** Per model, cached so the hot path does no label lookup. */
  ttft(model: string): HistogramChild;
  itl(model: string): HistogramChild;
  render(): string;
}

// TTFT: 1 ms to ~65 s; inter-token: 0.25 ms to ~8 s.
const ttftBuckets = exponentialBuckets(0.001, 2, 17);
const itlBuckets = exponentialBuckets(0.00025, 2, 16);
const waitBuckets = exponentialBuckets(0.001, 2, 17);

export function createRouterMetrics(replicas: ReplicaRegistry, now: () => number): RouterMetrics {
  const registry = new MetricsRegistry();
  registerProcessMetrics(registry);
  const requests = registry.counter(
    "sovereign_router_requests_total",
    "Requests answered, by tenant, model and HTTP status.",
    ["tenant", "model", "code"],
  );
  const retries = registry.counter(
    "sovereign_router_upstream_retries_total",
    "Requests sent to another replica after one failed before any byte reached the client.",
    ["model"],
  );
  const upstreamErrors = registry.counter(
    "sovereign_router_upstream_errors_total",
    "Failed attempts to a replica, by reason.",
    ["model", "endpoint", "reason"],
  );
  const queueDepth = registry.gauge(
    "sovereign_router_queue_depth",
    "Requests waiting at the router, by tenant.",
    ["tenant"],
  );
  const queueWait = registry.histogram(
    "sovereign_router_queue_wait_seconds",
    "Time requests waited at the router before going to a replica, by tenant.",
    ["tenant"],
    waitBuckets,
  );
  const ttftFamily = registry.histogram(
    "sovereign_router_time_to_first_token_seconds",
    "From a streamed request's arrival at the router to its first byte of response, by model.",
    ["model"],
    ttftBuckets,
  );
  const itlFamily = registry.histogram(
    "sovereign_router_inter_token_latency_seconds",
    "Time between streamed events (tokens), by model.",
    ["model"],
    itlBuckets,
  );
  // The router's own delay in serving anything: every relayed chunk waits this long.
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const lagP99 = registry.gauge(
    "nodejs_eventloop_lag_p99_seconds",
    "99th percentile of event-loop delay since the previous scrape.",
  );
  const lagMax = registry.gauge(
    "nodejs_eventloop_lag_max_seconds",
    "Longest event-loop delay since the previous scrape.",
  );
  registry.onCollect(() => {
    lagP99.set({}, lag.percentile(99) / 1e9);
    lagMax.set({}, lag.max / 1e9);
    lag.reset();
  });
  const ttftChildren = new Map<string, HistogramChild>();
  const itlChildren = new Map<string, HistogramChild>();
  const cached = (map: Map<string, HistogramChild>, family: Histogram, model: string): HistogramChild => {
    let c = map.get(model);
    if (!c) {
      c = family.child({ model });
      map.set(model, c);
    }
    return c;
  };
  return {
    registry,
    requests,
    retries,
    upstreamErrors,
    queueDepth,
    queueWait,
    ttft: (model) => cached(ttftChildren, ttftFamily, model),
    itl: (model) => cached(itlChildren, itlFamily, model),
    render: () => registry.render() + renderEndpointGauges(replicas, now()),
  };
}

const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const;

function renderEndpointGauges(replicas: ReplicaRegistry, now: number): string {
  type Family = { name: string; help: string; value: (r: Replica) => number | undefined };
  const specs: Family[] = [
    {
      name: "outstanding",
      help: "Requests in flight from this router to the endpoint.",
      value: (r) => r.outstanding,
    },
    {
      name: "ready",
      help: "1 when the endpoint is ready (from its source), else 0.",
      value: (r) => (r.ready ? 1 : 0),
    },
    {
      name: "engine_running",
      help: "vllm:num_requests_running at the last scrape.",
      value: (r) => r.engine?.running,
    },
    {
      name: "engine_waiting",
      help: "vllm:num_requests_waiting at the last scrape.",
      value: (r) => r.engine?.waiting,
    },
    {
      name: "kv_cache_usage",
      help: "vllm:kv_cache_usage_perc at the last scrape (0-1).",
      value: (r) => r.engine?.kvCacheUsage,
    },
    {
      name: "seconds_per_token",
      help: "Measured seconds per output token (EWMA).",
      value: (r) => r.secondsPerToken,
    },
    {
      name: "breaker_state",
      help: "Circuit breaker: 0 closed, 1 half-open, 2 open.",
      value: (r) => breakerValue[r.breaker.state(now)],
    },
  ];
  const families = specs.map((f) => ({
    ...f,
    name: `sovereign_router_endpoint_${f.name}`,
    lines: [] as string[],
  }));
  for (const group of replicas.allGroups()) {
    for (const r of group.replicas) {
      const labels = `{model="${esc(group.model)}",service="${esc(r.service)}",endpoint="${esc(r.id)}",pool="${esc(r.pool ?? "")}"}`;
      for (const f of families) {
        const v = f.value(r);
        if (v !== undefined) f.lines.push(`${f.name}${labels} ${v}`);
      }
    }
  }
  const out: string[] = [];
  for (const f of families) out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`, ...f.lines);
  return `${out.join("\n")}\n`;
}

const esc = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
