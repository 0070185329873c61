// The RayCluster as a placement Workload: one gang, one pod group per worker group. The head
// is not part of it: it runs on CPU wherever the scheduler puts it, and it must not wait for
// accelerators to be free.
import type { RayCluster, RayWorkerGroup } from "../../crds/runtime/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import {
  bytes,
  cpuMillis,
  groupOfPlacement,
  hasAdmission,
  type WorkloadAdapter,
  workloadKey,
} from "../admission/index.ts";
import type { PodGroup, Workload } from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";
import { groupsInForce } from "./autoscale.ts";
import { waitRequests } from "./pods.ts";
import { groupAdmitted, maxPlacements, planUnadmitted, type WorkerView } from "./workers.ts";

export type RayClusterObject = RayCluster & KubeObject;

/**
 * The pools a group's added workers may take, best first: the pools it runs on (`running`, the
 * newest worker's first), then every other pool its accelerators allow (its own pin list, or
 * all pools, which the engine filters by vendor, model and memory). Undefined: no preference.
 */
export function growthPools(
  pinned: readonly string[] | undefined,
  running: readonly string[],
  allPools: () => readonly string[],
): string[] | undefined {
  if (running.length === 0) return pinned === undefined || pinned.length === 0 ? undefined : [...pinned];
  const rest = pinned !== undefined && pinned.length > 0 ? pinned : [...allPools()].sort();
  return [...new Set([...running, ...rest])];
}

/** Runs of consecutive indices on one pool among a group's running workers (each a placement once merged). */
function runCount(live: readonly WorkerView[]): number {
  let runs = 0;
  let last: WorkerView | undefined;
  for (const w of [...live].sort((a, b) => a.index - b.index)) {
    if (!last || w.pool !== last.pool || w.index !== last.index + 1) runs++;
    last = w;
  }
  return runs;
}

/** What one worker holds: its container, or the init container when that asks for more. */
export function workerGroupShape(group: RayWorkerGroup, pods: number, pools?: readonly string[]): PodGroup {
  const acc = group.accelerators;
  const accelerators: PodGroup["accelerators"] = acc
    ? {
        count: acc.count,
        minMemoryGiB: acc.minMemoryGiB,
        vendors: acc.vendors,
        models: acc.models,
        pools: pools ?? acc.pools,
        interconnect: acc.interconnect,
      }
    : { count: 0, pools };
  return {
    name: group.name,
    pods,
    cpuMillis: Math.max(cpuMillis(group.resources?.cpu), cpuMillis(waitRequests.cpu)),
    memoryBytes: Math.max(bytes(group.resources?.memory), bytes(waitRequests.memory)),
    accelerators,
  };
}

/**
 * The gang for `rc` as it is now. Admitted: the admitted groups, for their shapes. Not
 * admitted: the workers missing from each group, a group that already runs workers preferring
 * their pools (growthPools). Undefined when nothing is wanted (suspended, deleted, nothing missing).
 */
export function clusterWorkload(
  rc: RayClusterObject,
  workers: readonly WorkerView[] | (() => readonly WorkerView[]),
  now: number,
  poolNames: () => readonly string[] = () => [],
): Workload | undefined {
  if (rc.spec.suspend || rc.metadata.deletionTimestamp) return undefined;
  // An admitted cluster's gang is its spec and admission alone: every pass reads it for every
  // admitted cluster, so it is computed once per version of the cached (immutable) object.
  const admitted = hasAdmission(rc);
  if (admitted && admittedWorkloads.has(rc)) return admittedWorkloads.get(rc);
  const specGroups = groupsInForce(rc);
  let groups: PodGroup[];
  if (admitted) {
    groups = [];
    // One pod group per worker group, however many pools its runs are on.
    const admission = rc.status?.admission;
    const names = new Set((admission?.placements ?? []).map((p) => groupOfPlacement(p.group)));
    for (const name of names) {
      const g = specGroups.find((s) => s.name === name);
      if (g) groups.push(workerGroupShape(g, groupAdmitted(admission, name)));
    }
  } else {
    const plan = planUnadmitted(specGroups, typeof workers === "function" ? workers() : workers, now);
    // Blocked mostly means "just admitted, and the cache does not show our status write yet":
    // the admitter then still holds its admission for us, and reads only the group shapes.
    // Returning nothing would make it forget that reservation.
    const growing = plan.needs.filter((n) => n.pods > 0).length;
    const crowded = plan.needs.reduce((r, n) => r + runCount(n.live), 0) + growing > maxPlacements;
    groups = plan.needs
      .filter((n) => plan.blocked || n.pods > 0)
      .map((n) => {
        const g = specGroups.find((s) => s.name === n.group) as RayWorkerGroup;
        // Each group may add one run; past the record's limit it grows only where it runs.
        const pools =
          crowded && n.pools.length > 0 ? n.pools : growthPools(g.accelerators?.pools, n.pools, poolNames);
        return workerGroupShape(g, plan.blocked ? g.replicas : n.pods, pools);
      });
  }
  const workload: Workload | undefined =
    groups.length === 0
      ? undefined
      : {
          key: workloadKey(resourceTypes.rayCluster, rc),
          priority: 0,
          creationTimestamp: Date.parse(rc.metadata.creationTimestamp ?? "") || 0,
          groups,
          mode: "gang",
        };
  if (admitted) admittedWorkloads.set(rc, workload);
  return workload;
}

const admittedWorkloads = new WeakMap<RayClusterObject, Workload | undefined>();

export function rayClusterAdapter(
  workersOf: (rc: RayClusterObject) => WorkerView[],
  enqueue: (key: string) => void,
  poolNames: () => readonly string[] = () => [],
  now: () => number = Date.now,
): WorkloadAdapter<RayClusterObject> {
  return {
    resource: resourceTypes.rayCluster,
    // The admitter asks for every cluster on every pass: read the pods only when they matter.
    toWorkload: (rc) => clusterWorkload(rc, () => workersOf(rc), now(), poolNames),
    enqueue,
  };
}
