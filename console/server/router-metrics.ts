// What /router/stats does not say, from the router's Prometheus page: time to first token
// (p50, p99) and answers refused with 429, both over the interval between two scrapes (the
// histogram's and the counter's differences), per model. Pure, on parsed samples.
import type { Sample } from "../../router/prom-text.ts";

const ttft = "sovereign_router_time_to_first_token_seconds_bucket";
const requests = "sovereign_router_requests_total";

export const wantedSeries = (name: string): boolean => name === ttft || name === requests;

export interface Counts {
  /** Cumulative count per bucket bound (le), ascending; +Inf last. */
  buckets: Array<[le: number, count: number]>;
  rejected: number;
}

export function countsFor(samples: readonly Sample[], model: string): Counts {
  const byLe = new Map<number, number>();
  let rejected = 0;
  for (const s of samples) {
    if (s.labels.model !== model) continue;
    if (s.name === ttft) {
      const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      if (!Number.isNaN(le)) byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    } else if (s.name === requests && s.labels.code === "429") rejected += s.value;
  }
  return { buckets: [...byLe].sort((a, b) => a[0] - b[0]), rejected };
}

/** The q-quantile's bucket bound over what happened between `before` and `after`; undefined: nothing did. */
export function quantileBetween(before: Counts | undefined, after: Counts, q: number): number | undefined {
  const prior = new Map(before?.buckets ?? []);
  const delta = after.buckets.map(([le, n]) => [le, Math.max(0, n - (prior.get(le) ?? 0))] as const);
  const total = delta.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const wanted = q * total;
  for (const [le, n] of delta) if (n >= wanted) return Number.isFinite(le) ? le : (delta.at(-2)?.[0] ?? le);
  return undefined;
}

export function rejectedPerSecond(before: Counts | undefined, after: Counts, seconds: number): number {
  if (!before || seconds <= 0) return 0;
  return Math.max(0, after.rejected - before.rejected) / seconds;
}
