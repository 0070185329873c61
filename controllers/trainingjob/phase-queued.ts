// Not admitted: the job follows the admitter's decision (queued, unschedulable, admitted), waits
// out a restart backoff, or waits for its checkpoint claim.
import { gangSize } from "../../crds/runtime/index.ts";
import { findCondition, formatTime } from "../../operator/index.ts";
import { toAdmissionStatus } from "../admission/index.ts";
import { claimNotFoundMessage, claimNotFoundReason } from "./claim.ts";
import { WORKERS_GROUP } from "./names.ts";
import type { Planner } from "./planner.ts";
import { restartBackoffLeftMs } from "./restart.ts";

/** Not admitted: follow the admitter's decision. Returns true when the job was admitted just now. */
export function waitForAdmission(planner: Planner): boolean {
  const { observed } = planner;
  if (planner.prev.phase === "Suspended") {
    planner.condition({
      type: "Suspended",
      status: "False",
      reason: "Resumed",
      message: "spec.suspend is false: queued for admission again",
    });
    planner.event("Normal", "Resumed", "Resume", "queued for admission again");
  }
  // Leftovers of a released admission (an evicted or restarting gang) go before anything else.
  planner.deletePods(observed.pods, false);
  planner.forgetPlacement();
  planner.status.readyNodes = 0;

  const backoffLeft = restartBackoffLeftMs(
    planner.status.conditions,
    planner.status.restarts ?? 0,
    observed.now,
    observed.backoff,
  );
  if (backoffLeft > 0) {
    planner.status.phase = "Restarting";
    delete planner.status.queuePosition;
    planner.timer(backoffLeft);
    return false;
  }

  if (observed.missingClaim) {
    // Whatever the admitter decided: the adapter withdraws the job once this status is written.
    planner.status.phase = "Queued";
    delete planner.status.queuePosition;
    const message = claimNotFoundMessage(observed.missingClaim, observed.job.metadata.namespace);
    planner.condition({
      type: "Running",
      status: "False",
      reason: "Queued",
      message: "waiting for admission",
    });
    planner.condition({ type: "Admitted", status: "False", reason: claimNotFoundReason, message });
    if (findCondition(planner.prev.conditions, "Admitted")?.reason !== claimNotFoundReason)
      planner.event("Warning", claimNotFoundReason, "Queue", message);
    return false;
  }

  const decision = observed.decision;
  if (decision?.type === "admitted") {
    const admission = toAdmissionStatus(decision.admission, planner.now);
    planner.status.admission = admission;
    const workers =
      admission.placements?.find((placement) => placement.group === WORKERS_GROUP) ??
      admission.placements?.[0];
    if (workers) planner.status.pool = workers.pool;
    planner.status.nodes = workers?.replicas ?? workers?.nodes?.length ?? gangSize(observed.job.spec).max;
    planner.status.startTime ??= formatTime(planner.now);
    delete planner.status.queuePosition;
    planner.status.phase = "Admitted";
    const where = workers?.nodes?.length ? ` (${workers.nodes.join(", ")})` : "";
    const message = `admitted onto pool ${planner.status.pool} with ${planner.status.nodes} node${planner.status.nodes === 1 ? "" : "s"}${where}`;
    planner.condition({ type: "Admitted", status: "True", reason: "Admitted", message });
    planner.clearCondition("Unschedulable", "Admitted", message);
    planner.event("Normal", "Admitted", "Admit", message);
    return true;
  }

  // A preempted job waits as Preempted until it is admitted again (it is queued all the same).
  planner.status.phase = planner.prev.phase === "Preempted" ? "Preempted" : "Queued";
  if (planner.prev.phase !== "Preempted")
    planner.condition({
      type: "Running",
      status: "False",
      reason: "Queued",
      message: "waiting for admission",
    });
  if (decision?.type === "queued") {
    planner.status.queuePosition = decision.position;
    planner.condition({ type: "Admitted", status: "False", reason: decision.code, message: decision.reason });
    planner.clearCondition("Unschedulable", "Schedulable", "the job fits once capacity frees up");
    const waited = planner.prev.phase === "Queued" || planner.prev.phase === "Preempted";
    if (!waited || planner.prev.queuePosition === undefined)
      planner.event("Normal", "Queued", "Queue", `position ${decision.position}: ${decision.reason}`);
  } else if (decision?.type === "unschedulable") {
    delete planner.status.queuePosition;
    planner.condition({
      type: "Unschedulable",
      status: "True",
      reason: decision.code,
      message: decision.reason,
    });
    planner.condition({
      type: "Admitted",
      status: "False",
      reason: "Unschedulable",
      message: decision.reason,
    });
    if (planner.flipped("Unschedulable", "True"))
      planner.event("Warning", "Unschedulable", "Queue", decision.reason);
  } else {
    delete planner.status.queuePosition;
    planner.condition({
      type: "Admitted",
      status: "False",
      reason: "Pending",
      message: "waiting for the first admission pass",
    });
    planner.requestPass = true;
    // No event yet: the first pass decides within milliseconds, and its verdict (Queued with a
    // position, Admitted, Unschedulable) is the event worth an API request.
  }
  return false;
}
