// Whether a group fits one pool, as the strategies ask it: usable (not paused, not held for a
// workload ahead), and the node-by-node plan, memoized by the cluster state.
import type { ClusterState, Plan } from "./cluster.ts";
import { type Holds, type PreparedGroup, type PreparedWorkload, poolKeyOn, shapeOn } from "./pass.ts";

export function usable(
  state: ClusterState,
  p: number,
  w: PreparedWorkload,
  holds: Holds | undefined,
): boolean {
  if (state.mode === "empty") return true;
  if (state.pool(p).input.paused) return false;
  if (w.poolAllowed && !w.poolAllowed(p)) return false;
  return !holds?.blocks(p, w.order);
}

/** A plan for `want` pods, or undefined when fewer than `need` fit. */
export function tryPool(
  state: ClusterState,
  w: PreparedWorkload,
  g: PreparedGroup,
  p: number,
  want: number,
  need: number,
): Plan | undefined {
  const classes = state.toleratedClasses(p, w.tolerationId, w.tolerations);
  if (classes.length === 0) return undefined;
  return state.fit(p, classes, shapeOn(g, p), poolKeyOn(g, p), want, need);
}

export function betterFit(state: ClusterState, a: Plan, b: Plan): boolean {
  if (a.fragmentationDelta !== b.fragmentationDelta) return a.fragmentationDelta < b.fragmentationDelta;
  const costA = state.pool(a.pool).cost;
  const costB = state.pool(b.pool).cost;
  if (costA !== costB) return costA < costB;
  return a.pool < b.pool;
}
