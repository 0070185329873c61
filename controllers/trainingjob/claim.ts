// The claim named by spec.checkpoint.claimName must exist before the gang is admitted: the
// scheduler keeps a pod that mounts a missing claim Pending, and the gang would hold its devices
// until the eviction timeout. The PersistentVolumeClaim informer (which the InferenceService
// controller needs for its model cache anyway) tells when the claim appears.
import { type Cache, findCondition } from "../../operator/index.ts";
import { resourceTypes } from "../resources.ts";
import type { TrainingJobObject } from "./pods.ts";

export const claimNotFoundReason = "ClaimNotFound";

export const claimNotFoundMessage = (claim: string, namespace: string | undefined): string =>
  `PersistentVolumeClaim ${claim} named in spec.checkpoint.claimName does not exist in namespace ` +
  `${namespace ?? "default"}; the job is queued once it does`;

/** spec.checkpoint.claimName when the cache shows no such claim (undefined without a claim informer). */
export function missingClaim(cache: Cache, job: TrainingJobObject): string | undefined {
  const claim = job.spec.checkpoint?.claimName;
  if (!claim || !cache.has(resourceTypes.persistentVolumeClaim)) return undefined;
  return cache.get(resourceTypes.persistentVolumeClaim, job.metadata.namespace ?? "", claim)
    ? undefined
    : claim;
}

/** The status says the job waits for its claim, for the spec it has now: it asks for no admission. */
export function claimBlocked(job: TrainingJobObject): boolean {
  const admitted = findCondition(job.status?.conditions, "Admitted");
  return admitted?.reason === claimNotFoundReason && admitted.observedGeneration === job.metadata.generation;
}
