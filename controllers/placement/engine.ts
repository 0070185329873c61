// One scheduling pass: every queued workload, in queue order, is admitted onto pools with a
// node-by-node fit, or kept queued with a reason, or declared unschedulable when it could not fit
// even on an empty cluster. Pure: the same input gives the same result, whatever the order of the
// input arrays (only the pin order in a requirement carries meaning).
//
// Queue discipline is best-effort FIFO: a workload that does not fit is skipped and the ones behind
// it still get their chance, so one huge job at the head cannot idle a cluster that smaller jobs
// could use. The price is starvation: a steady stream of small jobs can keep a big gang waiting
// forever, because capacity freed on a node is taken again before the node is ever empty. The
// guard (options.starvationAfterMs) lets a gang that has waited too long hold the pools it is
// closest to fitting on: nothing behind it is admitted there, so freed capacity accumulates until
// the gang fits. Holding idles capacity on purpose; that is the trade, and why it is opt-in and
// bounded: one holder per pool, and by default one holding workload at a time (options.maxHolders).

import { CandidateCache, candidatesFor, type PoolCandidates } from "./candidates.ts";
import { ClusterState, type Plan, type Shape } from "./cluster.ts";
import { TupleIds } from "./ids.ts";
import { explainNeverFits, explainQueued } from "./reasons.ts";
import { tolerationSignature } from "./taints.ts";
import type {
  Admission,
  GroupAdmission,
  PlacementInput,
  PlacementOptions,
  PlacementResult,
  PodGroup,
  PoolHold,
  PoolInput,
  PoolPlacement,
  QueuedCode,
  QueuedWorkload,
  Toleration,
  UnschedulableCode,
  UnschedulableWorkload,
  Workload,
} from "./types.ts";

export interface PreparedGroup {
  readonly name: string;
  readonly pods: number;
  readonly shape: Shape;
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
  readonly minPods: number;
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
}

interface Placed {
  readonly group: PreparedGroup;
  readonly plans: Plan[];
}

/** Which pools are held for which starving workload during this pass. */
export class Holds {
  readonly holder: Int32Array;
  readonly list: { pool: number; order: number; key: string }[] = [];

