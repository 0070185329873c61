// The TrainingJob as the placement engine sees it: one gang ("workers") of identical pods,
// one per node, all on one pool.
//
// Elastic jobs (elastic.minNodes..maxNodes) are offered to the admitter at maxNodes first.
// While the decision for the offered size is "no room" (queued for capacity, or larger than
// any pool), the controller offers one node fewer on the next pass, down to minNodes, where it
// waits in the queue like any job. The first size that fits is admitted and recorded in
// status.nodes; it stays fixed for the life of the admission (torchrun's static rendezvous
// fixes the world size at start), so restarts reuse it. A job that is queued again (suspend and
// resume, eviction, a restart that lost its node) starts from maxNodes again. The offer lives in
// this process only: an operator restart offers maxNodes again, which is safe, only slower.
import { gangSize, type TrainingJobStatus } from "../../crds/index.ts";
import { type Condition, type KubeObject, objectKey } from "../../operator/index.ts";
import { bytes, cpuMillis, hasAdmission, type WorkloadAdapter, workloadKey } from "../admission/index.ts";
import type { AcceleratorRequirement, Toleration, Workload } from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";
import { claimBlocked } from "./claim.ts";
import type { BackoffPolicy } from "./failure.ts";
import { WORKERS_GROUP } from "./names.ts";
import type { TrainingJobObject } from "./pods.ts";
import { restartBackoffLeftMs } from "./restart.ts";
import { isFinished } from "./status.ts";
import { templateTolerations } from "./template.ts";

/** Nodes of the admitted gang, from status.admission; undefined when not admitted. */
export function admittedNodes(job: TrainingJobObject): number | undefined {
  if (!hasAdmission(job)) return undefined;
  const placements = job.status?.admission?.placements ?? [];
  const workers = placements.find((p) => p.group === WORKERS_GROUP) ?? placements[0];
  return workers?.replicas ?? workers?.nodes?.length;
}

/** Whether the job asks for admission now (or holds one): not finished, suspended, deleted or backing off. */
export function wantsAdmission(job: TrainingJobObject, now: number, backoff: BackoffPolicy): boolean {
  if (job.metadata.deletionTimestamp || job.spec.suspend || isFinished(job.status)) return false;
  if (hasAdmission(job)) return true;
  if (claimBlocked(job)) return false;
  const status = job.status as TrainingJobStatus | undefined;
  return (
    restartBackoffLeftMs(
      status?.conditions as Condition[] | undefined,
      status?.restarts ?? 0,
      now,
      backoff,
    ) === 0
  );
}

/** The engine's workload for `job` with a gang of `nodes` pods. */
export function workloadFor(job: TrainingJobObject, nodes: number): Workload {
  const spec = job.spec;
  const acc = spec.accelerators;
  const accelerators: AcceleratorRequirement = acc
    ? {
        count: acc.count ?? 1,
        minMemoryGiB: acc.minMemoryGiB,
        vendors: acc.vendors,
        models: acc.models,
        pools: acc.pools,
        interconnect: acc.interconnect,
      }
    : { count: 0 };
  const created = Date.parse(job.metadata.creationTimestamp ?? "");
  const tolerations = templateTolerations(spec.template) as Toleration[];
  return {
    key: workloadKey(resourceTypes.trainingJob, job as KubeObject),
    priority: spec.priority ?? 0,
    creationTimestamp: Number.isFinite(created) ? created : 0,
    ...(tolerations.length > 0 ? { tolerations } : {}),
    groups: [
      {
        name: WORKERS_GROUP,
        pods: nodes,
        cpuMillis: cpuMillis(spec.resources?.cpu),
        memoryBytes: bytes(spec.resources?.memory),
        accelerators,
      },
    ],
  };
}

export interface AdapterOptions {
  enqueue(key: string): void;
  backoff: BackoffPolicy;
  now?: () => number;
}

export class TrainingJobAdapter implements WorkloadAdapter<TrainingJobObject> {
  readonly resource = resourceTypes.trainingJob;
  private readonly options: AdapterOptions;
  private readonly now: () => number;
  /** Elastic jobs waiting for admission: the gang size offered to the admitter. */
  private readonly offers = new Map<string, number>();
  /** The size the last admission pass was shown, per job, so a decision is known to answer the current offer. */
  private readonly shown = new Map<string, number>();

  constructor(options: AdapterOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  enqueue(key: string): void {
    this.options.enqueue(key);
  }

  toWorkload(job: TrainingJobObject): Workload | undefined {
    if (!wantsAdmission(job, this.now(), this.options.backoff)) return undefined;
    const admitted = admittedNodes(job);
    if (admitted !== undefined) return workloadFor(job, admitted);
    const size = this.offered(job);
    this.shown.set(objectKey(job), size);
    return workloadFor(job, size);
  }

  /** The gang size offered while the job waits: maxNodes, or less after shrink(). */
  offered(job: TrainingJobObject): number {
    const { min, max } = gangSize(job.spec);
    const offer = this.offers.get(objectKey(job));
    return offer !== undefined && offer >= min && offer <= max ? offer : max;
  }

  /**
   * The latest decision says the offered size has no room: offer one node fewer, if the job is
   * elastic, above its minimum, and the decision answered the current offer. True when it shrank.
   */
  shrink(job: TrainingJobObject): boolean {
    const key = objectKey(job);
    const { min } = gangSize(job.spec);
    const offer = this.offered(job);
    if (offer <= min || this.shown.get(key) !== offer) return false;
    this.offers.set(key, offer - 1);
    return true;
  }

  /** Admitted, finished, suspended or deleted: the next wait starts from maxNodes again. */
  forget(key: string): void {
    this.offers.delete(key);
    this.shown.delete(key);
  }
}
