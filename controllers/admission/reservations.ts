// What an admitted workload still holds: the capacity its admission assigned to each node,
// less what its own pods already bound there use (those are counted as pod usage on the node).
// When every pod is bound the reservation is empty; a pod that was deleted for a gang restart
// makes its share reserved again, so a restarting gang never loses its place.
import type { AdmissionStatus } from "../../crds/runtime/index.ts";
import { devicesOnPool } from "../placement/replica-shape.ts";
import type { PoolInput, Reservation, ReservedNode, Workload } from "../placement/types.ts";
import { isTerminated, type PodLike, podRequest } from "./cluster-view.ts";
import { bytes, cpuMillis } from "./quantity.ts";

/** The pod group a placement entry belongs to: "server/h100" is group "server" on pool h100. */
export const groupOfPlacement = (group: string): string => group.split("/")[0] ?? group;

export function reservationFromAdmission(
  workload: Workload,
  admission: AdmissionStatus,
  poolOf: (pool: string) => Pick<PoolInput, "resourceName" | "memoryGiB"> | undefined,
  ownPods: readonly PodLike[],
): Reservation {
  const held = new Map<string, ReservedNode>();
  const add = (node: string, devices: number, cpu: number, memory: number): void => {
    const r = held.get(node) ?? { node, devices: 0, cpuMillis: 0, memoryBytes: 0 };
    held.set(node, {
      node,
      devices: r.devices + devices,
      cpuMillis: r.cpuMillis + cpu,
      memoryBytes: r.memoryBytes + memory,
    });
  };
  const resources = new Set<string>();
  for (const placement of admission.placements ?? []) {
    const group = workload.groups.find((g) => g.name === groupOfPlacement(placement.group));
    if (!group) continue;
    const pool = poolOf(placement.pool);
    if (pool) resources.add(pool.resourceName);
    // An automatic shape holds the pool's count per pod, not the group's placeholder count.
    const devices = pool ? (devicesOnPool(pool, group.accelerators) ?? 0) : group.accelerators.count;
    for (const node of placement.nodes ?? []) add(node, devices, group.cpuMillis, group.memoryBytes);
  }
  for (const pod of ownPods) {
    const node = pod.spec?.nodeName;
    if (!node || isTerminated(pod) || !held.has(node)) continue;
    let devices = 0;
    for (const r of resources) devices += podRequest(pod, r);
    add(node, -devices, -cpuMillis(podRequest(pod, "cpu")), -bytes(podRequest(pod, "memory")));
  }
  const nodes = [...held.values()]
    .map((r) => ({
      node: r.node,
      devices: Math.max(0, r.devices),
      cpuMillis: Math.max(0, r.cpuMillis),
      memoryBytes: Math.max(0, r.memoryBytes),
    }))
    .filter((r) => r.devices > 0 || r.cpuMillis > 0 || r.memoryBytes > 0)
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return { key: workload.key, nodes };
}

/** Per node, the sums of the entries, in node order. */
function sumByNode(key: string, entries: Iterable<ReservedNode>): Reservation {
  const byNode = new Map<string, ReservedNode>();
  for (const r of entries) {
    const n = byNode.get(r.node);
    byNode.set(
      r.node,
      n
        ? {
            node: r.node,
            devices: n.devices + r.devices,
            cpuMillis: n.cpuMillis + r.cpuMillis,
            memoryBytes: n.memoryBytes + r.memoryBytes,
          }
        : r,
    );
  }
  const nodes = [...byNode.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return { key, nodes };
}

/**
 * What the bound, unfinished pods of a workload without admission hold per node: a RayCluster
 * asking for more workers keeps running the ones it has, and its team's quota must count them.
 */
export function heldByPods(
  key: string,
  pods: readonly PodLike[],
  resources: ReadonlySet<string>,
): Reservation {
  const entries: ReservedNode[] = [];
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || isTerminated(pod)) continue;
    let devices = 0;
    for (const r of resources) devices += podRequest(pod, r);
    entries.push({
      node,
      devices,
      cpuMillis: cpuMillis(podRequest(pod, "cpu")),
      memoryBytes: bytes(podRequest(pod, "memory")),
    });
  }
  return sumByNode(key, entries);
}

/**
 * Everything an admitted workload holds, for its team's quota: what its admission still reserves
 * plus what its bound pods use. Its admission alone is not enough: an InferenceService forgets the
 * nodes of a pool once its pods there are bound (they hold the devices then).
 */
export function heldByWorkload(
  workload: Workload,
  admission: AdmissionStatus,
  poolOf: (pool: string) => Pick<PoolInput, "resourceName" | "memoryGiB"> | undefined,
  ownPods: readonly PodLike[],
): Reservation {
  const resources = new Set<string>();
  for (const p of admission.placements ?? []) {
    const pool = poolOf(p.pool);
    if (pool) resources.add(pool.resourceName);
  }
  const reserved = reservationFromAdmission(workload, admission, poolOf, ownPods).nodes;
  return sumByNode(workload.key, [...reserved, ...heldByPods(workload.key, ownPods, resources).nodes]);
}
