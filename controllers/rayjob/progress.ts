// What a RayJob does next, from what Ray last said about its submission. Pure: the reconcile
// asks Ray, calls this, and carries out the one action it names.
import type { RayJobPhase, RayJobSpec, RayJobStatusFields } from "../../crds/runtime/index.ts";
import { isTerminalJobStatus, type JobDetails } from "../ray-api/index.ts";

/** How often a running job's status is read from the head. */
export const pollIntervalMs = 2_000;

const logTailBytes = 4096;

/** The last lines of a driver's log that fit the status field. */
export function logTail(logs: string): string {
  if (logs.length <= logTailBytes) return logs;
  const cut = logs.slice(-logTailBytes);
  const newline = cut.indexOf("\n");
  return newline >= 0 && newline < cut.length - 1 ? cut.slice(newline + 1) : cut;
}

export type Step =
  /** Still going: look again after the interval (or when the deadline falls, if sooner). */
  | { type: "poll"; afterMs: number }
  /** The deadline passed while Ray still runs it: stop it, then the RayJob is Failed. */
  | { type: "deadline" }
  | { type: "complete" }
  /** FAILED (or STOPPED outside the operator) and no retries left. */
  | { type: "fail"; reason: "Failed" | "Stopped" }
  /** FAILED with retries left: submit again as the next attempt. */
  | { type: "retry" };

export interface ProgressInput {
  spec: Pick<RayJobSpec, "activeDeadlineSeconds" | "backoffLimit">;
  status: RayJobStatusFields | undefined;
  job: JobDetails;
  now: number;
}

export function nextStep({ spec, status, job, now }: ProgressInput): Step {
  if (job.status === "SUCCEEDED") return { type: "complete" };
  if (job.status === "STOPPED") return { type: "fail", reason: "Stopped" };
  if (job.status === "FAILED") {
    const failed = (status?.failedAttempts ?? 0) + 1;
    return failed <= spec.backoffLimit ? { type: "retry" } : { type: "fail", reason: "Failed" };
  }
  const started = job.startTime ?? (status?.startTime ? Date.parse(status.startTime) : undefined);
  if (spec.activeDeadlineSeconds !== undefined && started !== undefined) {
    const left = started + spec.activeDeadlineSeconds * 1000 - now;
    if (left <= 0) return { type: "deadline" };
    return { type: "poll", afterMs: Math.min(pollIntervalMs, left) };
  }
  return { type: "poll", afterMs: pollIntervalMs };
}

const iso = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : new Date(ms).toISOString();

/** The status fields that mirror Ray's view of the submission. */
export function mirrorJob(
  status: RayJobStatusFields,
  job: JobDetails,
  logs: string | undefined,
): RayJobStatusFields {
  const next: RayJobStatusFields = { ...status, jobStatus: job.status, jobId: job.submissionId };
  const start = iso(job.startTime);
  const end = iso(job.endTime);
  if (start) next.startTime = start;
  if (end && isTerminalJobStatus(job.status)) next.endTime = end;
  else delete next.endTime;
  if (job.message) next.message = job.message.slice(0, 32768);
  if (logs !== undefined && logs !== "") next.logTail = logTail(logs);
  return next;
}

export const finishedPhases: readonly RayJobPhase[] = ["Complete", "Failed"];

/** Milliseconds until a finished job's cluster may be deleted (0: now), or undefined: never. */
export function clusterDeletionDelay(
  spec: Pick<RayJobSpec, "shutdownAfterJobFinishes" | "ttlSecondsAfterFinished">,
  status: RayJobStatusFields | undefined,
  now: number,
): number | undefined {
  if (!spec.shutdownAfterJobFinishes) return undefined;
  const ended = status?.endTime ? Date.parse(status.endTime) : now;
  return Math.max(0, ended + spec.ttlSecondsAfterFinished * 1000 - now);
}
