// The gang strategy: every pod of every group or nothing, each group on exactly one pool.
import type { ClusterState, Plan } from "./cluster.ts";
import { betterFit, tryPool, usable } from "./fit.ts";
import { type Holds, type Placed, type PreparedGroup, type PreparedWorkload, podsNeeded } from "./pass.ts";

/**
 * All groups or none; each group on exactly one pool. Greedy: the biggest group takes its best
 * pool, then the next group, and so on. Greedy can paint itself into a corner (the first group takes
 * the one pool the second needed), so when it fails the groups are tried on pools of their own.
 * Rolled back on failure.
 */
export function placeGang(
  state: ClusterState,
  w: PreparedWorkload,
  holds: Holds | undefined,
): Placed[] | undefined {
  const mark = state.mark();
  const placed: Placed[] = [];
  for (const g of w.groups) {
    const plan = bestPool(state, w, g, holds);
    if (!plan) {
      state.rollback(mark);
      return w.groups.length > 1 ? placeOnSeparatePools(state, w, holds) : undefined;
    }
    state.commit(plan, g.shape);
    placed.push({ group: g, plans: [plan] });
  }
  return placed;
}

/**
 * The most pods first (an elastic gang takes the largest size any pool has room for; any other
 * gang places all or none); then pin rank; then the plan leaving the fewest stranded devices;
 * then cost; then name.
 */
function bestPool(state: ClusterState, w: PreparedWorkload, g: PreparedGroup, holds: Holds | undefined) {
  let best: Plan | undefined;
  let bestRank = 0;
  // Every device placed into a hole is the best any plan can do; candidates come in cost and name
  // order, so once a whole-group plan reaches that, no later pool can beat it.
  const unbeatable = -g.pods * g.shape.devices;
  for (const c of g.candidates.matching) {
    const whole = best !== undefined && best.placed === g.pods;
    if (best && whole && (c.rank > bestRank || best.fragmentationDelta <= unbeatable)) break;
    if (!usable(state, c.pool, w, holds)) continue;
    // An elastic gang takes no more pods than its team's quota allows there.
    const want = w.podCap ? Math.min(g.pods, w.podCap(g, c.pool, [])) : g.pods;
    if (want < podsNeeded(w, g)) continue;
    const plan = tryPool(state, w, g, c.pool, want, podsNeeded(w, g));
    if (!plan) continue;
    const better =
      !best ||
      plan.placed > best.placed ||
      (plan.placed === best.placed && c.rank === bestRank && betterFit(state, plan, best));
    if (better) {
      best = plan;
      bestRank = c.rank;
    }
  }
  return best;
}

/**
 * One pool per group from its options, no two pools sharing a node, or undefined. Groups with the
 * fewest options choose first; the search is exponential in the worst case, so it has a budget
 * (running out only means a gang waits for the greedy placement to work).
 */
export function separatePools(
  state: ClusterState,
  options: readonly (readonly number[])[],
): number[] | undefined {
  const order = options
    .map((_, k) => k)
    .sort((a, b) => (options[a]?.length ?? 0) - (options[b]?.length ?? 0));
  const chosen: number[] = new Array(options.length).fill(-1);
  let budget = 10_000;
  const assign = (k: number): boolean => {
    if (k === order.length) return true;
    const g = order[k] as number;
    for (const p of options[g] ?? []) {
      if (--budget < 0) return false;
      if (chosen.some((q) => q >= 0 && (q === p || state.poolsShareNodes(p, q)))) continue;
      chosen[g] = p;
      if (assign(k + 1)) return true;
      chosen[g] = -1;
    }
    return false;
  };
  return assign(0) ? chosen : undefined;
}

/** The fallback of placeGang: each group on a pool of its own, when such a choice exists now. */
function placeOnSeparatePools(
  state: ClusterState,
  w: PreparedWorkload,
  holds: Holds | undefined,
): Placed[] | undefined {
  const plans = new Map<string, Plan>();
  const options = w.groups.map((g) =>
    g.candidates.matching
      .map((c) => c.pool)
      .filter((p) => {
        if (!usable(state, p, w, holds)) return false;
        const plan = tryPool(state, w, g, p, g.pods, g.pods);
        if (plan) plans.set(`${g.name}|${p}`, plan);
        return plan !== undefined;
      }),
  );
  const chosen = separatePools(state, options);
  if (!chosen) return undefined;
  // The pools share no node, so no plan is changed by committing another.
  return w.groups.map((g, k) => {
    const plan = plans.get(`${g.name}|${chosen[k]}`) as Plan;
    state.commit(plan, g.shape);
    return { group: g, plans: [plan] };
  });
}
