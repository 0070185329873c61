// /metrics as vLLM V1's PrometheusStatLogger writes it: the same names, help texts, buckets
// and labels (model_name is the first served name, engine "0"), so whatever scrapes vLLM
// (a router, an autoscaler, a dashboard) reads the simulator unchanged.
import type { Engine, EngineObserver, FinishReason, Sequence } from "./engine.ts";

const ttftBuckets = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
  80.0, 160.0, 640.0, 2560.0,
];
const itlBuckets = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const requestLatencyBuckets = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
  960.0, 1920.0, 7680.0,
];

/** vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to max. */
export function buckets125(max: number): number[] {
  const out: number[] = [];
  for (let scale = 1; ; scale *= 10)
    for (const m of [1, 2, 5]) {
      if (m * scale > max) return out;
      out.push(m * scale);
    }
}

class Histogram {
  readonly name: string;
  readonly help: string;
  readonly bounds: readonly number[];
  /** Per bucket, not cumulative; the last one is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  render(labels: string, out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      const le = i < this.bounds.length ? pyFloat(this.bounds[i] as number) : "+Inf";
      out.push(`${this.name}_bucket{${labels},le="${le}"} ${pyFloat(cumulative)}`);
    }
    out.push(`${this.name}_count{${labels}} ${pyFloat(this.count)}`);
    out.push(`${this.name}_sum{${labels}} ${pyFloat(this.sum)}`);
  }
}

/** Numbers as prometheus_client prints Python floats: integers keep a ".0". */
function pyFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return `${n}.0`;
  return String(n);
}

const escapeLabel = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');

export interface CacheConfigInfo {
  blockSize: number;
  numGpuBlocks: number;
  enablePrefixCaching: boolean;
  gpuMemoryUtilization: number;
  cacheDtype: string;
}

export class EngineMetrics implements EngineObserver {
  private readonly engine: Engine;
  private readonly labels: string;
  private readonly info: CacheConfigInfo;
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;
  private readonly queue: Histogram;
  private readonly prefill: Histogram;
  private readonly decode: Histogram;
  private readonly promptTokens: Histogram;
  private readonly generationTokens: Histogram;

  constructor(engine: Engine, modelName: string, info: CacheConfigInfo) {
    this.engine = engine;
    this.info = info;
    this.labels = `model_name="${escapeLabel(modelName)}",engine="0"`;
    const lengths = buckets125(engine.config.maxModelLen);
    this.ttft = new Histogram(
      "vllm:time_to_first_token_seconds",
      "Histogram of time to first token in seconds.",
      ttftBuckets,
    );
    this.itl = new Histogram(
      "vllm:inter_token_latency_seconds",
      "Histogram of inter-token latency in seconds.",
      itlBuckets,
    );
    this.e2e = new Histogram(
      "vllm:e2e_request_latency_seconds",
      "Histogram of e2e request latency in seconds.",
      requestLatencyBuckets,
    );
    this.queue = new Histogram(
      "vllm:request_queue_time_seconds",
      "Histogram of time spent in WAITING phase for request.",
      requestLatencyBuckets,
    );
    this.prefill = new Histogram(
      "vllm:request_prefill_time_seconds",
      "Histogram of time spent in PREFILL phase for request.",
      requestLatencyBuckets,
    );
    this.decode = new Histogram(
      "vllm:request_decode_time_seconds",
      "Histogram of time spent in DECODE phase for request.",
      requestLatencyBuckets,
    );
    this.promptTokens = new Histogram(
      "vllm:request_prompt_tokens",
      "Number of prefill tokens processed.",
      lengths,
    );
    this.generationTokens = new Histogram(
      "vllm:request_generation_tokens",
      "Number of generation tokens processed.",
      lengths,
    );
    engine.observers.push(this);
  }

  firstToken(_seq: Sequence, seconds: number): void {
    this.ttft.observe(seconds);
  }

  interToken(seconds: number): void {
    this.itl.observe(seconds);
  }

  finished(seq: Sequence): void {
    // vLLM records these for every finished request, aborted ones included.
    const end = seq.finishedAt;
    this.e2e.observe((end - seq.arrivedAt) / 1000);
    if (!seq.admitted) return;
    this.queue.observe((seq.admittedAt - seq.arrivedAt) / 1000);
    const firstToken = seq.firstTokenAt || end;
    this.prefill.observe((firstToken - seq.admittedAt) / 1000);
    this.decode.observe((end - firstToken) / 1000);
    this.promptTokens.observe(seq.promptTokens);
    this.generationTokens.observe(seq.generated);
  }

  /** The Prometheus text exposition (format 0.0.4). */
  render(): string {
    const e = this.engine;
    const c = e.counters;
    const l = this.labels;
    const out: string[] = [];
    const gauge = (name: string, help: string, value: number) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}{${l}} ${pyFloat(value)}`);
    const counter = (name: string, help: string, value: number) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name}_total{${l}} ${pyFloat(value)}`);
    gauge("vllm:num_requests_running", "Number of requests in model execution batches.", e.numRunning);
    gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", e.numWaiting);
    gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", e.kvUsage);
    counter(
      "vllm:prefix_cache_queries",
      "Prefix cache queries, in terms of number of queried tokens.",
      c.prefixQueries,
    );
    counter(
      "vllm:prefix_cache_hits",
      "Prefix cache hits, in terms of number of cached tokens.",
      c.prefixHits,
    );
    counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", c.preemptions);
    counter("vllm:prompt_tokens", "Number of prefill tokens processed.", c.promptTokens);
    counter("vllm:generation_tokens", "Number of generation tokens processed.", c.generationTokens);
    out.push(
      "# HELP vllm:request_success_total Count of successfully processed requests.",
      "# TYPE vllm:request_success_total counter",
    );
    for (const reason of ["stop", "length", "abort"] as FinishReason[])
      out.push(`vllm:request_success_total{${l},finished_reason="${reason}"} ${pyFloat(c.finished[reason])}`);
    for (const h of [
      this.ttft,
      this.itl,
      this.e2e,
      this.queue,
      this.prefill,
      this.decode,
      this.promptTokens,
      this.generationTokens,
    ])
      h.render(l, out);
    const i = this.info;
    out.push(
      "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig",
      "# TYPE vllm:cache_config_info gauge",
      `vllm:cache_config_info{block_size="${i.blockSize}",cache_dtype="${i.cacheDtype}",enable_prefix_caching="${i.enablePrefixCaching ? "True" : "False"}",engine="0",gpu_memory_utilization="${i.gpuMemoryUtilization}",num_gpu_blocks="${i.numGpuBlocks}"} 1.0`,
    );
    return `${out.join("\n")}\n`;
  }
}
