// The TrainingJob controller: multi-node PyTorch training under torchrun, gang-admitted onto
// one AcceleratorPool of any vendor. See plan.ts (and its phase-*.ts) for the state machine, failure.ts for the
// restart policy, pods.ts for the children and adapter.ts for how a job asks for admission.
import type { ControllerFactory, KubeObject, MetricsRegistry } from "../../operator/index.ts";
import { controllerOf, indexByNodeName, nodeNameIndex } from "../../operator/index.ts";
import type { AdmitterApi, NodeLike } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";
import { TrainingJobAdapter } from "./adapter.ts";
import { type BackoffPolicy, defaultBackoff } from "./failure.ts";
import { registerTrainingJobMetrics } from "./metrics.ts";
import { jobSelector } from "./names.ts";
import type { TrainingJobObject } from "./pods.ts";
import { TrainingJobReconciler } from "./reconcile.ts";

export interface TrainingJobControllerOptions {
  /** Wait before gang restarts: base, doubling, capped (default 10 s up to 5 min). */
  backoff?: BackoffPolicy;
  /** How long admitted pods may stay unschedulable before the gang is queued again. */
  admissionTimeoutMs?: number;
  /** Where the metrics go; default: the manager's registry (served on /metrics). */
  metrics?: MetricsRegistry;
  now?: () => number;
}

/** The controller, admitting through the process's one admitter; options for tests' timing. */
export function trainingJobController(
  admitter: AdmitterApi,
  options: TrainingJobControllerOptions = {},
): ControllerFactory {
  return (ctx) => {
    const now = options.now ?? Date.now;
    const backoff = options.backoff ?? defaultBackoff;
    admitter.register(new TrainingJobAdapter({ enqueue: (key) => ctx.enqueue(key), backoff, now }));

    const jobs = ctx.informer(resourceTypes.trainingJob);
    const pods = ctx.informer(resourceTypes.pod);
    if (!pods.store.hasIndex(nodeNameIndex)) pods.addIndexer(nodeNameIndex, indexByNodeName);
    const registry = options.metrics ?? ctx.metrics;
    const metrics = registerTrainingJobMetrics(registry, () => jobs.store.values());
    const reconciler = new TrainingJobReconciler({
      admitter,
      backoff,
      admissionTimeoutMs: options.admissionTimeoutMs,
      metrics,
      now,
    });

    // A node that is deleted or cordoned loses its training pods: wake their jobs at once
    // rather than when the pod garbage collector gets to the pods.
    const jobsOnNode = (node: KubeObject): string[] => {
      const name = node.metadata.name ?? "";
      const cached = ctx.cache.get<NodeLike>(resourceTypes.node, name);
      if (cached && !cached.spec?.unschedulable) return [];
      const keys = new Set<string>();
      for (const pod of pods.store.byIndex(nodeNameIndex, name)) {
        const owner = controllerOf(pod);
        const selector = jobSelector({ metadata: { name: owner?.name } });
        const isOurs =
          owner?.kind === resourceTypes.trainingJob.kind &&
          Object.entries(selector).every(([k, v]) => pod.metadata.labels?.[k] === v);
        if (isOurs && owner) keys.add(`${pod.metadata.namespace}/${owner.name}`);
      }
      return [...keys];
    };

    return {
      name: "trainingjob",
      for: resourceTypes.trainingJob,
      owns: [resourceTypes.pod, resourceTypes.service],
      watches: [
        { resource: resourceTypes.node, map: jobsOnNode },
        // A checkpoint claim that appears (or goes) wakes the jobs that name it.
        {
          resource: resourceTypes.persistentVolumeClaim,
          map: (claim) =>
            jobs.store
              .list(claim.metadata.namespace)
              .filter((j) => (j as TrainingJobObject).spec?.checkpoint?.claimName === claim.metadata.name)
              .map((j) => `${j.metadata.namespace}/${j.metadata.name}`),
        },
      ],
      reconcile: (key, rctx) => reconciler.reconcile(key, rctx),
    };
  };
}
