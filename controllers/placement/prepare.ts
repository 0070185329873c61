// Preparing a pass's input: the queue order, validation with a reason naming the field, and the
// interning that gives equal demands, toleration sets and requirements one object and one id.
import { CandidateCache, candidatesFor } from "./candidates.ts";
import type { Shape } from "./cluster.ts";
import { TupleIds } from "./ids.ts";
import type { PreparedGroup, PreparedWorkload } from "./pass.ts";
import { devicesOnPool } from "./replica-shape.ts";
import { tolerationSignature } from "./taints.ts";
import type { PlacementInput, PlacementOptions, PodGroup, PoolInput, Toleration, Workload } from "./types.ts";

export function prepareAll(input: PlacementInput, options: PlacementOptions, pools: readonly PoolInput[]) {
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
  const candidates = candidatesFor(group.accelerators, interner.pools, interner.candidates);
  const perPool = group.accelerators.replicaShape
    ? perPoolShapes(group, tolerationId, candidates.matching, interner)
    : undefined;
  const firstMatch = candidates.matching[0];
  const shape =
    (perPool && firstMatch ? perPool[firstMatch.pool]?.shape : undefined) ??
    interner.shape(group.accelerators.count, group.cpuMillis, group.memoryBytes);
  // Replicas spanning nodes fit differently from single pods of the same shape.
  const span = group.podsPerReplica ?? 1;
  const key = interner.groupKeys.id(candidates.id, shape.id, span > 1 ? span : undefined);
  return {
    name: group.name,
    pods: group.pods,
    shape,
    perPool,
    group,
    candidates,
    key,
    poolKey: interner.poolKeys.id(tolerationId, shape.id),
    keyWithTolerations: interner.tolerantGroupKeys.id(key, tolerationId),
  };
}

function perPoolShapes(
  group: PodGroup,
  tolerationId: number,
  matching: readonly { pool: number }[],
  interner: Interner,
): ({ shape: Shape; poolKey: number } | undefined)[] {
  const out: ({ shape: Shape; poolKey: number } | undefined)[] = new Array(interner.pools.length);
  for (const { pool: p } of matching) {
    const devices = devicesOnPool(interner.pools[p] as PoolInput, group.accelerators) ?? 0;
    const shape = interner.shape(devices, group.cpuMillis, group.memoryBytes);
    out[p] = { shape, poolKey: interner.poolKeys.id(tolerationId, shape.id) };
  }
  return out;
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
  const elastic = mode === "gang" && groups.length === 1 && w.minPods !== undefined && w.minPods < totalPods;
  const minPods =
    mode === "replicas" || elastic ? Math.min(totalPods, Math.max(1, w.minPods ?? 1)) : totalPods;
  const invalid = validate(w, mode, w.minPods ?? minPods, totalPods);
  const queuedSince = w.queuedSince ?? w.creationTimestamp;
  const queuedForMs = now === undefined ? 0 : Math.max(0, now - queuedSince);
  const starvationAfter = options.starvationAfterMs;
  // Gangs of all their pods, elastic gangs and replicas are told apart by the first number.
  const demand = mode === "replicas" ? minPods : elastic ? -2 - minPods : -1;
  const signature = interner.signatures.idOfGroups(demand, tolerationId, groups);
  const only = groups.length === 1 ? groups[0] : undefined;
  return {
    workload: w,
    key: w.key,
    order,
    mode,
    minPods,
    elastic,
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
    const span = g.podsPerReplica;
    if (span !== undefined && (!count(span) || span < 1))
      return `group "${g.name}": podsPerReplica must be a whole number ≥ 1, not ${span}`;
    if ((span ?? 1) > 1 && mode !== "replicas")
      return `group "${g.name}": podsPerReplica takes mode "replicas"`;
  }
  if (mode === "gang" && w.groups.some((g) => g.accelerators.replicaShape))
    return 'an automatic replica shape (accelerators.replicaShape) takes mode "replicas"';
  if (mode === "replicas" && w.groups.length !== 1)
    return `mode "replicas" takes exactly one group, not ${w.groups.length}`;
  if (mode === "gang" && w.minPods !== undefined && w.groups.length !== 1)
    return `minPods of a gang (a size range) takes exactly one group, not ${w.groups.length}`;
  if ((mode === "replicas" || w.minPods !== undefined) && (!count(minPods) || minPods > totalPods))
    return `minPods must be a whole number from 0 to ${totalPods}`;
  return undefined;
}

/** Node and pool order decides ties, so it must not be the caller's; callers that sort save the work. */
export function sortedByName<T extends { name: string }>(items: readonly T[]): readonly T[] {
  for (let i = 1; i < items.length; i++) {
    if (compareStrings((items[i - 1] as T).name, (items[i] as T).name) > 0) {
      return [...items].sort((a, b) => compareStrings(a.name, b.name));
    }
  }
  return items;
}

// Duplicates are a bug in the caller's adaptation of API objects, not something a user can cause.
export function assertUnique(sorted: readonly { name: string }[], what: string): void {
  for (let i = 1; i < sorted.length; i++) {
    const name = (sorted[i] as { name: string }).name;
    if (name === sorted[i - 1]?.name) throw new Error(`placement input: ${what} "${name}" appears twice`);
  }
}

/** Code-unit order: unlike localeCompare it does not depend on the process's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
