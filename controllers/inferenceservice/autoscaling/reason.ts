// The words of a decision's reason: "queue depth 412 over 8 replicas, target 16 → 26".
import type { AutoscalingMetric } from "../../../crds/runtime/index.ts";

/** Whole numbers from 10 on, one decimal below: 412, 7.5, 0.3. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const rounded = Math.abs(n) >= 10 ? Math.round(n) : Math.round(n * 10) / 10;
  return String(rounded);
}

export function formatSeconds(seconds: number): string {
  return `${formatCount(seconds)} s`;
}

const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;

/** Window means of the router's figures behind a decision. */
export interface DemandFigures {
  inSystem: number;
  arrivals: number;
  waiting: number;
  running: number;
  kvCacheUsage: number;
  tokensPerSecond: number;
  serviceSeconds: number | undefined;
}

/**
 * The load as the metric counts it, given the replicas it asks for: "concurrency 324
 * (162 req/s x 2 s)", "queue depth 412 and 96 running", "KV-cache use 93%", "41000 tokens/s".
 */
export function describeDemand(
  metric: AutoscalingMetric,
  target: number,
): (figures: DemandFigures, wanted: number) => string {
  switch (metric) {
    case "concurrency":
      return (f, wanted) => {
        const counted = `concurrency ${formatCount(wanted * target)}`;
        if (f.serviceSeconds === undefined) return counted;
        return `${counted} (${formatCount(f.arrivals)} req/s × ${formatSeconds(f.serviceSeconds)}, ${formatCount(f.inSystem)} in the system)`;
      };
    case "queueDepth":
      return (f) => `queue depth ${formatCount(f.waiting)} and ${formatCount(f.running)} running`;
    case "kvCacheUsage":
      return (f) => `KV-cache use ${percent(f.kvCacheUsage)}`;
    case "tokensPerSecond":
      return (f) => `${formatCount(f.tokensPerSecond)} tokens/s`;
  }
}
