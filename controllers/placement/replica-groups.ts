// Replicas that span nodes (PodGroup.podsPerReplica > 1): a replica is n pods, each on its own
// node of one pool, placed all together or not at all.
//
// The rule: nodes with room for s_1, s_2, ... pods of the shape hold k such replicas exactly when
// Σ min(s_i, k) ≥ k·n. Necessary, because a node can give each replica at most one pod; enough,
// because pods listed node by node and dealt to the k replicas in turn never give one replica
// two pods of a node when no node holds more than k of them. The set of feasible k is closed
// downwards, so the largest is found by bisection.
import { type ClusterState, type Plan, type Shape, stranded, type TaintClass } from "./cluster.ts";
import type { PreparedGroup, PreparedWorkload } from "./pass.ts";
import { shapeOn } from "./pass.ts";

/** Pods of one replica: 1 unless the group spans nodes. */
export const podsPerReplica = (g: PreparedGroup): number => Math.max(1, g.group.podsPerReplica ?? 1);

/** The most replicas of n pods, at most `want`, that nodes with these per-node rooms hold. */
export function replicasFit(rooms: readonly number[], n: number, want: number): number {
  const holds = (k: number): boolean => {
    let sum = 0;
    for (const s of rooms) {
      sum += Math.min(s, k);
      if (sum >= k * n) return true;
    }
    return false;
  };
  let lo = 0;
  let hi = Math.max(0, want);
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (holds(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * How many pods each node takes for k replicas of n pods: tightest nodes first (fewest free
 * devices, then index), at most k per node, k·n in all. Undefined when they do not hold k.
 */
export function dealPods(
  nodes: readonly { node: number; room: number }[],
  n: number,
  k: number,
): { node: number; pods: number }[] | undefined {
  let left = k * n;
  const out: { node: number; pods: number }[] = [];
  for (const { node, room } of nodes) {
    if (left === 0) break;
    const pods = Math.min(room, k, left);
    if (pods <= 0) continue;
    out.push({ node, pods });
    left -= pods;
  }
  return left === 0 ? out : undefined;
}

/** The pool's nodes the classes admit, with their room for pods of the shape now, tightest first. */
function roomsNow(state: ClusterState, p: number, classes: readonly number[], shape: Shape, cap: number) {
  const pool = state.pool(p);
  const out: { node: number; room: number; free: number }[] = [];
  for (const c of classes) {
    for (const bucket of (pool.classes[c] as TaintClass).buckets) {
      for (const i of bucket ?? []) {
        const room = state.podsFit(i, shape, cap);
        if (room > 0) out.push({ node: i, room, free: state.freeDevices[i] as number });
      }
    }
  }
  return out.sort((a, b) => a.free - b.free || a.node - b.node);
}

/**
 * A plan for up to `want` replicas of the group on pool p, or undefined when fewer than `need`
 * fit. plan.placed counts replicas, plan.pods pods per node (what commit takes).
 */
export function tryPoolReplicas(
  state: ClusterState,
  w: PreparedWorkload,
  g: PreparedGroup,
  p: number,
  want: number,
  need: number,
): Plan | undefined {
  const classes = state.toleratedClasses(p, w.tolerationId, w.tolerations);
  if (classes.length === 0) return undefined;
  const n = podsPerReplica(g);
  const shape = shapeOn(g, p);
  const nodes = roomsNow(state, p, classes, shape, want);
  let pods = 0;
  for (const x of nodes) pods += x.room;
  const k = replicasFit(
    nodes.map((x) => x.room),
    n,
    Math.min(want, Math.floor(pods / n)),
  );
  if (k < Math.max(1, need)) return undefined;
  const dealt = dealPods(nodes, n, k) ?? [];
  const plan: Plan = { pool: p, nodes: [], pods: [], placed: k, fragmentationDelta: 0 };
  for (const { node, pods } of dealt) {
    plan.nodes.push(node);
    plan.pods.push(pods);
    const alloc = state.allocDevices[node] as number;
    const before = state.freeDevices[node] as number;
    const after = before - pods * shape.devices;
    plan.fragmentationDelta += stranded(after, alloc) - stranded(before, alloc);
  }
  return plan;
}

/** Replicas of the group that pool p could take if it were empty, ready, uncordoned and unpaused. */
export function replicasWhenEmpty(
  state: ClusterState,
  w: PreparedWorkload,
  g: PreparedGroup,
  p: number,
): number {
  const shape = shapeOn(g, p);
  const n = podsPerReplica(g);
  // Not capped by the group's count: the verdict is shared by every workload of this demand.
  const rooms = state
    .staticNodes(p, w.tolerationId, w.tolerations)
    .nodes.map((i) => Math.min(state.podsFitWhenEmpty(i, shape), 1e6));
  return replicasFit(rooms, n, Math.floor(rooms.reduce((a, b) => a + b, 0) / n));
}
