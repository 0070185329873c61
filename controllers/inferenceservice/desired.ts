// How many replicas a service should have. Without spec.autoscaling: spec.replicas (the scale
// subresource, so kubectl scale and an HPA work). With it: the autoscaler's count, kept in
// status.desiredReplicas so that the admitter (which reads the cached object) and a restarted
// operator see it too; before its first decision, spec.replicas within the limits.
import type { InferenceService } from "../../crds/runtime/index.ts";

type ServiceLike = Pick<InferenceService, "spec" | "status">;

export function wantedReplicas(svc: ServiceLike): number {
  const fixed = Math.max(0, svc.spec.replicas ?? 1);
  const limits = svc.spec.autoscaling;
  if (!limits) return fixed;
  return svc.status?.desiredReplicas ?? Math.min(limits.maxReplicas, Math.max(limits.minReplicas, fixed));
}

/** The service as the rest of the reconcile reads it: spec.replicas replaced by what is wanted. */
export function withWantedReplicas<T extends ServiceLike>(svc: T, replicas: number): T {
  return replicas === svc.spec.replicas ? svc : { ...svc, spec: { ...svc.spec, replicas } };
}
