// What the router takes from an engine's /metrics (vLLM's names): its queue, its KV-cache
// fill, and the counters from which per-token speed and throughput follow. One engine
// process may expose several label sets (model_name, engine index); they are summed, and the
// KV-cache fill is averaged.
import { parsePrometheusText } from "./prom-text.ts";

export interface EngineSnapshot {
  running: number;
  waiting: number;
  /** 0..1; undefined when the engine does not report it. */
  kvCacheUsage: number | undefined;
  generationTokens: number | undefined;
  /** Sum and count of the per-output-token latency histogram, in seconds. */
  tpotSum: number | undefined;
  tpotCount: number | undefined;
  prefixCacheHits: number | undefined;
  prefixCacheQueries: number | undefined;
}

// vLLM renamed some series across releases; the first name found wins.
const names = {
  running: ["vllm:num_requests_running"],
  waiting: ["vllm:num_requests_waiting"],
  kv: ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
  generation: ["vllm:generation_tokens_total"],
  tpotSum: ["vllm:time_per_output_token_seconds_sum", "vllm:inter_token_latency_seconds_sum"],
  tpotCount: ["vllm:time_per_output_token_seconds_count", "vllm:inter_token_latency_seconds_count"],
  hits: ["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"],
  queries: ["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"],
} as const;

const wantedNames = new Set<string>(Object.values(names).flat());

/** Parses an engine's /metrics page; throws when it carries none of vLLM's queue gauges. */
export function parseEngineMetrics(text: string): EngineSnapshot {
  const sums = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const s of parsePrometheusText(text, (n) => wantedNames.has(n), "vllm:")) {
    if (!Number.isFinite(s.value)) continue;
    sums.set(s.name, (sums.get(s.name) ?? 0) + s.value);
    counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
  }
  const first = (list: readonly string[]): string | undefined => list.find((n) => sums.has(n));
  const sum = (list: readonly string[]): number | undefined => {
    const n = first(list);
    return n === undefined ? undefined : sums.get(n);
  };
  const running = sum(names.running);
  const waiting = sum(names.waiting);
  if (running === undefined && waiting === undefined) {
    throw new Error("no vllm:num_requests_running or vllm:num_requests_waiting in /metrics");
  }
  const kvName = first(names.kv);
  const kvCacheUsage =
    kvName === undefined ? undefined : (sums.get(kvName) as number) / (counts.get(kvName) as number);
  return {
    running: running ?? 0,
    waiting: waiting ?? 0,
    kvCacheUsage,
    generationTokens: sum(names.generation),
    tpotSum: sum(names.tpotSum),
    tpotCount: sum(names.tpotCount),
    prefixCacheHits: sum(names.hits),
    prefixCacheQueries: sum(names.queries),
  };
}

/**
 * Mean seconds per output token between two snapshots of one engine, from its own histogram;
 * undefined when no token was produced in between or a counter went back (a restart).
 */
export function tpotBetween(before: EngineSnapshot, after: EngineSnapshot): number | undefined {
  if (
    before.tpotSum === undefined ||
    before.tpotCount === undefined ||
    after.tpotSum === undefined ||
    after.tpotCount === undefined
  )
    return undefined;
  const count = after.tpotCount - before.tpotCount;
  const sum = after.tpotSum - before.tpotSum;
  if (!(count > 0) || sum < 0) return undefined;
  return sum / count;
}

/** Tokens generated between two snapshots; undefined across a restart or without the counter. */
export function tokensBetween(before: EngineSnapshot, after: EngineSnapshot): number | undefined {
  if (before.generationTokens === undefined || after.generationTokens === undefined) return undefined;
  const d = after.generationTokens - before.generationTokens;
  return d >= 0 ? d : undefined;
}
