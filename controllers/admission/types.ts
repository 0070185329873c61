// The contract between the admitter (one per operator process) and the workload controllers.
//
// A workload controller registers an adapter for its kind. The admitter watches pools, nodes,
// pods and every registered kind, runs the pure placement engine over the whole cluster after
// any change, and keeps one decision per waiting workload. It enqueues a workload's key in its
// controller whenever that workload's decision changes. The controller, in its reconcile:
//   - status.admission present: the workload is admitted; make its pods (placed with
//     placePod from ./pod-placement.ts) and report progress.
//   - absent: read admitter.decisionFor(key):
//       admitted      -> write status.admission = toAdmissionStatus(decision.admission) (and
//                        phase Admitted) FIRST, then create pods in the same reconcile;
//       queued        -> phase Queued, queuePosition, condition Admitted=False with the reason;
//       unschedulable -> condition Unschedulable=True with the reason (no queue position);
//       undefined     -> no pass has seen it yet: phase Queued, nothing else.
//   - finished, suspended or evicted: remove status.admission (write the status without it).
//     That releases its capacity. Deleting an object releases it too.
// The admitter treats its own "admitted" decisions as reservations until the cache shows the
// status.admission written (or the object gone), so a slow status write never lets two
// workloads take the same devices.

import type { AdmissionStatus } from "../../crds/runtime/index.ts";
import type { KubeObject, ResourceType } from "../../operator/index.ts";
import type {
  Admission,
  PlacementResult,
  PoolInput,
  Preemption,
  QueuedCode,
  QuotaInput,
  Reservation,
  UnschedulableCode,
  Workload,
} from "../placement/index.ts";

export interface WorkloadAdapter<T extends KubeObject = KubeObject> {
  resource: ResourceType;
  /**
   * The gang to admit for this object as it is now, or undefined when it wants no admission:
   * finished, suspended, being deleted. Called for objects with and without status.admission;
   * for an admitted object the shape tells the admitter what each of its pods holds.
   * Workload.key must be `workloadKey(resource, obj)`.
   */
  toWorkload(obj: T): Workload | undefined;
  /**
   * Optional, for "replicas" workloads that grow while admitted (an InferenceService scaled
   * up, or admitted only in part): the extra pods to admit on top of status.admission, or
   * undefined when it has all it wants. Its key must differ from toWorkload's and change once
   * the previous grant is recorded (carry the admitted count in it), so that no grant can be
   * recorded twice. The decision is read with decisionFor(resource, key without "Kind/").
   */
  toAdditionalWorkload?(obj: T): Workload | undefined;
  /** Called with the object's "namespace/name" key when its decision changes. */
  enqueue(key: string): void;
}

export type Decision =
  | { type: "admitted"; admission: Admission }
  | { type: "queued"; position: number; code: QueuedCode; reason: string }
  | { type: "unschedulable"; code: UnschedulableCode; reason: string };

/** An admitted workload as the quota hook sees it: what it holds on every node, bound or not. */
export interface AdmittedForQuota {
  key: string;
  obj: KubeObject;
  workload: Workload;
  holds: Reservation;
  /** Not admitted: the pods it runs while it waits for more (counted, but not as admitted). */
  running?: boolean;
}

/**
 * Team quotas (controllers/queueing): before a pass, which team each waiting workload is in (or
 * a decision for one whose queue does not exist) and the quota input; after it, the result.
 */
export interface QuotaHook {
  prepare(
    waiting: readonly Workload[],
    admitted: readonly AdmittedForQuota[],
    objectOf: (key: string) => KubeObject | undefined,
    pools: readonly PoolInput[],
  ): { waiting: Workload[]; input: QuotaInput; decisions: Map<string, Decision> } | undefined;
  afterPass(result: PlacementResult): void;
  /** Whether quotas are in force: then a pass with nothing waiting still reports usage. */
  inUse?(): boolean;
}

export interface AdmitterApi {
  register(adapter: WorkloadAdapter): void;
  /** The latest decision for an object without status.admission; undefined before any pass saw it. */
  decisionFor(resource: ResourceType, key: string): Decision | undefined;
  /** Ask for a pass soon (debounced); the admitter also runs one after every watched change. */
  requestPass(): void;
  /** For an admitted object: the preemption the last pass decided (it must checkpoint and go). */
  preemptionFor?(resource: ResourceType, key: string): Preemption | undefined;
}

export type { AdmissionStatus };
