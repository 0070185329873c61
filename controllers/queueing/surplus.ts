// What a RayCluster may give back to a preemption without going away: its workers above each
// group's minReplicas, the highest index first (the newest; the ones a scale-down removes). Pod
// i of a group runs on the admission's nodes[i], so the engine knows what each one frees.
import type { AdmissionStatus, RayCluster } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import type { SurplusPod, Workload } from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";

type WithAdmission = KubeObject & { status?: { admission?: AdmissionStatus } };

export function surplusOf(obj: KubeObject, workload: Workload): SurplusPod[] | undefined {
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
  return out.length > 0 ? out : undefined;
}
