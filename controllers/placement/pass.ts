// What every step of a pass shares: the workloads as prepared for it (interned shapes,
// candidate pools, memo keys), the pools held for starving gangs, and the pass itself (the
// cluster as it is now, the same cluster empty, the options). Types and the one small class of
// holds only: preparation (prepare.ts), the strategies (gang.ts, replicas.ts), the verdicts
// (never-fits.ts, reasons.ts) and the loop (engine.ts) all build on it.
import type { PoolCandidates } from "./candidates.ts";
import type { ClusterState, Plan, Shape } from "./cluster.ts";
import type { PodGroup, PoolInput, Toleration, Workload } from "./types.ts";

export interface PreparedGroup {
  readonly name: string;
  readonly pods: number;
  /** The pod's shape; with an automatic shape, its shape on the first matching pool. */
  readonly shape: Shape;
  /** Automatic shape: the shape and per-pool memo key on each pool, by pool index (matching ones). */
  readonly perPool?: readonly ({ readonly shape: Shape; readonly poolKey: number } | undefined)[] | undefined;
  readonly group: PodGroup;
  readonly candidates: PoolCandidates;
  /** Requirement and shape, without pod count or name: groups with equal keys are interchangeable. */
  readonly key: number;
  /** Per-pool memo key: the workload's toleration set and the pod shape. */
  readonly poolKey: number;
  /** The key and the workload's toleration set. */
  readonly keyWithTolerations: number;
}

export interface PreparedWorkload {
  readonly workload: Workload;
  readonly key: string;
  /** Position in queue order, 0-based over all workloads. */
  readonly order: number;
  readonly mode: "gang" | "replicas";
  /** Replicas: the fewest pods to admit. Gangs: all their pods, or the low end of an elastic range. */
  readonly minPods: number;
  /** A gang of one group with a size range: admitted with as many pods as fit, minPods at least. */
  readonly elastic: boolean;
  readonly tolerations: readonly Toleration[];
  readonly tolerationId: number;
  /** Groups with pods, biggest first, so the hardest group picks its pool before the others. */
  readonly groups: readonly PreparedGroup[];
  /** All groups including empty ones, by name, for the output. */
  readonly allGroups: readonly PreparedGroup[];
  /** Identity of the demand, without key, priority or group names: equal signatures fare alike. */
  readonly signature: number;
  /**
   * Memo key for "this demand found no room". One group's demand fails monotonically in its pod
   * count, so the key leaves the count out; several groups are only alike when everything is.
   */
  readonly failureKey: number | undefined;
  readonly invalid: string | undefined;
  readonly starving: boolean;
  readonly queuedForMs: number;
  /** Set by the quota pass while the workload is being placed: pools its team's quota allows. */
  poolAllowed?: ((p: number) => boolean) | undefined;
  /**
   * Set by the quota pass for a workload of one group that may be admitted at less than its
   * size (an elastic gang, replicas): the most pods of g its team's quota allows on pool p, on
   * top of the plans already made for it.
   */
  podCap?: ((g: PreparedGroup, p: number, placed: readonly Plan[]) => number) | undefined;
}

export interface Placed {
  readonly group: PreparedGroup;
  readonly plans: Plan[];
}

/** Which pools are held for which starving workload during this pass. */
export class Holds {
  private readonly holder: Int32Array;
  readonly list: { pool: number; order: number; key: string }[] = [];

  constructor(pools: number) {
    this.holder = new Int32Array(pools).fill(-1);
  }

  /** The queue position (order) of the workload pool p is held for; -1 when it is not held. */
  holderOf(p: number): number {
    return this.holder[p] as number;
  }

  /** True when pool p is held for a workload ahead of `order`. */
  blocks(p: number, order: number): boolean {
    const h = this.holder[p] as number;
    return h >= 0 && h < order;
  }

  hold(p: number, order: number, key: string): void {
    if ((this.holder[p] as number) >= 0) return;
    this.holder[p] = order;
    this.list.push({ pool: p, order, key });
  }

  /** Holds made before the workload at `order` was processed: the ones that constrain it. */
  countBefore(order: number): number {
    let n = 0;
    for (const h of this.list) if (h.order < order) n++;
    return n;
  }
}

export interface Pass {
  readonly pools: readonly PoolInput[];
  readonly now: ClusterState;
  readonly holds: Holds;
  empty(): ClusterState;
  readonly maxPoolsInReason: number;
  readonly maxHolders: number;
}

/** The fewest pods of group g that make an admission of w: all of them, unless w is elastic. */
export const podsNeeded = (w: PreparedWorkload, g: PreparedGroup): number => (w.elastic ? w.minPods : g.pods);

/** The group's pod shape on pool p. */
export const shapeOn = (g: PreparedGroup, p: number): Shape => g.perPool?.[p]?.shape ?? g.shape;

/** The group's per-pool memo key on pool p. */
export const poolKeyOn = (g: PreparedGroup, p: number): number => g.perPool?.[p]?.poolKey ?? g.poolKey;
