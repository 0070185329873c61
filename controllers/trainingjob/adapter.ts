// The TrainingJob as the placement engine sees it: one gang ("workers") of identical pods,
// one per node, all on one pool.
//
// An elastic job (elastic.minNodes..maxNodes) is a gang with a size range: one admission pass
// admits it with the largest size from minNodes to maxNodes that fits node by node on one pool,
// or keeps it queued when not even minNodes fit. The size is recorded in status.admission (and
// status.nodes) and stays fixed for the life of the admission (torchrun's static rendezvous
// fixes the world size at start), so restarts reuse it; a job queued again (suspend and resume,
// eviction, a restart that lost its node) is sized anew. Nothing about it is kept in memory.
import { gangSize, type TrainingJobStatus } from "../../crds/runtime/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import { bytes, cpuMillis, hasAdmission, type WorkloadAdapter, workloadKey } from "../admission/index.ts";
import type { AcceleratorRequirement, Toleration, Workload } from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";
import { claimBlocked } from "./claim.ts";
import type { BackoffPolicy } from "./failure.ts";
import { WORKERS_GROUP } from "./names.ts";
import { isFinished } from "./planner.ts";
import type { TrainingJobObject } from "./pods.ts";
import { restartBackoffLeftMs } from "./restart.ts";
import { templateTolerations } from "./template.ts";

/** Nodes of the admitted gang, from status.admission; undefined when not admitted. */
export function admittedNodes(job: TrainingJobObject): number | undefined {
  if (!hasAdmission(job)) return undefined;
  const placements = job.status?.admission?.placements ?? [];
  const workers = placements.find((p) => p.group === WORKERS_GROUP) ?? placements[0];
  return workers?.replicas ?? workers?.nodes?.length;
}

/** What the object alone says about wanting admission; only a restart backoff needs the clock too. */
type Wanted = "yes" | "no" | "unless backing off";

function wantedByObject(job: TrainingJobObject): Wanted {
  if (job.metadata.deletionTimestamp || job.spec.suspend || isFinished(job.status)) return "no";
  if (hasAdmission(job)) return "yes";
  if (claimBlocked(job)) return "no";
  return "unless backing off";
}

function backingOff(job: TrainingJobObject, now: number, backoff: BackoffPolicy): boolean {
  const status = job.status as TrainingJobStatus | undefined;
  return restartBackoffLeftMs(status?.conditions, status?.restarts ?? 0, now, backoff) > 0;
}

/** Whether the job asks for admission now (or holds one): not finished, suspended, deleted or backing off. */
export function wantsAdmission(job: TrainingJobObject, now: number, backoff: BackoffPolicy): boolean {
  const wanted = wantedByObject(job);
  return wanted === "yes" || (wanted === "unless backing off" && !backingOff(job, now, backoff));
}

/** The engine's workload for `job` with a gang of `nodes.min` to `nodes.max` pods. */
export function workloadFor(job: TrainingJobObject, nodes: { min: number; max: number }): Workload {
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
    ...(nodes.min < nodes.max ? { minPods: nodes.min } : {}),
    groups: [
      {
        name: WORKERS_GROUP,
        pods: nodes.max,
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
  /**
   * A job's workload depends on the cached object alone, which the cache replaces rather than
   * changes: built once per object, not once per object and admission pass (a pass reads
   * every job, and a busy cluster passes several times a second).
   */
  private readonly workloads = new WeakMap<TrainingJobObject, { wanted: Wanted; workload: Workload }>();

  constructor(options: AdapterOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  enqueue(key: string): void {
    this.options.enqueue(key);
  }

  toWorkload(job: TrainingJobObject): Workload | undefined {
    let known = this.workloads.get(job);
    if (!known) {
      const admitted = admittedNodes(job);
      const nodes = admitted !== undefined ? { min: admitted, max: admitted } : gangSize(job.spec);
      known = { wanted: wantedByObject(job), workload: workloadFor(job, nodes) };
      this.workloads.set(job, known);
    }
    if (known.wanted === "no") return undefined;
    if (known.wanted === "unless backing off" && backingOff(job, this.now(), this.options.backoff))
      return undefined;
    return known.workload;
  }
}
