// What a quota preemption may take from an InferenceService, and how the service gives it back.
// Pure: the admitter's quota hook describes the surplus replicas to the placement engine with
// these functions, and the reconcile applies the engine's choice with them.
//
// The minimum that is never taken:
//   - autoscaled: autoscaling.minReplicas (what the owner said the service may shrink to; the
//     rest is capacity the autoscaler added for load, and comes back like a scale-up);
//   - fixed size (no spec.autoscaling): every replica of spec.replicas. A user who fixed the
//     count sized the service for its traffic and said nothing about running with less; only
//     a minimum they wrote down may be taken back to.
//   - replicas spanning nodes (nodesPerReplica > 1): not preemptible yet (a replica is a group
//     of pods, not one pod the engine can take back).
// Which pods go: replicas that are not Ready first (they serve nothing yet), then the newest
// (the least warmed up), per pool in the order a scale-down takes pools (replicas.ts). They are
// named, so the engine may spare any of them whose node the preemptor cannot use.
import { type AdmissionStatus, labels } from "../../crds/runtime/index.ts";
import type { Preemption, SurplusPod } from "../placement/index.ts";
import type { InferenceServiceObject } from "./adapter.ts";
import { wantedReplicas } from "./desired.ts";
import { serverGroup } from "./names.ts";
import { admittedReplicas, type Placement, placementsOf, resized, shrinkOrder } from "./replicas.ts";
import { devicesPerReplica, nodesPerReplica } from "./sizing.ts";

