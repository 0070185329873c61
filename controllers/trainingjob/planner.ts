// What a plan of one TrainingJob reconcile is made of: what the cache shows (Observed), what the
// reconcile must do (Plan: the complete new status, the pods to create and delete, the events,
// when to look again), and the Planner that the phase files fill in. Pure.
import type { AcceleratorPool, TrainingJobPhase, TrainingJobStatus } from "../../crds/runtime/index.ts";
import {
  type ConditionInput,
  type EventInput,
  findCondition,
  type KubeObject,
  type OwnerReference,
  setCondition,
} from "../../operator/index.ts";
import type { Decision } from "../admission/index.ts";
import type { Preemption } from "../placement/index.ts";
import type { BackoffPolicy, GangPod } from "./failure.ts";
import { desiredService, type TrainingJobObject } from "./pods.ts";

export type JobStatus = TrainingJobStatus;
export type ChildPod = KubeObject & GangPod;

export interface Observed {
  job: TrainingJobObject;
  /** The status to build on: the cached one, or the one this process wrote if the cache lags. */
  status: JobStatus;
  /** Every pod the job controls, of any attempt. */
  pods: readonly ChildPod[];
  decision: Decision | undefined;
  /** The admitter chose this admitted job as a victim (see phase-preempting.ts). */
  preemption?: Preemption | undefined;
  pool(name: string): AcceleratorPool | undefined;
  /** The node exists (pods on a node that is gone are lost). */
  nodeExists(name: string): boolean;
  /** The node exists and takes new pods (not cordoned): a restarted gang may go back to it. */
  nodeUsable(name: string): boolean;
  now: number;
  backoff: BackoffPolicy;
  owner: OwnerReference;
  /** How long admitted pods may stay unschedulable before the gang is evicted and queued again. */
  admissionTimeoutMs?: number;
  /** spec.checkpoint.claimName, when no such PersistentVolumeClaim exists. */
  missingClaim?: string | undefined;
}

export interface PodDeletion {
  name: string;
  uid: string | undefined;
  /** Skip graceful termination: the pod's node is gone, so no kubelet will ever confirm it. */
  force: boolean;
}

export interface Plan {
  status: JobStatus;
  service: KubeObject | undefined;
  create: KubeObject[];
  delete: PodDeletion[];
  deleteJob: boolean;
  events: EventInput[];
  requeueAfterMs: number | undefined;
  /** The job wants admission and no pass has decided on it yet. */
  requestPass: boolean;
}

const finishedPhases: readonly (TrainingJobPhase | undefined)[] = ["Succeeded", "Failed"];

export const isFinished = (status: JobStatus | undefined): boolean => finishedPhases.includes(status?.phase);

export const isTerminal = (pod: GangPod): boolean =>
  pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";

export class Planner {
  readonly observed: Observed;
  readonly prev: JobStatus;
  status: JobStatus;
  readonly events: EventInput[] = [];
  readonly create: KubeObject[] = [];
  readonly deletions = new Map<string, PodDeletion>();
  requeueAfterMs: number | undefined;
  deleteJob = false;
  requestPass = false;

  constructor(observed: Observed) {
    this.observed = observed;
    this.prev = observed.status;
    // restarts is always shown, so `kubectl get tj` reads 0 rather than blank.
    const status: JobStatus = { ...observed.status, restarts: observed.status.restarts ?? 0 };
    if (observed.job.metadata.generation !== undefined)
      status.observedGeneration = observed.job.metadata.generation;
    this.status = status;
  }

  get now(): Date {
    return new Date(this.observed.now);
  }

  condition(input: Omit<ConditionInput, "observedGeneration">): void {
    const generation = this.observed.job.metadata.generation;
    this.status.conditions = setCondition(
      this.status.conditions,
      generation === undefined ? input : { ...input, observedGeneration: generation },
      this.now,
    );
  }

  /** Sets the condition to False only when it is there already: a job never restarted has no Restarting. */
  clearCondition(type: string, reason: string, message: string): void {
    if (findCondition(this.status.conditions, type)?.status === "True")
      this.condition({ type, status: "False", reason, message });
  }

  flipped(type: string, status: "True" | "False"): boolean {
    const before = findCondition(this.prev.conditions, type)?.status;
    return before !== status;
  }

  event(type: EventInput["type"], reason: string, action: string, note: string): void {
    this.events.push({ type, reason, action, note });
  }

  timer(ms: number | undefined): void {
    if (ms === undefined || !Number.isFinite(ms)) return;
    const at = Math.max(1, Math.ceil(ms));
    this.requeueAfterMs = this.requeueAfterMs === undefined ? at : Math.min(this.requeueAfterMs, at);
  }

  deletePod(pod: ChildPod, force = false): void {
    if (pod.metadata.deletionTimestamp && !force) return;
    const name = pod.metadata.name ?? "";
    this.deletions.set(name, { name, uid: pod.metadata.uid, force });
  }

  deletePods(pods: readonly ChildPod[], keepTerminal: boolean): void {
    for (const pod of pods) {
      if (keepTerminal && isTerminal(pod)) continue;
      const node = pod.spec?.nodeName;
      this.deletePod(pod, node !== undefined && !this.observed.nodeExists(node));
    }
  }

  /** Removes the admission (the admitter then counts the devices free) and what only an admitted job has. */
  release(): void {
    delete this.status.admission;
    delete this.status.queuePosition;
    this.status.readyNodes = 0;
  }

  forgetPlacement(): void {
    delete this.status.pool;
    delete this.status.nodes;
  }

  plan(): Plan {
    const observed = this.observed;
    return {
      status: this.status,
      service: isFinished(this.status) ? undefined : desiredService(observed.job, observed.owner),
      create: this.create,
      delete: [...this.deletions.values()],
      deleteJob: this.deleteJob,
      events: this.events,
      requeueAfterMs: this.requeueAfterMs,
      requestPass: this.requestPass,
    };
  }
}
