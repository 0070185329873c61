// What is wrong with a replica, if anything, as a person would want to read it. A pod that is
// loading the model is not wrong; one that crash-loops, cannot pull its image, cannot start
// its container (a missing Secret key, say) or cannot be scheduled is, and so is a Deployment
// whose rollout stopped making progress.

/** Container waiting reasons that mean the replica will not come up on its own. */
export const failingWaitReasons = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

interface ContainerStatusLike {
  name?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}
export interface ServerPodLike {
  metadata: { name?: string; deletionTimestamp?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    containerStatuses?: ContainerStatusLike[];
    initContainerStatuses?: ContainerStatusLike[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
export interface DeploymentLike {
  metadata: { name?: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** Why this pod is failing, or undefined. */
export function podProblem(pod: ServerPodLike): string | undefined {
  if (pod.metadata.deletionTimestamp) return undefined;
  const name = pod.metadata.name ?? "";
  if (pod.status?.phase === "Failed") {
    return `pod ${name} failed${pod.status.reason ? ` (${pod.status.reason})` : ""}${pod.status.message ? `: ${pod.status.message}` : ""}`;
  }
  // Admission found room, yet the scheduler finds none: a claim that does not bind, or devices
  // taken by pods the admitter did not count.
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    return `pod ${name} cannot be scheduled${scheduled.message ? `: ${scheduled.message}` : ""}`;
  }
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const c of statuses) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && failingWaitReasons.has(waiting.reason)) {
      return `pod ${name} container ${c.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
    }
  }
  return undefined;
}

/** Why this Deployment's rollout is stuck, or undefined. */
export function deploymentProblem(d: DeploymentLike): string | undefined {
  const progressing = d.status?.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.status === "False" && progressing.reason === "ProgressDeadlineExceeded") {
    return `deployment ${d.metadata.name}: ${progressing.message ?? "progress deadline exceeded"}`;
  }
  return undefined;
}
