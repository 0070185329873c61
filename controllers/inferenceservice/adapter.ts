// The InferenceService as the placement engine sees it: one group of independent replicas
// ("replicas" mode) that may be split over pools, admitted when at least one fits.
//
// A service that is already admitted but wants more replicas (kubectl scale, an HPA, or a
// first admission that only partly fitted) asks for the missing ones alone, through
// toAdditionalWorkload: the replicas it runs keep their places, and the new ones queue like
// any other workload. Its key carries the number already admitted, so once a decision has been
// merged into status.admission the next request has a new key and the old decision can never
// be merged twice.
import type { InferenceService } from "../../crds/runtime/index.ts";
import type { KubeObject, ResourceType } from "../../operator/index.ts";
import { bytes, cpuMillis, type WorkloadAdapter, workloadKey } from "../admission/index.ts";
import type { AcceleratorRequirement, Workload } from "../placement/index.ts";
import { wantedReplicas } from "./desired.ts";
import { serverGroup } from "./names.ts";
import { admittedReplicas } from "./replicas.ts";
import { secretBlocked } from "./secret.ts";
import { devicesPerReplica, nodesPerReplica, replicaShapeOf } from "./sizing.ts";

export type InferenceServiceObject = InferenceService & KubeObject;

/**
 * What each replica needs: accelerators.count, defaulted from the tensor-parallel size, or with
 * a model size and no count the automatic shape, which the engine resolves per pool.
 */
export function requirementOf(svc: InferenceServiceObject): AcceleratorRequirement {
  const replicaShape = replicaShapeOf(svc.spec);
  if (replicaShape) return { ...svc.spec.accelerators, count: 1, replicaShape };
  return { ...svc.spec.accelerators, count: devicesPerReplica(svc.spec) ?? 1 };
}

export function workloadFor(
  rt: ResourceType,
  svc: InferenceServiceObject,
  pods: number,
  key?: string,
): Workload {
  return {
    key: key ?? workloadKey(rt, svc),
    priority: 0,
    creationTimestamp: Date.parse(svc.metadata.creationTimestamp ?? "") || 0,
    mode: "replicas",
    minPods: 1,
    groups: [
      {
        name: serverGroup,
        pods,
        cpuMillis: cpuMillis(svc.spec.resources?.cpu),
        memoryBytes: bytes(svc.spec.resources?.memory),
        accelerators: requirementOf(svc),
        // A replica spanning nodes is admitted whole: all its pods, each on a node of its own.
        ...(nodesPerReplica(svc.spec) > 1 ? { podsPerReplica: nodesPerReplica(svc.spec) } : {}),
      },
    ],
  };
}

/** The admitter's key suffix of the request for more replicas, given how many are admitted. */
export const additionalKeySuffix = (admitted: number): string => `@${admitted}`;

export function inferenceServiceAdapter(
  rt: ResourceType,
  enqueue: (key: string) => void,
): WorkloadAdapter<InferenceServiceObject> {
  return {
    resource: rt,
    enqueue,
    toWorkload(svc) {
      if (svc.metadata.deletionTimestamp) return undefined;
      const admitted = admittedReplicas(svc.status?.admission);
      // Admitted: the shape tells the admitter what the replicas it placed hold.
      if (admitted > 0) return workloadFor(rt, svc, admitted);
      const wanted = wantedReplicas(svc);
      if (wanted <= 0 || secretBlocked(svc)) return undefined;
      return workloadFor(rt, svc, wanted);
    },
    toAdditionalWorkload(svc) {
      if (svc.metadata.deletionTimestamp) return undefined;
      const admitted = admittedReplicas(svc.status?.admission);
      const missing = wantedReplicas(svc) - admitted;
      if (admitted === 0 || missing <= 0 || secretBlocked(svc)) return undefined;
      return workloadFor(rt, svc, missing, `${workloadKey(rt, svc)}${additionalKeySuffix(admitted)}`);
    },
  };
}