/** A server pod as far as victim choice goes. */
export interface ReplicaPod {
  name: string;
  pool: string | undefined;
  node: string | undefined;
  ready: boolean;
  terminating: boolean;
  /** Marked to go first by an earlier preemption (the lowest pod-deletion-cost). */
  marked: boolean;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/** The replicas a preemption never takes (see the top of this file). */
export function minimumReplicas(svc: InferenceServiceObject): number {
  const wanted = wantedReplicas(svc);
  if (!svc.spec.autoscaling || nodesPerReplica(svc.spec) > 1) return wanted;
  return Math.min(wanted, Math.max(0, svc.spec.autoscaling.minReplicas));
}

/** The order pods of one pool go in: not Ready first, then the newest, then by name (stable). */
export function victimOrder(a: ReplicaPod, b: ReplicaPod): number {
  if (a.ready !== b.ready) return a.ready ? 1 : -1;
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

/** The order a scale-down removes pods in: those a preemption marked, then victimOrder. */
const goingFirst = (a: ReplicaPod, b: ReplicaPod): number =>
  a.marked !== b.marked ? (a.marked ? -1 : 1) : victimOrder(a, b);

export interface SurplusFacts {
  /** Per pool: devices per replica there (undefined: no count fits the pool). */
  devicesOn(pool: string): number | undefined;
  /** Per pool: its costPerDeviceHour, for the order a scale-down takes pools in. */
  costOf(pool: string): number | undefined;
  cpuMillis: number;
  memoryBytes: number;
}

/**
 * What a preemption may take: every live server pod, the first to go first, and how many of
 * them may go (those above the minimum); undefined when none may. All are offered because any
 * of a Deployment's pods may go: the engine takes the fewest whose nodes make room, the earlier
 * ones of the list among equals.
 */
export function surplusReplicas(
  svc: InferenceServiceObject,
  pods: readonly ReplicaPod[],
  facts: SurplusFacts,
): { pods: SurplusPod[]; limit: number } | undefined {
  const admission = svc.status?.admission;
  const limit = admittedReplicas(admission) - minimumReplicas(svc);
  if (limit <= 0) return undefined;
  const placements = placementsOf(admission);
  const out: SurplusPod[] = [];
  for (const i of shrinkOrder(placements, byCost(svc) ? facts.costOf : undefined)) {
    const p = placements[i] as Placement;
    const devices = facts.devicesOn(p.pool);
    const replicas = p.replicas ?? 0;
    if (devices === undefined || replicas <= 0) continue;
    // Pods beyond the admitted count (a scale-down under way, or an earlier preemption's pods
    // not yet gone) are going anyway: the marked ones, else those the scale-down takes first.
    // Offering one again would take a second replica for room the first already makes.
    const live = pods.filter((pod) => pod.pool === p.pool && !pod.terminating);
    const going = Math.max(0, live.length - replicas);
    const staying = [...live].sort(goingFirst).slice(going).sort(victimOrder);
    for (const [k, pod] of staying.entries())
      out.push({
        group: p.group,
        index: replicas - 1 - k,
        name: pod.name,
        pool: p.pool,
        node: pod.node ?? "",
        devices,
        cpuMillis: facts.cpuMillis,
        memoryBytes: facts.memoryBytes,
      });
  }
  return out.length > 0 ? { pods: out, limit: Math.min(limit, out.length) } : undefined;
}

/** Whether the scale-down order weighs cost (as settleAdmission's does). */
export const byCost = (svc: InferenceServiceObject): boolean =>
  svc.spec.autoscaling !== undefined && !svc.spec.accelerators?.pools?.length;

/** devicesOn for surplusReplicas, from the pools' memory per device. */
export const devicesOnPools =
  (svc: InferenceServiceObject, memoryGiB: (pool: string) => number | undefined) =>
  (pool: string): number | undefined =>
    devicesPerReplica(svc.spec, memoryGiB(pool));

export interface Taken {
  admission: AdmissionStatus | undefined;
  /** Replicas taken back by this call (0 when the record already keeps no more). */
  replicas: number;
  /** Pods named by the preemption, to go first. */
  names: string[];
}

/**
 * The admission once a preemption's pods are gone: each group (`server/<pool>`) keeps at most
 * `keep` replicas, and the service never fewer than `minimum` in all (the engine took only
 * replicas above it, but the record may have changed since its pass). Applying it again takes
 * nothing more, so a decision read twice is applied once.
 */
export function takeReplicas(
  admission: AdmissionStatus | undefined,
  preemption: Preemption,
  minimum: number,
): Taken {
  const names: string[] = [];
  let replicas = 0;
  let spare = admittedReplicas(admission) - minimum;
  const placements = placementsOf(admission).map((p) => {
    const cut = preemption.pods?.find((x) => x.group === p.group);
    if (!cut) return p;
    names.push(...(cut.names ?? []));
    const now = p.replicas ?? 0;
    const keep = Math.max(0, Math.min(now, cut.keep), now - Math.max(0, spare));
    spare -= now - keep;
    replicas += now - keep;
    return keep === now ? p : resized(p, keep, 1);
  });
  if (replicas === 0) return { admission, replicas: 0, names };
  const kept = placements.filter((p) => (p.replicas ?? 0) > 0);
  return { admission: kept.length > 0 ? { ...admission, placements: kept } : undefined, replicas, names };
}

/**
 * The ReplicaSet's own annotation: of its ready pods, those with the lowest cost go first. The
 * reconcile puts it on the pods a preemption named, before the Deployment scales down.
 */
export const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost";
/** The lowest cost the API accepts (an int32). */
export const lowestDeletionCost = -2147483648;

/** A server pod as the cache holds it. */
export interface ServerPodObject {
  metadata: {
    name?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** The service's server pods (not its router's, nor a spanning replica's workers) as victims. */
export function replicaPodsOf(pods: readonly ServerPodObject[]): ReplicaPod[] {
  return pods
    .filter((p) => p.metadata.labels?.[labels.group] === serverGroup)
    .filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed")
    .map((p) => ({
      name: p.metadata.name ?? "",
      pool: p.metadata.labels?.[labels.pool],
      node: p.spec?.nodeName,
      ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      terminating: p.metadata.deletionTimestamp !== undefined,
      marked: p.metadata.annotations?.[podDeletionCostAnnotation] === String(lowestDeletionCost),
      createdAt: Date.parse(p.metadata.creationTimestamp ?? "") || 0,
    }));
}
