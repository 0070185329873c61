// A finished job (Succeeded or Failed): keep the record, let go of everything else, then the TTL.
import { formatTime } from "../../operator/index.ts";
import type { Planner } from "./planner.ts";
import { RESTARTING } from "./restart.ts";
import { checkTtl } from "./ttl.ts";

/** Already Succeeded or Failed: keep the record, let go of everything else, then the TTL. */
export function finished(planner: Planner): void {
  planner.release();
  // Pods of a finished job end; terminated ones stay for their logs until the job is deleted.
  planner.deletePods(planner.observed.pods, true);
  const ttl = checkTtl(
    planner.observed.job.spec.ttlSecondsAfterFinished,
    planner.status.completionTime,
    planner.observed.now,
  );
  if (ttl.expired) {
    planner.deleteJob = true;
    planner.event(
      "Normal",
      "TTLExpired",
      "Delete",
      `deleting the job ${planner.observed.job.spec.ttlSecondsAfterFinished} s after it finished (ttlSecondsAfterFinished)`,
    );
  } else planner.timer(ttl.afterMs);
}

export function finish(
  planner: Planner,
  phase: "Succeeded" | "Failed",
  reason: string,
  message: string,
): void {
  planner.status.phase = phase;
  planner.status.completionTime ??= formatTime(planner.now);
  planner.release();
  planner.clearCondition(RESTARTING, phase, "the job finished");
  if (phase === "Succeeded") planner.condition({ type: "Succeeded", status: "True", reason, message });
  else planner.condition({ type: "Failed", status: "True", reason, message });
  planner.condition({ type: "Running", status: "False", reason: phase, message });
  planner.condition({
    type: "Admitted",
    status: "False",
    reason: "Finished",
    message: "the job finished; its capacity is released",
  });
  planner.deletePods(planner.observed.pods, true);
  planner.event(
    phase === "Succeeded" ? "Normal" : "Warning",
    reason,
    phase === "Succeeded" ? "Complete" : "Fail",
    message,
  );
  const ttl = checkTtl(
    planner.observed.job.spec.ttlSecondsAfterFinished,
    planner.status.completionTime,
    planner.observed.now,
  );
  if (!ttl.expired) planner.timer(ttl.afterMs);
  else planner.timer(1);
}
