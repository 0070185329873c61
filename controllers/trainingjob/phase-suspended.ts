// spec.suspend: the pods go and the capacity is released; resume queues the job again.
import type { Planner } from "./planner.ts";
import { RESTARTING } from "./restart.ts";

export function suspend(planner: Planner): void {
  planner.deletePods(planner.observed.pods, false);
  planner.release();
  planner.forgetPlacement();
  // As with the Job API, a resumed job gets its whole activeDeadlineSeconds again.
  delete planner.status.startTime;
  planner.status.phase = "Suspended";
  const message = "spec.suspend is true: the pods are deleted and the capacity released";
  planner.condition({ type: "Suspended", status: "True", reason: "Suspended", message });
  planner.condition({ type: "Admitted", status: "False", reason: "Suspended", message });
  planner.condition({ type: "Running", status: "False", reason: "Suspended", message });
  planner.clearCondition(RESTARTING, "Suspended", message);
  if (planner.prev.phase !== "Suspended") planner.event("Normal", "Suspended", "Suspend", message);
}
