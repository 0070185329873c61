// The TrainingJob state machine, as one pure function from what the cache shows (the job, its
// pods, the admitter's decision, the pool and the nodes) to what the reconcile must do: the
// complete new status, the pods to create and delete, the events to record and when to look
// again. The reconcile writes the status first (so status.admission exists before any pod, and
// a new attempt number before the old gang is deleted), then changes children.
//
//   Queued ──admitted──> Admitted ──all ranks running──> Running ──all ranks exit 0──> Succeeded
//     ^  (Unschedulable:        │                          │
//     │   condition, no         └──────── a rank fails ────┤── exit 1-127 / restarts used up ──> Failed
//     │   queue position)                                  └── retryable ──> Restarting ──backoff──> (new attempt)
//   Suspended <── spec.suspend from any unfinished phase; resume queues again.
//   Failed (DeadlineExceeded) once activeDeadlineSeconds have passed since startTime.

import type { AcceleratorPool } from "../../crds/index.ts";
import { gangSize, type TrainingJobPhase, type TrainingJobStatus } from "../../crds/index.ts";
import {
  type Condition,
  type ConditionInput,
  type EventInput,
  findCondition,
  formatTime,
  type KubeObject,
  type OwnerReference,
  setCondition,
} from "../../operator/index.ts";
import { type Decision, evictionCheck, toAdmissionStatus } from "../admission/index.ts";
import { claimNotFoundMessage, claimNotFoundReason } from "./claim.ts";
import { checkDeadline } from "./deadline.ts";
import { type BackoffPolicy, type GangPod, gangState, restartBackoffMs, splitByAttempt } from "./failure.ts";
import { WORKERS_GROUP } from "./names.ts";
import { desiredPod, desiredService, type TrainingJobObject } from "./pods.ts";
import { RESTARTING, restartBackoffLeftMs } from "./restart.ts";
import { checkTtl } from "./ttl.ts";

export type JobStatus = TrainingJobStatus;
export type ChildPod = KubeObject & GangPod;

export interface Observed {
  job: TrainingJobObject;
  /** The status to build on: the cached one, or the one this process wrote if the cache lags. */
  status: JobStatus;
  /** Every pod the job controls, of any attempt. */
  pods: readonly ChildPod[];
  decision: Decision | undefined;
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

const isTerminal = (pod: GangPod): boolean =>
  pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";

class Planner {
  readonly o: Observed;
  readonly prev: JobStatus;
  s: JobStatus;
  readonly events: EventInput[] = [];
  readonly create: KubeObject[] = [];
  readonly deletions = new Map<string, PodDeletion>();
  requeueAfterMs: number | undefined;
  deleteJob = false;
  requestPass = false;

  constructor(o: Observed) {
    this.o = o;
    this.prev = o.status;
    // restarts is always shown, so `kubectl get tj` reads 0 rather than blank.
    const s: JobStatus = { ...o.status, restarts: o.status.restarts ?? 0 };
    if (o.job.metadata.generation !== undefined) s.observedGeneration = o.job.metadata.generation;
    this.s = s;
  }

  get now(): Date {
    return new Date(this.o.now);
  }

  condition(input: Omit<ConditionInput, "observedGeneration">): void {
    const generation = this.o.job.metadata.generation;
    this.s.conditions = setCondition(
      this.s.conditions as Condition[] | undefined,
      generation === undefined ? input : { ...input, observedGeneration: generation },
      this.now,
    );
  }

  /** Sets the condition to False only when it is there already: a job never restarted has no Restarting. */
  clearCondition(type: string, reason: string, message: string): void {
    if (findCondition(this.s.conditions as Condition[] | undefined, type)?.status === "True")
      this.condition({ type, status: "False", reason, message });
  }

  flipped(type: string, status: "True" | "False"): boolean {
    const before = findCondition(this.prev.conditions as Condition[] | undefined, type)?.status;
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
      this.deletePod(pod, node !== undefined && !this.o.nodeExists(node));
    }
  }

  /** Removes the admission (the admitter then counts the devices free) and what only an admitted job has. */
  release(): void {
    delete this.s.admission;
    delete this.s.queuePosition;
    this.s.readyNodes = 0;
  }

  forgetPlacement(): void {
    delete this.s.pool;
    delete this.s.nodes;
  }

