// Metrics of the TrainingJob controller. Jobs per phase are counted from the informer's cache
// when /metrics is scraped, so the gauge is exact whatever order reconciles run in, and costs
// nothing between scrapes. Restarts are counted as they are decided.
import { trainingJobPhases } from "../../crds/runtime/index.ts";
import type { KubeObject, MetricsRegistry } from "../../operator/index.ts";

type Counter = ReturnType<MetricsRegistry["counter"]>;

export interface TrainingJobMetrics {
  restarts: Counter | undefined;
}

export function registerTrainingJobMetrics(
  registry: MetricsRegistry | undefined,
  jobs: () => Iterable<KubeObject>,
): TrainingJobMetrics {
  if (!registry) return { restarts: undefined };
  const phases = registry.gauge(
    "sovereign_trainingjobs",
    "TrainingJobs by phase (jobs that no reconcile has seen yet count as Pending)",
    ["phase"],
  );
  registry.onCollect(() => {
    const counts = new Map<string, number>([...trainingJobPhases, "Pending"].map((p) => [p, 0]));
    for (const job of jobs()) {
      const phase = (job.status as { phase?: string } | undefined)?.phase ?? "Pending";
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    for (const [phase, n] of counts) phases.set({ phase }, n);
  });
  const restarts = registry.counter(
    "sovereign_trainingjob_restarts_total",
    "Whole-gang restarts of TrainingJobs, by the reason of the failure that caused them",
    ["reason"],
  );
  return { restarts };
}
