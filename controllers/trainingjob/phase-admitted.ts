// Admitted: create the gang's pods on the nodes of the admission, watch the ranks, and finish,
// restart the whole gang, or give the admission back.
import { findCondition } from "../../operator/index.ts";
import { evictionCheck } from "../admission/index.ts";
import { gangState, restartBackoffMs, splitByAttempt } from "./failure.ts";
import { WORKERS_GROUP } from "./names.ts";
import { finish } from "./phase-finished.ts";
import { runPreempting } from "./phase-preempting.ts";
import { isTerminal, type Planner } from "./planner.ts";
import { desiredPod } from "./pods.ts";
import { RESTARTING, restartBackoffLeftMs } from "./restart.ts";

export function runAdmitted(planner: Planner): void {
  const { observed } = planner;
  const job = observed.job;
  const admission = planner.status.admission;
  const workers =
    admission?.placements?.find((placement) => placement.group === WORKERS_GROUP) ??
    admission?.placements?.[0];
  if (!admission || !workers) return;
  const nodesOfRanks = workers.nodes ?? [];
  const size = workers.replicas ?? nodesOfRanks.length;
  planner.status.pool = workers.pool;
  planner.status.nodes = size;
  const pool = observed.pool(workers.pool);
  if (!pool) {
    requeue(planner, "PoolGone", `pool ${workers.pool} no longer exists; queued for admission again`);
    return;
  }

  const attempt = planner.status.restarts ?? 0;
  const { current, stale } = splitByAttempt(observed.pods, attempt);
  planner.deletePods(stale, false);
  // A preempted gang's exits (after its checkpoint) are neither success nor failure.
  if (runPreempting(planner, { current, size, nodesOfRanks, pool, attempt })) return;
  const gang = gangState({
    pods: current.filter((pod) => !(isTerminal(pod) && pod.metadata.deletionTimestamp)),
    size,
    wasRunning: planner.prev.phase === "Running",
    nodeExists: observed.nodeExists,
  });

  switch (gang.kind) {
    case "succeeded":
      finish(planner, "Succeeded", "Completed", `all ${size} ranks exited with code 0`);
      return;
    case "failed": {
      if (!gang.retryable) {
        finish(planner, "Failed", gang.reason, gang.message);
        return;
      }
      const maxRestarts = job.spec.maxRestarts ?? 3;
      if (attempt >= maxRestarts) {
        finish(
          planner,
          "Failed",
          "MaxRestartsExceeded",
          `${gang.message}; the gang was already restarted ${attempt} time${attempt === 1 ? "" : "s"} (maxRestarts ${maxRestarts})`,
        );
        return;
      }
      const next = attempt + 1;
      const wait = restartBackoffMs(next, observed.backoff);
      const message = `${gang.message}; restarting the whole gang (restart ${next} of ${maxRestarts}) in ${Math.round(wait / 1000)} s`;
      planner.status.restarts = next;
      planner.status.phase = "Restarting";
      planner.status.readyNodes = 0;
      planner.condition({ type: RESTARTING, status: "True", reason: gang.reason, message });
      planner.condition({ type: "Running", status: "False", reason: "Restarting", message });
      planner.deletePods(current, false);
      const goneNodes = nodesOfRanks.filter((node) => !observed.nodeUsable(node));
      if (gang.lostNodes.length > 0 || goneNodes.length > 0) {
        // The admission names the node of every rank; with one of them gone the new gang
        // needs a new placement.
        const nodes = [...new Set([...gang.lostNodes, ...goneNodes])].join(", ");
        planner.release();
        planner.forgetPlacement();
        planner.condition({
          type: "Admitted",
          status: "False",
          reason: "NodeLost",
          message: `node ${nodes} is gone; the restarted gang is queued for a new placement`,
        });
      }
      planner.event("Warning", "Restarting", "Restart", message);
      planner.timer(wait);
      return;
    }
    case "running": {
      planner.status.phase = "Running";
      planner.status.readyNodes = gang.ready;
      const message = `all ${size} ranks are running on pool ${workers.pool}`;
      planner.condition({ type: "Running", status: "True", reason: "AllRanksRunning", message });
      if (planner.prev.phase !== "Running") planner.event("Normal", "Running", "Start", message);
      return;
    }
    case "starting": {
      planner.status.readyNodes = gang.ready;
      if (planner.status.phase !== "Restarting") planner.status.phase = "Admitted";
      const backoffLeft = restartBackoffLeftMs(
        planner.status.conditions,
        attempt,
        observed.now,
        observed.backoff,
      );
      if (backoffLeft > 0) {
        planner.timer(backoffLeft);
        return;
      }
      planner.condition({
        type: "Running",
        status: "False",
        reason: "Starting",
        message: `${gang.running} of ${size} ranks running`,
      });
      // A pod of an older attempt, or one still terminating, may still hold the devices and
      // answer to rank 0's DNS name: the new gang waits until they are gone (their deletion
      // triggers the next reconcile).
      const lingering = observed.pods.some((pod) => pod.metadata.deletionTimestamp) || stale.length > 0;
      if (gang.missingRanks.length > 0 && !lingering) {
        for (const rank of gang.missingRanks) {
          planner.create.push(
            desiredPod({
              job,
              owner: observed.owner,
              attempt,
              rank,
              nodes: size,
              pool,
              node: nodesOfRanks[rank],
              resumeFrom: planner.status.resumeFrom,
            }),
          );
        }
        if (findCondition(planner.status.conditions, RESTARTING)?.status === "True") {
          const message = `attempt ${attempt} started: ${size} pods created`;
          planner.condition({ type: RESTARTING, status: "False", reason: "Restarted", message });
          planner.event("Normal", "Restarted", "Restart", message);
        }
      }
      const eviction = evictionCheck(
        admission.admittedAt,
        current,
        observed.now,
        observed.admissionTimeoutMs,
      );
      if (eviction.evict) {
        planner.deletePods(current, false);
        requeue(planner, "Evicted", eviction.reason);
      } else planner.timer(eviction.recheckAfterMs);
      return;
    }
  }
}

/** Gives the admission back and queues the job again (not a restart: nothing failed). */
function requeue(planner: Planner, reason: string, message: string): void {
  planner.deletePods(planner.observed.pods, false);
  planner.release();
  planner.forgetPlacement();
  planner.status.phase = "Queued";
  planner.condition({ type: "Admitted", status: "False", reason, message });
  planner.condition({ type: "Running", status: "False", reason: "Queued", message });
  planner.event("Warning", reason, "Requeue", message);
}
