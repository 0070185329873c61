// An admitted gang whose pods the scheduler still cannot place after a while (a node went away,
// someone else's pod took the devices) is evicted and queued again rather than left half-bound.
import type { PodLike } from "./cluster-view.ts";

/** How long an admitted workload's pods may stay unschedulable; STACK_ADMISSION_TIMEOUT_SECONDS overrides. */
export function admissionTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env.STACK_ADMISSION_TIMEOUT_SECONDS);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 5 * 60_000;
}

interface PodWithConditions extends PodLike {
  status?: PodLike["status"] & {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/**
 * The reason to evict, or undefined. `admittedAt` is status.admission.admittedAt. Returns
 * also the milliseconds until the timeout would pass, so the caller can requeue after it.
 */
export function evictionCheck(
  admittedAt: string | undefined,
  pods: readonly PodWithConditions[],
  now: number,
  timeoutMs = admissionTimeoutMs(),
): { evict: false; recheckAfterMs?: number } | { evict: true; reason: string } {
  const stuck = pods.filter(
    (p) =>
      !p.spec?.nodeName &&
      p.status?.conditions?.some(
        (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
      ),
  );
  if (stuck.length === 0 || !admittedAt) return { evict: false };
  const since = Date.parse(admittedAt);
  const left = since + timeoutMs - now;
  if (left > 0) return { evict: false, recheckAfterMs: left };
  const first = stuck[0];
  const why = first?.status?.conditions?.find((c) => c.type === "PodScheduled")?.message ?? "unschedulable";
  return {
    evict: true,
    reason: `${stuck.length} of ${pods.length} pods could not be scheduled for ${Math.round(timeoutMs / 1000)} s after admission (${first?.metadata.name}: ${why}); released and queued again`,
  };
}
