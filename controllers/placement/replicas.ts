// The replicas strategy: independent pods split across pools, admitted once minPods fit.
import type { ClusterState, Plan } from "./cluster.ts";
import { betterFit, tryPool, usable } from "./fit.ts";
import { type Holds, type Placed, type PreparedGroup, type PreparedWorkload, shapeOn } from "./pass.ts";
import { podsPerReplica, tryPoolReplicas } from "./replica-groups.ts";

/**
 * Independent replicas: pick the best pool for what is left, fill it, spill the rest to the next.
 * Among pools that can take everything that is left, the best fit wins (as for a gang); when none
 * can, the cheapest is filled first, so a service spans as few and as cheap pools as it can.
 * With an automatic shape, what one replica costs comes first: costPerDeviceHour × its devices
 * where both pools state a cost, else its devices alone, so the pool that serves the model on
 * fewer (or cheaper) devices wins.
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
  const fitOn = podsPerReplica(g) > 1 ? tryPoolReplicas : tryPool;
  while (remaining > 0) {
    let best: Plan | undefined;
    let bestRank = 0;
    for (const c of g.candidates.matching) {
      if (best && c.rank > bestRank) break;
      if (!usable(state, c.pool, w, holds)) continue;
      // No more replicas than its team's quota allows there, with those already placed.
      const want = w.podCap ? Math.min(remaining, w.podCap(g, c.pool, plans)) : remaining;
      if (want <= 0) continue;
      const plan = fitOn(state, w, g, c.pool, want, 1);
      if (plan && (!best || betterSpill(state, g, plan, best, remaining))) {
        best = plan;
        bestRank = c.rank;
      }
    }
    if (!best) break;
    state.commit(best, shapeOn(g, best.pool));
    plans.push(best);
    remaining -= best.placed;
  }
  if (g.pods - remaining < w.minPods) {
    state.rollback(mark);
    return undefined;
  }
  return [{ group: g, plans }];
}

function betterSpill(state: ClusterState, g: PreparedGroup, a: Plan, b: Plan, remaining: number): boolean {
  if (g.perPool) {
    const order = compareReplicaCost(state, g, a.pool, b.pool);
    if (order !== 0) return order < 0;
  }
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

/** Negative when a replica on pool a costs less than on pool b (see placeReplicas). */
export function compareReplicaCost(state: ClusterState, g: PreparedGroup, a: number, b: number): number {
  const devicesA = shapeOn(g, a).devices;
  const devicesB = shapeOn(g, b).devices;
  const costA = state.pool(a).input.costPerDeviceHour;
  const costB = state.pool(b).input.costPerDeviceHour;
  if (costA !== undefined && costB !== undefined && costA * devicesA !== costB * devicesB) {
    return costA * devicesA - costB * devicesB;
  }
  return devicesA - devicesB;
}
