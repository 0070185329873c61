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

import { checkDeadline } from "./deadline.ts";
import { runAdmitted } from "./phase-admitted.ts";
import { finish, finished } from "./phase-finished.ts";
import { waitForAdmission } from "./phase-queued.ts";
import { suspend } from "./phase-suspended.ts";
import { isFinished, type Observed, type Plan, Planner } from "./planner.ts";

export function planReconcile(observed: Observed): Plan {
  const planner = new Planner(observed);
  const spec = observed.job.spec;
  if (isFinished(planner.prev)) {
    finished(planner);
    return planner.plan();
  }
  if (spec.suspend) {
    suspend(planner);
    return planner.plan();
  }
  const deadline = checkDeadline(spec.activeDeadlineSeconds, planner.prev.startTime, observed.now);
  if (deadline.exceeded) {
    finish(planner, "Failed", "DeadlineExceeded", deadline.message);
    return planner.plan();
  }
  planner.timer(deadline.afterMs);
  if (!planner.status.admission?.placements?.length) {
    if (!waitForAdmission(planner)) return planner.plan();
  }
  runAdmitted(planner);
  return planner.plan();
}
