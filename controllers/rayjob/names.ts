// Names a RayJob gives what it creates. Deterministic, so a restarted operator finds them.
import type { KubeObject } from "../../operator/index.ts";

/** The RayCluster a RayJob creates has the job's name (each kind has its own names). */
export const ownedClusterName = (job: KubeObject): string => job.metadata.name as string;

/**
 * The Ray submission id of attempt `attempt`: the same on every reconcile, so a submit repeated
 * after a crash finds the job Ray already has; new per attempt and per object (uid).
 */
export const submissionId = (job: KubeObject, attempt: number): string =>
  `${job.metadata.name}-${(job.metadata.uid ?? "").slice(0, 8)}-${attempt}`;

/** Added before the first submission: deleting the RayJob stops its Ray job first. */
export const stopJobFinalizer = "stack.sovereign.dev/stop-ray-job";

/** The Kubernetes Job that submits attempt `attempt` in K8sJob mode (at most 51 + 12 characters). */
export const submitterJobName = (job: KubeObject, attempt: number): string =>
  `${(job.metadata.name as string).slice(0, 51)}-submit-${attempt}`;
