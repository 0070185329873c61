// Preempted: the admitter chose this job as a victim. Its pods are told to checkpoint (the
// annotation, which the downward API turns into a file the script reads), get
// checkpoint.preemptionGracePeriodSeconds to do it, and are deleted once a pod reports the
// checkpoint or the time is up. The job then waits in the queue as Preempted: no restart is
// counted, and the next gang gets RESUME_FROM (and resumeArgs) with the checkpoint reported.
import {
  type AcceleratorPool,
  CHECKPOINT_PATH_ANNOTATION,
  CHECKPOINT_REQUESTED_ANNOTATION,
  DEFAULT_PREEMPTION_GRACE_SECONDS,
  PREEMPTING_CONDITION,
} from "../../crds/runtime/index.ts";
import { findCondition, formatTime } from "../../operator/index.ts";
import { rankOf, TRAINER_CONTAINER } from "./names.ts";
import type { ChildPod, Planner } from "./planner.ts";
import { desiredPod } from "./pods.ts";

interface AnnotatedPod {
  metadata: {
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  status?: { containerStatuses?: { name?: string; state?: { terminated?: { message?: string } } }[] };
}

/** The checkpoint a pod reported: its annotation, or a termination message line checkpoint=PATH. */
export function reportedCheckpoint(pods: readonly ChildPod[]): string | undefined {
  for (const pod of pods as readonly unknown[] as readonly AnnotatedPod[]) {
    const annotated = pod.metadata.annotations?.[CHECKPOINT_PATH_ANNOTATION];
    if (annotated) return annotated;
    const trainer = pod.status?.containerStatuses?.find((c) => c.name === TRAINER_CONTAINER);
    const line = trainer?.state?.terminated?.message?.split("\n").find((l) => l.startsWith("checkpoint="));
    if (line && line.length > "checkpoint=".length) return line.slice("checkpoint=".length).trim();
  }
  return undefined;
}

export interface GangOnPool {
  current: readonly ChildPod[];
  size: number;
  nodesOfRanks: readonly string[];
  pool: AcceleratorPool;
  attempt: number;
}

/** Returns true when the job is being preempted (then nothing else of the admitted phase runs). */
export function runPreempting(planner: Planner, gang: GangOnPool): boolean {
  const { observed } = planner;
  const active = findCondition(planner.status.conditions, PREEMPTING_CONDITION)?.status === "True";
  const decided = observed.preemption;
  if (!active && !decided) return false;
  const job = observed.job;
  const grace = job.spec.checkpoint?.preemptionGracePeriodSeconds ?? DEFAULT_PREEMPTION_GRACE_SECONDS;
  if (!active && decided) {
    const requestedAt = formatTime(planner.now);
    const message = `${decided.reason}; checkpoint requested, the pods go once one reports it or in ${grace} s`;
    planner.status.preemption = {
      requestedAt,
      by: decided.by,
      reason: decided.reason,
      preemptions: (planner.prev.preemption?.preemptions ?? 0) + 1,
    };
    planner.condition({ type: PREEMPTING_CONDITION, status: "True", reason: "Preempted", message });
    planner.event("Warning", "Preempting", "Preempt", message);
  }
  planner.status.phase = "Preempting";
  const requestedAt = planner.status.preemption?.requestedAt ?? formatTime(planner.now);
  // Each pod is told once: re-applied with the annotation (the rest of it is as it was created).
  for (const pod of gang.current as readonly unknown[] as readonly AnnotatedPod[]) {
    if (pod.metadata.deletionTimestamp || pod.metadata.annotations?.[CHECKPOINT_REQUESTED_ANNOTATION])
      continue;
    const rank = rankOf(pod);
    if (rank === undefined) continue;
    planner.create.push(
      desiredPod({
        job,
        owner: observed.owner,
        attempt: gang.attempt,
        rank,
        nodes: gang.size,
        pool: gang.pool,
        node: gang.nodesOfRanks[rank],
        resumeFrom: planner.prev.resumeFrom,
        checkpointRequestedAt: requestedAt,
      }),
    );
  }
  const reported = reportedCheckpoint(gang.current);
  const deadline = Date.parse(requestedAt) + grace * 1000;
  if (!reported && observed.now < deadline) {
    planner.timer(deadline - observed.now);
    return true;
  }
  const message = reported
    ? `checkpoint ${reported} reported; evicted and queued again, to resume from it`
    : `no checkpoint reported within ${grace} s; evicted and queued again`;
  if (reported) planner.status.resumeFrom = reported;
  planner.deletePods(observed.pods, false);
  planner.release();
  planner.forgetPlacement();
  planner.status.phase = "Preempted";
  planner.condition({ type: PREEMPTING_CONDITION, status: "False", reason: "Evicted", message });
  planner.condition({ type: "Admitted", status: "False", reason: "Preempted", message });
  planner.condition({ type: "Running", status: "False", reason: "Preempted", message });
  planner.event("Normal", "Preempted", "Evict", message);
  return true;
}