  plan(): Plan {
    const o = this.o;
    return {
      status: this.s,
      service: isFinished(this.s) ? undefined : desiredService(o.job, o.owner),
      create: this.create,
      delete: [...this.deletions.values()],
      deleteJob: this.deleteJob,
      events: this.events,
      requeueAfterMs: this.requeueAfterMs,
      requestPass: this.requestPass,
    };
  }
}

export function planReconcile(o: Observed): Plan {
  const p = new Planner(o);
  const spec = o.job.spec;
  if (isFinished(p.prev)) {
    finished(p);
    return p.plan();
  }
  if (spec.suspend) {
    suspend(p);
    return p.plan();
  }
  const deadline = checkDeadline(spec.activeDeadlineSeconds, p.prev.startTime, o.now);
  if (deadline.exceeded) {
    finish(p, "Failed", "DeadlineExceeded", deadline.message);
    return p.plan();
  }
  p.timer(deadline.afterMs);
  if (!p.s.admission?.placements?.length) {
    if (!waitForAdmission(p)) return p.plan();
  }
  runAdmitted(p);
  return p.plan();
}

/** Already Succeeded or Failed: keep the record, let go of everything else, then the TTL. */
function finished(p: Planner): void {
  p.release();
  // Pods of a finished job end; terminated ones stay for their logs until the job is deleted.
  p.deletePods(p.o.pods, true);
  const ttl = checkTtl(p.o.job.spec.ttlSecondsAfterFinished, p.s.completionTime, p.o.now);
  if (ttl.expired) {
    p.deleteJob = true;
    p.event(
      "Normal",
      "TTLExpired",
      "Delete",
      `deleting the job ${p.o.job.spec.ttlSecondsAfterFinished} s after it finished (ttlSecondsAfterFinished)`,
    );
  } else p.timer(ttl.afterMs);
}

function finish(p: Planner, phase: "Succeeded" | "Failed", reason: string, message: string): void {
  p.s.phase = phase;
  p.s.completionTime ??= formatTime(p.now);
  p.release();
  p.clearCondition(RESTARTING, phase, "the job finished");
  if (phase === "Succeeded") p.condition({ type: "Succeeded", status: "True", reason, message });
  else p.condition({ type: "Failed", status: "True", reason, message });
  p.condition({ type: "Running", status: "False", reason: phase, message });
  p.condition({
    type: "Admitted",
    status: "False",
    reason: "Finished",
    message: "the job finished; its capacity is released",
  });
  p.deletePods(p.o.pods, true);
  p.event(
    phase === "Succeeded" ? "Normal" : "Warning",
    reason,
    phase === "Succeeded" ? "Complete" : "Fail",
    message,
  );
  const ttl = checkTtl(p.o.job.spec.ttlSecondsAfterFinished, p.s.completionTime, p.o.now);
  if (!ttl.expired) p.timer(ttl.afterMs);
  else p.timer(1);
}

function suspend(p: Planner): void {
  p.deletePods(p.o.pods, false);
  p.release();
  p.forgetPlacement();
  // As with the Job API, a resumed job gets its whole activeDeadlineSeconds again.
  delete p.s.startTime;
  p.s.phase = "Suspended";
  const message = "spec.suspend is true: the pods are deleted and the capacity released";
  p.condition({ type: "Suspended", status: "True", reason: "Suspended", message });
  p.condition({ type: "Admitted", status: "False", reason: "Suspended", message });
  p.condition({ type: "Running", status: "False", reason: "Suspended", message });
  p.clearCondition(RESTARTING, "Suspended", message);
  if (p.prev.phase !== "Suspended") p.event("Normal", "Suspended", "Suspend", message);
}

