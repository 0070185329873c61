// The unschedulable-ever verdict, and the starvation guard's choice of pools to hold: both ask
// what a pool could take if it were empty.
import { placeGang, separatePools } from "./gang.ts";
import {
  type Pass,
  type PreparedGroup,
  type PreparedWorkload,
  podsNeeded,
  poolKeyOn,
  shapeOn,
} from "./pass.ts";
import { explainNeverFits } from "./reasons.ts";
import { podsPerReplica, replicasWhenEmpty } from "./replica-groups.ts";
import type { UnschedulableCode } from "./types.ts";

/**
 * For each group, hold the usable pool where most of its pods fit now and all would fit empty.
 * Whether anything was held.
 */
export function holdFor(pass: Pass, w: PreparedWorkload): boolean {
  let held = false;
  const { now, holds } = pass;
  for (const g of w.groups) {
    let bestPool = -1;
    let bestRoom = -1;
    for (const c of g.candidates.matching) {
      if (now.pool(c.pool).input.paused || holds.holderOf(c.pool) >= 0) continue;
      if (roomWhenEmpty(pass, w, g, c.pool) < podsNeeded(w, g)) continue;
      const classes = now.toleratedClasses(c.pool, w.tolerationId, w.tolerations);
      const room = classes.length === 0 ? 0 : now.plan(c.pool, classes, shapeOn(g, c.pool), g.pods).placed;
      if (room > bestRoom) {
        bestRoom = room;
        bestPool = c.pool;
      }
    }
    if (bestPool >= 0) {
      holds.hold(bestPool, w.order, w.key);
      held = true;
    }
  }
  return held;
}

/** Pods of the group that pool p could take if it were empty, ready, uncordoned and unpaused. */
export function roomWhenEmpty(pass: Pass, w: PreparedWorkload, g: PreparedGroup, p: number): number {
  if (podsPerReplica(g) > 1) return replicasWhenEmpty(pass.now, w, g, p);
  return pass.now.emptyRoom(p, w.tolerationId, w.tolerations, shapeOn(g, p), poolKeyOn(g, p));
}

export type Verdict = { code: UnschedulableCode; reason: string } | undefined;

/**
 * The unschedulable-ever verdict: undefined when the workload would fit an empty cluster. For one
 * group the answer is a threshold on its pod count, so it is worked out once per distinct demand.
 */
export function neverFits(
  pass: Pass,
  w: PreparedWorkload,
  byGroup: Map<number, { best: number; total: number | undefined }>,
): Verdict {
  for (const g of w.groups) {
    const groupKey = g.keyWithTolerations;
    let room = byGroup.get(groupKey);
    const pools = g.candidates.matching.map((c) => c.pool);
    if (!room) {
      room = { best: Math.max(0, ...pools.map((p) => roomWhenEmpty(pass, w, g, p))), total: undefined };
      byGroup.set(groupKey, room);
    }
    // Only replicas add rooms up across pools; pools may share nodes, so that is a union.
    if (w.mode === "replicas") {
      // Pools of different shapes cannot be summed node by node; their sum bounds the union.
      room.total ??=
        g.perPool || podsPerReplica(g) > 1
          ? pools.reduce((n, p) => n + roomWhenEmpty(pass, w, g, p), 0)
          : pass.now.emptyRoomAcross(pools, w.tolerationId, w.tolerations, g.shape, g.poolKey);
    }
    const fits = w.mode === "gang" ? room.best >= podsNeeded(w, g) : (room.total ?? 0) >= w.minPods;
    if (!fits) {
      const rooms = pools.map((p) => Math.min(g.pods, roomWhenEmpty(pass, w, g, p)));
      return explainNeverFits(pass, w, g, rooms, room.total ?? 0);
    }
  }
  if (w.mode === "gang" && w.groups.length > 1 && !fitsOnDistinctPools(pass, w)) {
    const empty = pass.empty();
    const placed = placeGang(empty, w, undefined);
    empty.rollback(0);
    if (!placed) {
      return {
        code: "ExceedsPoolCapacity",
        reason: `its groups ${w.groups.map((g) => `"${g.name}"`).join(", ")} each fit an empty cluster on their own, but not all at once`,
      };
    }
  }
  return undefined;
}

/**
 * Whether every group could have an empty pool of its own, no two sharing a node: then the groups
 * cannot get in each other's way, and the whole-cluster simulation (which needs a second index)
 * can be skipped. placeGang falls back to the same search, so such a gang does get admitted.
 */
function fitsOnDistinctPools(pass: Pass, w: PreparedWorkload): boolean {
  const options = w.groups.map((g) =>
    g.candidates.matching.map((c) => c.pool).filter((p) => roomWhenEmpty(pass, w, g, p) >= g.pods),
  );
  return separatePools(pass.now, options) !== undefined;
}