  constructor(pools: number) {
    this.holder = new Int32Array(pools).fill(-1);
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

export function schedule(input: PlacementInput, options: PlacementOptions = {}): PlacementResult {
  const pools = sortedByName(input.pools);
  const nodes = sortedByName(input.nodes);
  assertUnique(pools, "pool");
  assertUnique(nodes, "node");
  const keys = new Set<string>();
  for (const w of input.workloads) {
    if (keys.has(w.key)) throw new Error(`placement input: workload key "${w.key}" appears twice`);
    keys.add(w.key);
  }

  const now = new ClusterState("now", pools, nodes, input.reservations ?? []);
  let emptyState: ClusterState | undefined;
  const pass: Pass = {
    pools,
    now,
    holds: new Holds(pools.length),
    empty: () => {
      emptyState ??= new ClusterState("empty", pools, nodes, []);
      return emptyState;
    },
    maxPoolsInReason: options.maxPoolsInReason ?? 4,
    maxHolders: options.maxHolders ?? 1,
  };

  const workloads = prepareAll(input, options, pools);
  let holders = 0;
  const admitted: Admission[] = [];
  const unschedulable: UnschedulableWorkload[] = [];
  const waiting: { workload: PreparedWorkload; pending: number; admission?: Admission }[] = [];
  // A failure is final for the pass: capacity only shrinks and holds are only added.
  const noRoomForSignature = new Map<number, number>();
  const verdicts = new Map<number, Verdict>();
  const emptyRoomByGroup = new Map<number, { best: number; total: number | undefined }>();
  const verdictOf = (w: PreparedWorkload) => {
    if (!verdicts.has(w.signature)) verdicts.set(w.signature, neverFits(pass, w, emptyRoomByGroup));
    return verdicts.get(w.signature);
  };

  for (const w of workloads) {
    if (w.invalid) {
      unschedulable.push({ key: w.key, code: "InvalidRequest", reason: w.invalid });
      continue;
    }
    const memoKey = w.failureKey;
    // Single-group demands fail monotonically in their pod count; several groups only by exact match.
    const need = w.groups.length > 1 ? 0 : w.mode === "gang" ? (w.groups[0]?.pods ?? 0) : w.minPods;
    const knownNoRoom = memoKey === undefined ? undefined : noRoomForSignature.get(memoKey);
    const placed =
      knownNoRoom !== undefined && knownNoRoom <= need ? undefined : place(pass.now, w, pass.holds);
    if (placed) {
      pass.now.settle();
      const admission = toAdmission(pass, w, placed);
      admitted.push(admission);
      if (admission.pendingPods > 0) waiting.push({ workload: w, pending: admission.pendingPods, admission });
      continue;
    }
    if (memoKey !== undefined) {
      const known = noRoomForSignature.get(memoKey);
      if (known === undefined || need < known) noRoomForSignature.set(memoKey, need);
    }
    const verdict = verdictOf(w);
    if (verdict) {
      unschedulable.push({ key: w.key, ...verdict });
      continue;
    }
    if (w.starving && w.mode === "gang" && holders < pass.maxHolders) {
      if (holdFor(pass, w)) holders++;
    }
    waiting.push({ workload: w, pending: 0 });
  }

  // Reasons are written against the end-of-pass state: it is what the person reading them will
  // find, and a workload that did not fit earlier in the pass cannot fit now either.
  const reasons = new Map<number, { code: QueuedCode; reason: string }>();
  const reasonIds = new TupleIds();
  const queued: QueuedWorkload[] = [];
  for (const { workload: w, pending, admission } of waiting) {
    const holdsBefore = pass.holds.countBefore(w.order);
    const isHolder = pass.holds.list.some((h) => h.order === w.order);
    // A starving workload's reason says how long it has waited, so it is its own.
    const reasonKey = w.starving
      ? -1
      : reasonIds.id(w.signature, pending, holdsBefore, isHolder ? w.order : -1);
    let explained = reasons.get(reasonKey);
    if (!explained || reasonKey < 0) {
      explained = explainQueued(pass, w, pending);
      reasons.set(reasonKey, explained);
    }
    if (admission) {
      admission.pendingReason = explained.reason;
    } else {
      queued.push({
        key: w.key,
        position: queued.length + 1,
        code: explained.code,
        reason: explained.reason,
        starving: w.starving,
      });
    }
  }

  const holds: PoolHold[] = pass.holds.list.map((h) => ({
    pool: (pools[h.pool] as PoolInput).name,
    key: h.key,
  }));
  return { admitted, queued, unschedulable, holds };
}

function place(state: ClusterState, w: PreparedWorkload, holds: Holds | undefined): Placed[] | undefined {
  return w.mode === "gang" ? placeGang(state, w, holds) : placeReplicas(state, w, holds);
}

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

function usable(state: ClusterState, p: number, w: PreparedWorkload, holds: Holds | undefined): boolean {
  if (state.mode === "empty") return true;
  if (state.pool(p).input.paused) return false;
  return !holds?.blocks(p, w.order);
}

/** A plan for `want` pods (or for at least one when partial), or undefined when there is no room. */
function tryPool(
  state: ClusterState,
  w: PreparedWorkload,
  g: PreparedGroup,
  p: number,
  want: number,
  partial: boolean,
): Plan | undefined {
  const classes = state.toleratedClasses(p, w.tolerationId, w.tolerations);
  if (classes.length === 0) return undefined;
  const pool = state.pool(p);
  const need = partial ? 1 : want;
  const knownNoRoom = pool.noRoom[g.poolKey];
  if (knownNoRoom !== undefined && knownNoRoom <= need) return undefined;
  const cached = pool.plans[g.poolKey];
  if (cached && cached.version === pool.version && cached.want === want) {
    return cached.plan.placed >= need ? cached.plan : undefined;
  }
  const bound = state.roomUpperBound(p, classes, g.shape, want);
  if (bound < need) {
    state.rememberNoRoom(p, g.poolKey, bound + 1);
    return undefined;
  }
  const plan = state.plan(p, classes, g.shape, want);
  pool.plans[g.poolKey] = { version: pool.version, want, plan };
  // A plan that falls short has visited every node that could take a pod, so it is the exact room.
  if (plan.placed < want) state.rememberNoRoom(p, g.poolKey, plan.placed + 1);
  return plan.placed >= need ? plan : undefined;
}

/** Pin rank first; then the plan leaving the fewest stranded devices; then cost; then name. */
function bestPool(state: ClusterState, w: PreparedWorkload, g: PreparedGroup, holds: Holds | undefined) {
  let best: Plan | undefined;
  let bestRank = 0;
  // Every device placed into a hole is the best any plan can do; candidates come in cost and name
  // order, so once a plan reaches that, no later pool can beat it.
  const unbeatable = -g.pods * g.shape.devices;
  for (const c of g.candidates.matching) {
    if (best && (c.rank > bestRank || best.fragmentationDelta <= unbeatable)) break;
    if (!usable(state, c.pool, w, holds)) continue;
    const plan = tryPool(state, w, g, c.pool, g.pods, false);
    if (plan && (!best || betterFit(state, plan, best))) {
      best = plan;
      bestRank = c.rank;
    }
  }
  return best;
}

function betterFit(state: ClusterState, a: Plan, b: Plan): boolean {
  if (a.fragmentationDelta !== b.fragmentationDelta) return a.fragmentationDelta < b.fragmentationDelta;
  const costA = state.pool(a.pool).cost;
  const costB = state.pool(b.pool).cost;
  if (costA !== costB) return costA < costB;
  return a.pool < b.pool;
}

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
      const plan = tryPool(state, w, g, c.pool, remaining, true);
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

/**
 * For each group, hold the usable pool where most of its pods fit now and all would fit empty.
 * Whether anything was held.
 */
function holdFor(pass: Pass, w: PreparedWorkload): boolean {
  let held = false;
  const { now, holds } = pass;
  for (const g of w.groups) {
    let bestPool = -1;
    let bestRoom = -1;
    for (const c of g.candidates.matching) {
      if (now.pool(c.pool).input.paused || (holds.holder[c.pool] as number) >= 0) continue;
      if (roomWhenEmpty(pass, w, g, c.pool) < g.pods) continue;
      const classes = now.toleratedClasses(c.pool, w.tolerationId, w.tolerations);
      const room = classes.length === 0 ? 0 : now.plan(c.pool, classes, g.shape, g.pods).placed;
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
  return pass.now.emptyRoom(p, w.tolerationId, w.tolerations, g.shape, g.poolKey);
}

type Verdict = { code: UnschedulableCode; reason: string } | undefined;

/**
 * The unschedulable-ever verdict: undefined when the workload would fit an empty cluster. For one
 * group the answer is a threshold on its pod count, so it is worked out once per distinct demand.
 */
function neverFits(
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
      room.total ??= pass.now.emptyRoomAcross(pools, w.tolerationId, w.tolerations, g.shape, g.poolKey);
    }
    const fits = w.mode === "gang" ? room.best >= g.pods : (room.total ?? 0) >= w.minPods;
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

/**
 * One pool per group from its options, no two pools sharing a node, or undefined. Groups with the
 * fewest options choose first; the search is exponential in the worst case, so it has a budget
 * (running out only means a gang waits for the greedy placement to work).
 */
function separatePools(state: ClusterState, options: readonly (readonly number[])[]): number[] | undefined {
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
        const plan = tryPool(state, w, g, p, g.pods, false);
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

function toAdmission(pass: Pass, w: PreparedWorkload, placed: Placed[]): Admission {
  const { now } = pass;
  const byName = new Map(placed.map((p) => [p.group.name, p]));
  const groups: GroupAdmission[] = w.allGroups.map((g) => {
    const plans = byName.get(g.name)?.plans ?? [];
    const placements: PoolPlacement[] = plans.map((plan) => {
      const pool = now.pool(plan.pool).input;
      const nodes = plan.nodes
        .map((i, k) => {
          const pods = plan.pods[k] as number;
          return {
            node: now.nodeNames[i] as string,
            pods,
            devices: pods * g.shape.devices,
            cpuMillis: pods * g.shape.cpuMillis,
            memoryBytes: pods * g.shape.memoryBytes,
          };
        })
        .sort((a, b) => compareStrings(a.node, b.node));
      return {
        pool: pool.name,
        vendor: pool.vendor,
        resourceName: pool.resourceName,
        pods: plan.placed,
        nodes,
      };
    });
    return { group: g.name, pods: placements.reduce((n, p) => n + p.pods, 0), placements };
  });
  const placedPods = groups.reduce((n, g) => n + g.pods, 0);
  const wanted = w.allGroups.reduce((n, g) => n + g.pods, 0);
  return { key: w.key, groups, pendingPods: wanted - placedPods };
}

function prepareAll(input: PlacementInput, options: PlacementOptions, pools: readonly PoolInput[]) {
  const sorted = [...input.workloads].sort(compareWorkloads);
  const interner = new Interner(pools);
  return sorted.map((w, order) => prepare(w, order, input.now, options, interner));
}

/** Queue order: priority (higher first), then creation time (older first), then key. */
export function compareWorkloads(a: Workload, b: Workload): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp - b.creationTimestamp;
  return compareStrings(a.key, b.key);
}

/** Gives equal demands, toleration sets and requirements the same object and id within a pass. */
class Interner {
  readonly pools: readonly PoolInput[];
  readonly candidates = new CandidateCache();
  private readonly shapes = new Map<number, Map<number, Map<number, Shape>>>();
  private shapeCount = 0;
  private readonly tolerationIds = new Map<string, number>([["", 0]]);
  /** Group keys, pool keys, signatures and failure keys, each in its own numbering. */
  readonly groupKeys = new TupleIds();
  readonly poolKeys = new TupleIds();
  readonly tolerantGroupKeys = new TupleIds();
  readonly signatures = new TupleIds();
  readonly failureKeys = new TupleIds();

  constructor(pools: readonly PoolInput[]) {
    this.pools = pools;
  }

  shape(devices: number, cpuMillis: number, memoryBytes: number): Shape {
    let byCpu = this.shapes.get(devices);
    if (!byCpu) {
      byCpu = new Map();
      this.shapes.set(devices, byCpu);
    }
    let byMemory = byCpu.get(cpuMillis);
    if (!byMemory) {
      byMemory = new Map();
      byCpu.set(cpuMillis, byMemory);
    }
    let shape = byMemory.get(memoryBytes);
    if (!shape) {
      shape = { devices, cpuMillis, memoryBytes, id: this.shapeCount++ };
      byMemory.set(memoryBytes, shape);
    }
    return shape;
  }

  tolerationId(tolerations: readonly Toleration[]): number {
    if (tolerations.length === 0) return 0;
    const signature = tolerationSignature(tolerations);
    let id = this.tolerationIds.get(signature);
    if (id === undefined) {
      id = this.tolerationIds.size;
      this.tolerationIds.set(signature, id);
    }
    return id;
  }
}

function prepareGroup(group: PodGroup, tolerationId: number, interner: Interner): PreparedGroup {
  const shape = interner.shape(group.accelerators.count, group.cpuMillis, group.memoryBytes);
  const candidates = candidatesFor(group.accelerators, interner.pools, interner.candidates);
  const key = interner.groupKeys.id(candidates.id, shape.id);
  return {
    name: group.name,
    pods: group.pods,
    shape,
    group,
    candidates,
    key,
    poolKey: interner.poolKeys.id(tolerationId, shape.id),
    keyWithTolerations: interner.tolerantGroupKeys.id(key, tolerationId),
  };
}

function prepare(
  w: Workload,
  order: number,
  now: number | undefined,
  options: PlacementOptions,
  interner: Interner,
): PreparedWorkload {
  const mode = w.mode ?? "gang";
  const tolerations = w.tolerations ?? [];
  const tolerationId = interner.tolerationId(tolerations);
  let allGroups: PreparedGroup[];
  let groups: PreparedGroup[];
  // One group is by far the most common case; it needs no sorting or filtering.
  const first =
    w.groups.length === 1 ? prepareGroup(w.groups[0] as PodGroup, tolerationId, interner) : undefined;
  if (first) {
    allGroups = [first];
    groups = first.pods > 0 ? allGroups : [];
  } else {
    allGroups = [...w.groups]
      .sort((a, b) => compareStrings(a.name, b.name))
      .map((g) => prepareGroup(g, tolerationId, interner));
    groups = allGroups.filter((g) => g.pods > 0).sort(compareGroups);
  }
  let totalPods = 0;
  for (const g of groups) totalPods += g.pods;
  // Admitting a replicas workload with none of its pods placed would say nothing, so at least one.
  const minPods = mode === "replicas" ? Math.min(totalPods, Math.max(1, w.minPods ?? 1)) : totalPods;
  const invalid = validate(w, mode, w.minPods ?? minPods, totalPods);
  const queuedSince = w.queuedSince ?? w.creationTimestamp;
  const queuedForMs = now === undefined ? 0 : Math.max(0, now - queuedSince);
  const starvationAfter = options.starvationAfterMs;
  const signature = interner.signatures.idOfGroups(mode === "gang" ? -1 : minPods, tolerationId, groups);
  const only = groups.length === 1 ? groups[0] : undefined;
  return {
    workload: w,
    key: w.key,
    order,
    mode,
    minPods,
    tolerations,
    tolerationId,
    groups,
    allGroups,
    signature,
    failureKey: only
      ? interner.failureKeys.id(mode === "gang" ? 0 : 1, tolerationId, only.key)
      : groups.length > 0
        ? -1 - signature
        : undefined,
    invalid,
    starving: now !== undefined && starvationAfter !== undefined && queuedForMs >= starvationAfter,
    queuedForMs,
  };
}

/** Biggest demand first, then a stable order that does not depend on group names. */
function compareGroups(a: PreparedGroup, b: PreparedGroup): number {
  const totalA = a.pods * a.shape.devices;
  const totalB = b.pods * b.shape.devices;
  if (totalA !== totalB) return totalB - totalA;
  if (a.pods !== b.pods) return b.pods - a.pods;
  if (a.shape.cpuMillis !== b.shape.cpuMillis) return b.shape.cpuMillis - a.shape.cpuMillis;
  if (a.shape.memoryBytes !== b.shape.memoryBytes) return b.shape.memoryBytes - a.shape.memoryBytes;
  if (a.key !== b.key) return compareStrings(a.candidates.signature, b.candidates.signature);
  return compareStrings(a.name, b.name);
}

const isCount = (x: number) => Number.isInteger(x) && x >= 0;
const isAmount = (x: number) => Number.isFinite(x) && x >= 0;

function validate(w: Workload, mode: string, minPods: number, totalPods: number): string | undefined {
  const count = isCount;
  const amount = isAmount;
  if (w.groups.length === 0) return "it has no pod groups";
  if (!Number.isFinite(w.priority) || !Number.isFinite(w.creationTimestamp)) {
    return "priority and creationTimestamp must be finite numbers";
  }
  for (let i = 0; i < w.groups.length; i++) {
    const g = w.groups[i] as PodGroup;
    for (let j = 0; j < i; j++) {
      if (w.groups[j]?.name === g.name) return `group name "${g.name}" is used twice`;
    }
    if (!count(g.pods)) return `group "${g.name}": pods must be a whole number ≥ 0, not ${g.pods}`;
    if (!count(g.accelerators.count)) {
      return `group "${g.name}": accelerators.count must be a whole number ≥ 0, not ${g.accelerators.count}`;
    }
    if (!amount(g.cpuMillis) || !amount(g.memoryBytes)) {
      return `group "${g.name}": cpu and memory must be ≥ 0`;
    }
  }
  if (mode === "replicas") {
    if (w.groups.length !== 1) return `mode "replicas" takes exactly one group, not ${w.groups.length}`;
    if (!count(minPods) || minPods > totalPods)
      return `minPods must be a whole number from 0 to ${totalPods}`;
  }
  return undefined;
}

/** Node and pool order decides ties, so it must not be the caller's; callers that sort save the work. */
function sortedByName<T extends { name: string }>(items: readonly T[]): readonly T[] {
  for (let i = 1; i < items.length; i++) {
    if (compareStrings((items[i - 1] as T).name, (items[i] as T).name) > 0) {
      return [...items].sort((a, b) => compareStrings(a.name, b.name));
    }
  }
  return items;
}

// Duplicates are a bug in the caller's adaptation of API objects, not something a user can cause.
function assertUnique(sorted: readonly { name: string }[], what: string): void {
  for (let i = 1; i < sorted.length; i++) {
    const name = (sorted[i] as { name: string }).name;
    if (name === sorted[i - 1]?.name) throw new Error(`placement input: ${what} "${name}" appears twice`);
  }
}

/** Code-unit order: unlike localeCompare it does not depend on the process's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