/** Not admitted: follow the admitter's decision. Returns true when the job was admitted just now. */
function waitForAdmission(p: Planner): boolean {
  const { o } = p;
  if (p.prev.phase === "Suspended") {
    p.condition({
      type: "Suspended",
      status: "False",
      reason: "Resumed",
      message: "spec.suspend is false: queued for admission again",
    });
    p.event("Normal", "Resumed", "Resume", "queued for admission again");
  }
  // Leftovers of a released admission (an evicted or restarting gang) go before anything else.
  p.deletePods(o.pods, false);
  p.forgetPlacement();
  p.s.readyNodes = 0;

  const backoffLeft = restartBackoffLeftMs(
    p.s.conditions as Condition[] | undefined,
    p.s.restarts ?? 0,
    o.now,
    o.backoff,
  );
  if (backoffLeft > 0) {
    p.s.phase = "Restarting";
    delete p.s.queuePosition;
    p.timer(backoffLeft);
    return false;
  }

  if (o.missingClaim) {
    // Whatever the admitter decided: the adapter withdraws the job once this status is written.
    p.s.phase = "Queued";
    delete p.s.queuePosition;
    const message = claimNotFoundMessage(o.missingClaim, o.job.metadata.namespace);
    p.condition({ type: "Running", status: "False", reason: "Queued", message: "waiting for admission" });
    p.condition({ type: "Admitted", status: "False", reason: claimNotFoundReason, message });
    if (
      findCondition(p.prev.conditions as Condition[] | undefined, "Admitted")?.reason !== claimNotFoundReason
    )
      p.event("Warning", claimNotFoundReason, "Queue", message);
    return false;
  }

  const d = o.decision;
  if (d?.type === "admitted") {
    const admission = toAdmissionStatus(d.admission, p.now);
    p.s.admission = admission;
    const workers = admission.placements?.find((x) => x.group === WORKERS_GROUP) ?? admission.placements?.[0];
    if (workers) p.s.pool = workers.pool;
    p.s.nodes = workers?.replicas ?? workers?.nodes?.length ?? gangSize(o.job.spec).max;
    p.s.startTime ??= formatTime(p.now);
    delete p.s.queuePosition;
    p.s.phase = "Admitted";
    const where = workers?.nodes?.length ? ` (${workers.nodes.join(", ")})` : "";
    const message = `admitted onto pool ${p.s.pool} with ${p.s.nodes} node${p.s.nodes === 1 ? "" : "s"}${where}`;
    p.condition({ type: "Admitted", status: "True", reason: "Admitted", message });
    p.clearCondition("Unschedulable", "Admitted", message);
    p.event("Normal", "Admitted", "Admit", message);
    return true;
  }

  p.s.phase = "Queued";
  p.condition({ type: "Running", status: "False", reason: "Queued", message: "waiting for admission" });
  if (d?.type === "queued") {
    p.s.queuePosition = d.position;
    p.condition({ type: "Admitted", status: "False", reason: d.code, message: d.reason });
    p.clearCondition("Unschedulable", "Schedulable", "the job fits once capacity frees up");
    if (p.prev.phase !== "Queued" || p.prev.queuePosition === undefined)
      p.event("Normal", "Queued", "Queue", `position ${d.position}: ${d.reason}`);
  } else if (d?.type === "unschedulable") {
    delete p.s.queuePosition;
    p.condition({ type: "Unschedulable", status: "True", reason: d.code, message: d.reason });
    p.condition({ type: "Admitted", status: "False", reason: "Unschedulable", message: d.reason });
    if (p.flipped("Unschedulable", "True")) p.event("Warning", "Unschedulable", "Queue", d.reason);
  } else {
    delete p.s.queuePosition;
    p.condition({
      type: "Admitted",
      status: "False",
      reason: "Pending",
      message: "waiting for the first admission pass",
    });
    p.requestPass = true;
    // No event yet: the first pass decides within milliseconds, and its verdict (Queued with a
    // position, Admitted, Unschedulable) is the event worth an API request.
  }
  return false;
}

