// The replicas strategy: independent pods split across pools, admitted once minPods fit.
import type { ClusterState, Plan } from "./cluster.ts";
import { betterFit, tryPool, usable } from "./fit.ts";
import type { Holds, Placed, PreparedWorkload } from "./pass.ts";

/**
 * Independent replicas: pick the best pool for what is left, fill it, spill the rest to the next.
 * Among pools that can take everything that is left, the best fit wins (as for a gang); when none
 * can, the cheapest is filled first, so a service spans as few and as cheap pools as it can.
 */
export function placeReplicas(
  state: ClusterState,
  w: PreparedWorkload,
  holds: Holds | undefined,
): Placed[] | undefined {
  const g = w.groups[0];
  if (!g) return [];
  const mark = state.mark();
  const plans: Plan[] = [];
  let remaining = g.pods;
  while (remaining > 0) {
    let best: Plan | undefined;
    let bestRank = 0;
    for (const c of g.candidates.matching) {
      if (best && c.rank > bestRank) break;
      if (!usable(state, c.pool, w, holds)) continue;
      const plan = tryPool(state, w, g, c.pool, remaining, 1);
      if (plan && (!best || betterSpill(state, plan, best, remaining))) {
        best = plan;
        bestRank = c.rank;
      }
    }
    if (!best) break;
    state.commit(best, g.shape);
    plans.push(best);
    remaining -= best.placed;
  }
  if (g.pods - remaining < w.minPods) {
    state.rollback(mark);
    return undefined;
  }
  return [{ group: g, plans }];
}

function betterSpill(state: ClusterState, a: Plan, b: Plan, remaining: number): boolean {
  const allA = a.placed === remaining;
  const allB = b.placed === remaining;
  if (allA !== allB) return allA;
  if (allA) return betterFit(state, a, b);
  const costA = state.pool(a.pool).cost;
  const costB = state.pool(b.pool).cost;
  if (costA !== costB) return costA < costB;
  if (a.placed !== b.placed) return a.placed > b.placed;
  return a.pool < b.pool;
}
