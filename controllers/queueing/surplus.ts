// What a workload may give back to a preemption without going away:
//   - a RayCluster: its workers above each group's minReplicas, the highest index first (the
//     newest; the ones a scale-down removes). Pod i of a group runs on the admission's nodes[i],
//     so the engine knows what each one frees.
//   - an InferenceService: its replicas above its minimum, by pod name, with the node each runs
//     on (controllers/inferenceservice/preemption.ts says which and in what order).
import type { AdmissionStatus, RayCluster } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import type { InferenceServiceObject } from "../inferenceservice/adapter.ts";
import {
  devicesOnPools,
  replicaPodsOf,
  type ServerPodObject,
  surplusReplicas,
} from "../inferenceservice/preemption.ts";
import type { PoolInput, SurplusPod, Workload } from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";

type WithAdmission = KubeObject & { status?: { admission?: AdmissionStatus } };

export interface SurplusContext {
  /** The workload's own pods (by its kind and name labels). */
  podsOf(obj: KubeObject): readonly KubeObject[];
  pools: readonly PoolInput[];
}

export interface Surplus {
  pods: SurplusPod[];
  /** How many may go; absent: all. */
  limit?: number;
}

export function surplusOf(obj: KubeObject, workload: Workload, context: SurplusContext): Surplus | undefined {
  if (obj.kind === resourceTypes.inferenceService.kind) return serviceSurplus(obj, workload, context);
  if (obj.kind !== resourceTypes.rayCluster.kind) return undefined;
  const spec = (obj as KubeObject & RayCluster).spec;
  const out: SurplusPod[] = [];
  for (const p of [...((obj as WithAdmission).status?.admission?.placements ?? [])].reverse()) {
    const group = spec.workerGroups?.find((g) => g.name === p.group);
    const shape = workload.groups.find((g) => g.name === p.group);
    if (!group || !shape) continue;
    const admitted = p.replicas ?? p.nodes?.length ?? 0;
    for (let index = admitted - 1; index >= group.minReplicas; index--)
      out.push({
        group: p.group,
        index,
        pool: p.pool,
        node: p.nodes?.[index] ?? "",
        devices: shape.accelerators.count,
        cpuMillis: shape.cpuMillis,
        memoryBytes: shape.memoryBytes,
      });
  }
  return out.length > 0 ? { pods: out } : undefined;
}

function serviceSurplus(obj: KubeObject, workload: Workload, context: SurplusContext): Surplus | undefined {
  const svc = obj as InferenceServiceObject;
  const shape = workload.groups[0];
  if (!shape) return undefined;
  const pool = (name: string) => context.pools.find((p) => p.name === name);
  return surplusReplicas(svc, replicaPodsOf(context.podsOf(obj) as readonly ServerPodObject[]), {
    devicesOn: devicesOnPools(svc, (name) => pool(name)?.memoryGiB),
    costOf: (name) => pool(name)?.costPerDeviceHour,
    cpuMillis: shape.cpuMillis,
    memoryBytes: shape.memoryBytes,
  });
}