function runAdmitted(p: Planner): void {
  const { o } = p;
  const job = o.job;
  const admission = p.s.admission;
  const workers = admission?.placements?.find((x) => x.group === WORKERS_GROUP) ?? admission?.placements?.[0];
  if (!admission || !workers) return;
  const nodesOfRanks = workers.nodes ?? [];
  const size = workers.replicas ?? nodesOfRanks.length;
  p.s.pool = workers.pool;
  p.s.nodes = size;
  const pool = o.pool(workers.pool);
  if (!pool) {
    requeue(p, "PoolGone", `pool ${workers.pool} no longer exists; queued for admission again`);
    return;
  }

  const attempt = p.s.restarts ?? 0;
  const { current, stale } = splitByAttempt(o.pods, attempt);
  p.deletePods(stale, false);
  const gang = gangState({
    pods: current.filter((pod) => !(isTerminal(pod) && pod.metadata.deletionTimestamp)),
    size,
    wasRunning: p.prev.phase === "Running",
    nodeExists: o.nodeExists,
  });

  switch (gang.kind) {
    case "succeeded":
      finish(p, "Succeeded", "Completed", `all ${size} ranks exited with code 0`);
      return;
    case "failed": {
      if (!gang.retryable) {
        finish(p, "Failed", gang.reason, gang.message);
        return;
      }
      const maxRestarts = job.spec.maxRestarts ?? 3;
      if (attempt >= maxRestarts) {
        finish(
          p,
          "Failed",
          "MaxRestartsExceeded",
          `${gang.message}; the gang was already restarted ${attempt} time${attempt === 1 ? "" : "s"} (maxRestarts ${maxRestarts})`,
        );
        return;
      }
      const next = attempt + 1;
      const wait = restartBackoffMs(next, o.backoff);
      const message = `${gang.message}; restarting the whole gang (restart ${next} of ${maxRestarts}) in ${Math.round(wait / 1000)} s`;
      p.s.restarts = next;
      p.s.phase = "Restarting";
      p.s.readyNodes = 0;
      p.condition({ type: RESTARTING, status: "True", reason: gang.reason, message });
      p.condition({ type: "Running", status: "False", reason: "Restarting", message });
      p.deletePods(current, false);
      const goneNodes = nodesOfRanks.filter((n) => !o.nodeUsable(n));
      if (gang.lostNodes.length > 0 || goneNodes.length > 0) {
        // The admission names the node of every rank; with one of them gone the new gang
        // needs a new placement.
        const nodes = [...new Set([...gang.lostNodes, ...goneNodes])].join(", ");
        p.release();
        p.forgetPlacement();
        p.condition({
          type: "Admitted",
          status: "False",
          reason: "NodeLost",
          message: `node ${nodes} is gone; the restarted gang is queued for a new placement`,
        });
      }
      p.event("Warning", "Restarting", "Restart", message);
      p.timer(wait);
      return;
    }
    case "running": {
      p.s.phase = "Running";
      p.s.readyNodes = gang.ready;
      const message = `all ${size} ranks are running on pool ${workers.pool}`;
      p.condition({ type: "Running", status: "True", reason: "AllRanksRunning", message });
      if (p.prev.phase !== "Running") p.event("Normal", "Running", "Start", message);
      return;
    }
    case "starting": {
      p.s.readyNodes = gang.ready;
      if (p.s.phase !== "Restarting") p.s.phase = "Admitted";
      const backoffLeft = restartBackoffLeftMs(
        p.s.conditions as Condition[] | undefined,
        attempt,
        o.now,
        o.backoff,
      );
      if (backoffLeft > 0) {
        p.timer(backoffLeft);
        return;
      }
      p.condition({
        type: "Running",
        status: "False",
        reason: "Starting",
        message: `${gang.running} of ${size} ranks running`,
      });
      // A pod of an older attempt, or one still terminating, may still hold the devices and
      // answer to rank 0's DNS name: the new gang waits until they are gone (their deletion
      // triggers the next reconcile).
      const lingering = o.pods.some((pod) => pod.metadata.deletionTimestamp) || stale.length > 0;
      if (gang.missingRanks.length > 0 && !lingering) {
        for (const rank of gang.missingRanks) {
          p.create.push(
            desiredPod({ job, owner: o.owner, attempt, rank, nodes: size, pool, node: nodesOfRanks[rank] }),
          );
        }
        if (findCondition(p.s.conditions as Condition[] | undefined, RESTARTING)?.status === "True") {
          const message = `attempt ${attempt} started: ${size} pods created`;
          p.condition({ type: RESTARTING, status: "False", reason: "Restarted", message });
          p.event("Normal", "Restarted", "Restart", message);
        }
      }
      const eviction = evictionCheck(admission.admittedAt, current, o.now, o.admissionTimeoutMs);
      if (eviction.evict) {
        p.deletePods(current, false);
        requeue(p, "Evicted", eviction.reason);
      } else p.timer(eviction.recheckAfterMs);
      return;
    }
  }
}

/** Gives the admission back and queues the job again (not a restart: nothing failed). */
function requeue(p: Planner, reason: string, message: string): void {
  p.deletePods(p.o.pods, false);
  p.release();
  p.forgetPlacement();
  p.s.phase = "Queued";
  p.condition({ type: "Admitted", status: "False", reason, message });
  p.condition({ type: "Running", status: "False", reason: "Queued", message });
  p.event("Warning", reason, "Requeue", message);
}
